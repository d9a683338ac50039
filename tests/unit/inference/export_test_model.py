"""Export an *untrained* YOLO11n (4 classes) to ONNX for tests, run with ``.venv-train``'s python.

Usage: ``python export_test_model.py OUT.onnx H W`` (the caller passes
``itscam.vision.INPUT_HW``; this script runs without ``itscam``). The model has
random weights but honours the detector contract (input ``images`` float32
[N,3,H,W], output ``output0`` [N,8,A], e.g. [N,3,544,960] and A = 10710). A
freshly initialised YOLO11 head scores every anchor ~0 (activations vanish
through the untrained BatchNorms), which would leave NMS with nothing to do (and
every score tied). So BatchNorm statistics are recalibrated on frames like the
tests' synthetic street-like ones and the class logits spread (std 1) and
shifted so that ~15% of class scores pass the 0.25 threshold: hundreds to
thousands of distinct scores per image with heavily overlapping boxes, a hard
case for NMS and for the equality tests.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(out: Path, hw: tuple[int, int]) -> None:
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
    calib = torch.from_numpy(_calibration_batch(16, hw))
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
            # Spread the class logits to std 1 and put their 85th percentile at
            # logit(0.25): ~15% of class scores pass the default threshold (about half
            # the anchors' best of 4), and no score saturates. (A spread of 2 left
            # hundreds of test-frame scores tied at float32's 1.0 - 6e-8 steps.)
            flat = logit.flatten()
            gain = 1.0 / float(flat.std())
            head.weight.mul_(gain)
            head.bias.mul_(gain)
            q85 = float(torch.quantile(flat * gain, 0.85))
            head.bias.add_(-1.0986 - q85)
    exported = model.export(format="onnx", imgsz=hw, dynamic=True, opset=17, simplify=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(exported, out)
    shutil.rmtree(work, ignore_errors=True)


#: Frame sizes ``(width, height)`` the calibration frames are drawn at before the
#: letterbox, like the tests' (``factories.EQUALITY_SIZES``; mostly 640x360).
CALIBRATION_SIZES = [(640, 360), (640, 360), (1280, 720), (640, 272), (360, 640)]


def _calibration_batch(n: int, hw: tuple[int, int]):
    """``(n, 3, H, W)`` float32 frames like the tests' (``tests/unit/vision/factories.py``
    ``make_frame``: per-pixel grey noise 60-139 and 8 solid coloured blocks) drawn at the
    tests' frame sizes and letterboxed to ``hw`` as the serving path does (bilinear
    resize, centred grey 114 padding). Calibrating on frames of another texture (noise
    drawn at the input size, where the tests' 640x360 noise arrives upscaled and so
    smoother) leaves the scores of the test frames saturated: many tie at 1.0."""
    import cv2
    import numpy as np

    in_h, in_w = hw
    rng = np.random.default_rng(0)
    batch = np.full((n, 3, in_h, in_w), 114 / 255, dtype=np.float32)
    for i, img in enumerate(batch):
        fw, fh = CALIBRATION_SIZES[i % len(CALIBRATION_SIZES)]
        frame = rng.integers(60, 140, size=(fh, fw, 3)).astype(np.uint8)
        for _ in range(8):
            w = int(rng.integers(max(2, fw // 20), max(3, fw // 5)))
            h = int(rng.integers(max(2, fh // 20), max(3, fh // 5)))
            x, y = int(rng.integers(0, fw - w)), int(rng.integers(0, fh - h))
            frame[y : y + h, x : x + w] = rng.integers(0, 256, 3)
        r = min(in_h / fh, in_w / fw)
        new_w, new_h = round(fw * r), round(fh * r)
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        top, left = round((in_h - new_h) / 2 - 0.1), round((in_w - new_w) / 2 - 0.1)
        img[:, top : top + new_h, left : left + new_w] = resized.transpose(2, 0, 1) / 255
    return batch


if __name__ == "__main__":
    main(Path(sys.argv[1]), (int(sys.argv[2]), int(sys.argv[3])))
