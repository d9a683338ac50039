"""Export an *untrained* YOLO11n (4 classes) to ONNX for tests, run with ``.venv-train``'s python.

Usage: ``python export_test_model.py OUT.onnx``. The model has random weights
but honours the detector contract (input ``images`` float32 [N,3,256,416],
output ``output0`` [N,8,2184]). A freshly initialised YOLO11 head scores every
anchor ~0 (activations vanish through the untrained BatchNorms), which would
leave NMS with nothing to do (and every score tied). So BatchNorm statistics
are recalibrated on synthetic street-like frames and the class logits spread
(std 2) and shifted so that ~15% of anchors pass the 0.25 threshold: a few
hundred distinct scores per image with heavily overlapping boxes, a hard case
for NMS and for the equality tests.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(out: Path) -> None:
    out = out.resolve()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="yolo-cfg-")
    import torch
    import ultralytics
    import yaml
    from ultralytics import YOLO, settings

    settings.update({"sync": False})
    torch.manual_seed(0)
    cfg = yaml.safe_load(
        (Path(ultralytics.__file__).parent / "cfg/models/11/yolo11.yaml").read_text()
    )
    cfg["nc"] = 4
    work = Path(tempfile.mkdtemp(prefix="yolo-export-"))
    yaml_path = work / "yolo11n.yaml"  # the "n" in the file name selects the nano scale
    yaml_path.write_text(yaml.safe_dump(cfg))
    os.chdir(work)  # Ultralytics writes the export into the working directory
    model = YOLO(str(yaml_path))
    net = model.model
    calib = torch.from_numpy(_calibration_batch(8))
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None  # cumulative average over the calibration passes
            mod.reset_running_stats()
    net.train()
    with torch.no_grad():
        for chunk in calib.split(4):
            net(chunk)
    net.eval()
    heads = [seq[-1] for seq in net.model[-1].cv3]
    logits: list = []
    hooks = [h.register_forward_hook(lambda _m, _i, o: logits.append(o)) for h in heads]
    with torch.no_grad():
        net(calib)
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        for head, logit in zip(heads, logits, strict=True):
            # Spread the class logits to std 2 and put their 85th percentile at
            # logit(0.25): ~15% of anchors pass the default threshold, no score saturates.
            flat = logit.flatten()
            gain = 2.0 / float(flat.std())
            head.weight.mul_(gain)
            head.bias.mul_(gain)
            q85 = float(torch.quantile(flat * gain, 0.85))
            head.bias.add_(-1.0986 - q85)
    exported = model.export(format="onnx", imgsz=(256, 416), dynamic=True, opset=17, simplify=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(exported, out)
    shutil.rmtree(work, ignore_errors=True)


def _calibration_batch(n: int):
    """``(n, 3, 256, 416)`` float32 letterboxed synthetic street-like frames (numpy only)."""
    import numpy as np

    rng = np.random.default_rng(0)
    batch = np.full((n, 3, 256, 416), 114 / 255, dtype=np.float32)
    for img in batch:
        img[:, 11:245] = rng.uniform(0.25, 0.55, size=(3, 234, 416))
        for _ in range(12):
            h, w = rng.integers(8, 60), rng.integers(12, 100)
            y, x = rng.integers(11, 245 - h), rng.integers(0, 416 - w)
            img[:, y : y + h, x : x + w] = rng.uniform(0, 1, size=(3, 1, 1))
    return batch


if __name__ == "__main__":
    main(Path(sys.argv[1]))
