"""Shared builders for inference tests: detector models and a standalone Triton server.

``untrained_model()`` is an untrained YOLO11n exported by ``export_test_model.py``
with ``.venv-train`` (cached under ``.itscam/test-models``); ``trained_model()``
is the committed detector when the training engineer has installed it.
``TritonServer`` starts the project's standalone Triton (the same
:func:`itscam.services.triton.triton_launch` the service manager uses) on free
ports, serving a repository rendered into a temp dir, so tests can add model
versions without touching ``triton_models/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from itscam.inference.repository import DETECTOR, MODEL_FILE, SOURCE_REPOSITORY, render
from itscam.services.triton import TritonProcess
from itscam.settings import REPO_ROOT, Settings, load_settings
from itscam.vision import NmsConfig

TRAIN_PYTHON = REPO_ROOT / ".venv-train" / "bin" / "python"
CACHE = REPO_ROOT / ".itscam" / "test-models"
EXPORTER = Path(__file__).with_name("export_test_model.py")


def trained_model() -> Path | None:
    path = SOURCE_REPOSITORY / DETECTOR / "1" / MODEL_FILE
    return path if path.is_file() else None


def untrained_model() -> Path | None:
    """The untrained test detector (exported once, then cached), or None without .venv-train."""
    if os.environ.get("ITSCAM_TEST_COMMITTED_MODEL_ONLY"):  # what CI without .venv-train sees
        return None
    path = CACHE / "yolo11n-untrained-v2.onnx"
    if path.is_file():
        return path
    if not TRAIN_PYTHON.exists():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    subprocess.run(
        [str(TRAIN_PYTHON), str(EXPORTER), str(tmp)],
        check=True,
        capture_output=True,
        cwd=str(CACHE),
        timeout=600,
    )
    tmp.rename(path)
    return path


def any_model() -> Path | None:
    """The model the equality tests use: the hot untrained one (it keeps NMS busy), else the trained one."""
    return untrained_model() or trained_model()


def probing_nms(model_file: Path, frames: list[bytes]) -> NmsConfig:
    """Thresholds that make ``model_file`` keep NMS busy on ``frames``, for equality tests.

    The hot test model passes the default threshold on ~15% of anchors; a trained
    (or a freshly initialised) model may pass none on synthetic frames, which would
    make "Triton == in-process" vacuous. So the confidence threshold is lowered to
    the 85th percentile of the anchors' best-class scores when that is below the
    default.
    """
    import numpy as np

    from itscam.inference.inprocess import OnnxRuntimeDetector
    from itscam.inference.repository import NMS
    from itscam.vision import decode_image, letterbox

    det = OnnxRuntimeDetector(model_file)
    raw = det.run_raw(np.stack([letterbox(decode_image(f))[0] for f in frames]))
    best = raw[:, 4:, :].max(axis=1)
    q = float(np.quantile(best, 0.85))
    if q >= NMS.conf_threshold:
        return NMS
    return NmsConfig(conf_threshold=q, iou_threshold=NMS.iou_threshold)


def ties_in_scores(model_file: Path, frames: list[bytes], nms: NmsConfig) -> bool:
    """Whether the candidates' scores tie (an untrained placeholder model scores every anchor
    alike). Tie order is implementation-defined, so comparisons with *other* NMS
    implementations are meaningless then; comparisons of our own two paths still hold."""
    import numpy as np

    from itscam.inference.inprocess import OnnxRuntimeDetector
    from itscam.vision import decode_image, decode_predictions, letterbox

    det = OnnxRuntimeDetector(model_file)
    raw = det.run_raw(np.stack([letterbox(decode_image(f))[0] for f in frames]))
    for pred in raw:
        _, score, _ = decode_predictions(pred, nms.conf_threshold)
        if len(np.unique(score)) < len(score):
            return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TritonServer:
    """A standalone Triton on free ports serving a repository rendered into ``root``."""

    def __init__(
        self,
        root: Path,
        model_file: Path,
        *,
        nms: NmsConfig | None = None,
        settings_overrides: dict | None = None,
    ):
        self.root = Path(root)
        self.repository = self.root / "repo"
        render("local", self.repository, model_file, nms)
        self.settings: Settings = load_settings(
            state_dir=self.root / "state",
            model_repository=self.repository,
            triton_http_port=free_port(),
            triton_grpc_port=free_port(),
            triton_metrics_port=free_port(),
            **(settings_overrides or {}),
        )
        self.process = TritonProcess(self.settings, self.root / "triton.log", cwd=self.root)

    @property
    def grpc_url(self) -> str:
        return self.settings.triton_grpc

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.triton_http_port}"

    def start(self, timeout_s: float = 90.0) -> TritonServer:
        self.process.start(timeout_s)
        return self

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ultralytics_nms(raw_path: Path, conf: float, iou: float, max_det: int) -> list | None:
    """Ultralytics' own ``non_max_suppression`` on a saved raw output (``.npy``), via .venv-train.

    Returns one ``(K, 6)`` list per image (x1, y1, x2, y2, score, class) in input
    pixels, or None when .venv-train is absent.
    """
    if not TRAIN_PYTHON.exists():
        return None
    code = (
        "import sys, json, numpy as np, torch\n"
        "from ultralytics.utils.nms import non_max_suppression\n"
        "raw = torch.from_numpy(np.load(sys.argv[1]))\n"
        "out = non_max_suppression(raw, conf_thres=float(sys.argv[2]), iou_thres=float(sys.argv[3]),"
        " max_det=int(sys.argv[4]))\n"
        "print(json.dumps([o.tolist() for o in out]))\n"
    )
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(CACHE / "yolo-cfg")}
    res = subprocess.run(
        [str(TRAIN_PYTHON), "-c", code, str(raw_path), str(conf), str(iou), str(max_det)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    import json

    return json.loads(res.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # pragma: no cover - manual helper
    print(untrained_model(), file=sys.stderr)
