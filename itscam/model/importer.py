"""``itscam model import PATH.pt``: bring real Ultralytics YOLO11 weights into the project.

Exports the checkpoint to ONNX at the repository's input size
(``images`` [N,3,544,960] from ``itscam.vision.INPUT_HW``, dynamic batch) and
keeps only the vehicle classes of its head, in the project's class order: for
COCO weights (80 classes) car=2, motorcycle=3, bus=5, truck=7 become 0..3, so
``output0`` is [N, 8, 10710] like the demo model's. Checkpoints that
already have exactly the four vehicle classes are exported unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.errors import ModelError
from itscam.model.export import check_onnx, run_export
from itscam.model.install import MODEL_PATH

#: COCO class index of each vehicle class, in VEHICLE_CLASSES order.
COCO_VEHICLE_ROWS = (2, 3, 5, 7)


def import_checkpoint(
    weights: Path, out: Path, class_rows: tuple[int, ...] | None = COCO_VEHICLE_ROWS
) -> dict:
    if not weights.exists():
        raise ModelError(f"checkpoint {weights} not found")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_out = Path(tmp) / "model.onnx"
        info = run_export(
            tmp_out,
            weights=weights,
            class_rows=list(class_rows or []) or None,
            names=list(VEHICLE_CLASSES),
        )
        check_onnx(tmp_out, len(VEHICLE_CLASSES))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_out, out)
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="itscam model import",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("weights", type=Path, help="Ultralytics YOLO11 .pt checkpoint")
    ap.add_argument(
        "--out",
        type=Path,
        default=MODEL_PATH,
        help="where to write the ONNX (default: the Triton model repository)",
    )
    ap.add_argument(
        "--class-rows",
        default="2,3,5,7",
        help="source class index of car,motorcycle,bus,truck ('' keeps all; "
        "use for 4-class checkpoints)",
    )
    args = ap.parse_args(argv)
    rows = tuple(int(r) for r in args.class_rows.split(",") if r.strip()) or None
    info = import_checkpoint(args.weights, args.out, rows)
    info["class_map"] = dict(zip(VEHICLE_CLASSES, rows or range(4), strict=True))
    print(json.dumps(info))
    return 0
