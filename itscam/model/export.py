"""Run the ONNX export worker under the training venv and check the result here.

The check uses onnxruntime in the main venv: input ``images`` ``[N, 3, H, W]``
with a dynamic batch, output ``output0`` ``[N, 4 + nc, A]`` for a batch of 2.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from itscam.errors import ModelError
from itscam.model.train import ROOT, train_python
from itscam.vision import INPUT_HW, anchor_count

WORKER = Path(__file__).with_name("yolo_export_worker.py")


def run_export(
    out: Path,
    *,
    weights: Path | None = None,
    untrained_nc: int = 0,
    save_pt: Path | None = None,
    class_rows: list[int] | None = None,
    names: list[str] | None = None,
    hw: tuple[int, int] = INPUT_HW,
) -> dict:
    """Export to ``out`` and return the worker's summary; raises ModelError on failure."""
    cmd = [
        str(train_python()),
        str(WORKER),
        "--out",
        str(Path(out).resolve()),
        "--imgsz",
        str(hw[0]),
        str(hw[1]),
        "--config-dir",
        str(ROOT / ".itscam" / "ultralytics"),
    ]
    if weights is not None:
        if not Path(weights).exists():
            raise ModelError(
                f"checkpoint {weights} not found: train first (`itscam model train`)"
                " or pass --weights"
            )
        cmd += ["--weights", str(Path(weights).resolve())]
    else:
        cmd += ["--untrained", str(untrained_nc)]
        if save_pt is not None:
            cmd += ["--save-pt", str(save_pt)]
    if class_rows:
        cmd += ["--class-rows", ",".join(map(str, class_rows))]
    if names:
        cmd += ["--names", ",".join(names)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("EXPORT_RESULT ")]
    if proc.returncode != 0 or not lines:
        raise ModelError(
            f"ONNX export failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-1500:]}"
        )
    return json.loads(lines[-1].split(" ", 1)[1])


def check_onnx(path: Path, nc: int, hw: tuple[int, int] = INPUT_HW) -> tuple[int, ...]:
    """Run a batch of 2 through ``path``; return the output shape or raise ModelError.

    ``hw`` is the input size the model must take (the repository's by default); a
    model exported at a fixed other size fails here with what to do.
    """
    import onnxruntime as ort

    from itscam.inference.inprocess import require_input_hw

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    if [i.name for i in inputs] != ["images"]:
        raise ModelError(f"{path}: inputs are {[i.name for i in inputs]}, expected ['images']")
    require_input_hw(sess, path, hw)
    out = sess.run(["output0"], {"images": np.full((2, 3, *hw), 0.45, np.float32)})[0]
    want = (2, 4 + nc, anchor_count(hw))
    if out.shape != want:
        raise ModelError(f"{path}: output0 has shape {out.shape}, expected {want}")
    return tuple(out.shape)
