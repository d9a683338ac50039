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
from itscam.vision import INPUT_HW, NmsConfig

TRAIN_PYTHON = REPO_ROOT / ".venv-train" / "bin" / "python"
CACHE = REPO_ROOT / ".itscam" / "test-models"
EXPORTER = Path(__file__).with_name("export_test_model.py")


def trained_model() -> Path | None:
    path = SOURCE_REPOSITORY / DETECTOR / "1" / MODEL_FILE
    return path if path.is_file() else None


def untrained_model(hw: tuple[int, int] = INPUT_HW) -> Path | None:
    """The untrained test detector at input size ``hw`` (exported once, then cached), or None
    without .venv-train."""
    if os.environ.get("ITSCAM_TEST_COMMITTED_MODEL_ONLY"):  # what CI without .venv-train sees
        return None
    path = CACHE / f"yolo11n-untrained-v4-{hw[0]}x{hw[1]}.onnx"
    if path.is_file():
        return path
    if not TRAIN_PYTHON.exists():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    subprocess.run(
        [str(TRAIN_PYTHON), str(EXPORTER), str(tmp), str(hw[0]), str(hw[1])],
        check=True,
        capture_output=True,
        cwd=str(CACHE),
        timeout=600,
    )
    tmp.rename(path)
    return path


def fixed_size_model(hw: tuple[int, int]) -> Path | None:
    """An untrained 4-class YOLO11n exported by the project's own export path
    (:func:`itscam.model.export.run_export`, input fixed at ``hw``), cached; None
    without .venv-train. For tests of a model whose size differs from the served one."""
    if not TRAIN_PYTHON.exists():
        return None
    path = CACHE / f"yolo11n-export-{hw[0]}x{hw[1]}.onnx"
    if not path.is_file():
        from itscam.model.export import run_export

        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.onnx")
        run_export(tmp, untrained_nc=4, hw=hw)
        tmp.rename(path)
    return path


def any_model() -> Path | None:
    """The model the equality tests use: the hot untrained one (it keeps NMS busy), else the trained one."""
    return untrained_model() or trained_model()


#: Frame sizes ``(width, height)`` of the equality tests: 16:9 at two scales, a wider
#: and a portrait frame (more letterbox padding, so more anchors see only grey).
EQUALITY_SIZES = [(640, 360), (1280, 720), (640, 272), (360, 640)]


def equality_frames() -> list[bytes]:
    """The JPEG frames the in-process equality tests decode (sizes x seeds 0-2)."""
    from tests.unit.vision.factories import make_jpeg

    return [make_jpeg(w, h, seed) for w, h in EQUALITY_SIZES for seed in range(3)]


def best_scores(model_file: Path, frames: list[bytes]):
    """``(len(frames), A)`` best-class score of every anchor."""
    import numpy as np

    from itscam.inference.inprocess import OnnxRuntimeDetector
    from itscam.vision import decode_image, letterbox

    det = OnnxRuntimeDetector(model_file)
    raw = det.run_raw(np.stack([letterbox(decode_image(f))[0] for f in frames]))
    return raw[:, 4:, :].max(axis=1)


def probing_nms(model_file: Path, frames: list[bytes]) -> NmsConfig:
    """Thresholds that make ``model_file`` keep NMS busy on ``frames``, for equality tests.

    The hot test model passes the default threshold on about half its anchors; a
    trained (or a freshly initialised) model may pass none on synthetic frames,
    which would make "Triton == in-process" vacuous. So the confidence threshold
    is lowered to the 85th percentile of the anchors' best-class scores when that
    is below the default. Either way it is then raised above any score that two
    candidates of one frame share: a trained model gives anchors that see only
    letterbox grey or flat background identical tiny scores (~1e-4), and the order
    of tied boxes is implementation-defined, so other NMS implementations could not
    be compared with ours. Pass the frames the tests will decode.
    """
    import numpy as np

    from itscam.inference.repository import NMS

    best = best_scores(model_file, frames)
    conf = min(float(np.quantile(best, 0.85)), NMS.conf_threshold)
    for scores in best:
        values, counts = np.unique(scores[scores > conf], return_counts=True)
        if (counts > 1).any():
            # Scores must be strictly above the threshold, so the tied value itself drops out.
            conf = max(conf, float(values[counts > 1].max()))
    if conf == NMS.conf_threshold:
        return NMS
    return NmsConfig(conf_threshold=conf, iou_threshold=NMS.iou_threshold)


def ties_in_scores(model_file: Path, frames: list[bytes], nms: NmsConfig) -> bool:
    """Whether the model scores anchors alike on ``frames`` (an untrained placeholder does):
    tied candidate scores above ``nms.conf_threshold``, or a frame left with no candidate
    at all once the threshold is above the ties (see :func:`probing_nms`). Tie order is
    implementation-defined, so comparisons with *other* NMS implementations are
    meaningless then; comparisons of our own two paths still hold."""
    import numpy as np

    for scores in best_scores(model_file, frames):
        score = scores[scores > nms.conf_threshold]
        if len(score) == 0 or len(np.unique(score)) < len(score):
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
