"""Export an *untrained* YOLO11n (4 classes) to ONNX for tests, run with ``.venv-train``'s python.

Usage: ``python export_test_model.py OUT.onnx``. The model has random weights
but honours the detector contract (input ``images`` float32 [N,3,256,416],
output ``output0`` [N,8,2184]). A freshly initialised YOLO11 head scores every
anchor ~0 (activations vanish through the untrained BatchNorms), which would
leave NMS with nothing to do; so BatchNorm statistics are recalibrated on
random images and the class bias lifted, making a few hundred anchors per
image pass a 0.25 threshold with heavily overlapping boxes: a hard case for
NMS and for the equality tests.
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
    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/11/yolo11.yaml").read_text())
    cfg["nc"] = 4
    work = Path(tempfile.mkdtemp(prefix="yolo-export-"))
    yaml_path = work / "yolo11n.yaml"  # the "n" in the file name selects the nano scale
    yaml_path.write_text(yaml.safe_dump(cfg))
    os.chdir(work)  # Ultralytics writes the export into the working directory
    model = YOLO(str(yaml_path))
    net = model.model
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None
            mod.reset_running_stats()
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, 256, 416))
    net.eval()
    with torch.no_grad():
        for seq in net.model[-1].cv3:
            seq[-1].bias.fill_(-2.5)
    exported = model.export(format="onnx", imgsz=(256, 416), dynamic=True, opset=17, simplify=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(exported, out)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
