"""`itscam model import` maps a COCO-class YOLO11 head to the four vehicle classes.

Needs the training venv (torch + ultralytics) to build and export a checkpoint;
CI has no such venv, so the test skips there.
"""

from __future__ import annotations

import numpy as np
import pytest

from itscam.model.export import check_onnx, run_export
from itscam.model.importer import COCO_VEHICLE_ROWS, import_checkpoint
from itscam.model.train import TRAIN_PYTHON
from itscam.vision import INPUT_HW

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not TRAIN_PYTHON.exists(),
        reason=".venv-train (torch + ultralytics) is absent: cannot build a "
        "YOLO11 checkpoint to import",
    ),
]


def test_import_keeps_only_the_vehicle_rows_of_a_coco_head(tmp_path):
    import onnxruntime as ort

    pt = tmp_path / "yolo11n-coco-untrained.pt"
    full = tmp_path / "full.onnx"
    # An 80-class model built offline from yolo11n.yaml (no weights can be downloaded).
    info = run_export(full, untrained_nc=80, save_pt=pt)
    assert info["output_rows"] == 84 and pt.exists()
    mapped = tmp_path / "mapped.onnx"
    import_checkpoint(pt, mapped)
    assert check_onnx(mapped, nc=4) == (2, 8, 10710)  # 68*120 + 34*60 + 17*30 anchors
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, *INPUT_HW)).astype(np.float32)
    out_full = ort.InferenceSession(str(full)).run(["output0"], {"images": x})[0]
    out_mapped = ort.InferenceSession(str(mapped)).run(["output0"], {"images": x})[0]
    rows = [0, 1, 2, 3] + [4 + r for r in COCO_VEHICLE_ROWS]
    np.testing.assert_allclose(out_mapped, out_full[:, rows], rtol=1e-4, atol=1e-4)
