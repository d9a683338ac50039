"""In-process backend: the same YOLO11 ONNX model and maths as Triton, run by ONNX Runtime.

Used on edge nodes without Triton, as the fallback when Triton is unreachable,
and as the raw baseline of ``itscam bench inference``. Pre/post-processing is
:mod:`itscam.vision`, exactly what Triton's python models run.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from itscam.domain.detections import Detections
from itscam.errors import DataError, ModelError
from itscam.inference.base import BATCH_SIZE, ERRORS, LATENCY, DetectionError, DetectionResult
from itscam.vision import INPUT_HW, Letterbox, NmsConfig, decode_image, letterbox, postprocess_one


class OnnxRuntimeDetector:
    """YOLO11 in this process.

    Args:
        model_path: the ONNX file (input ``images`` ``[N, 3, *input_hw]``, output
            ``output0`` ``[N, 8, A]``; ``[N, 3, 544, 960]`` and ``A = 10710`` by default).
        nms: thresholds (the Triton ``postprocess`` model's, by default).
        intra_op_threads: ONNX Runtime threads (Triton's local profile runs two
            instances of 1 thread; ``itscam bench pipeline`` measures both).
        max_batch: frames per ``session.run``.
        input_hw: letterbox size; a model exported at a fixed other size is refused
            with a :class:`ModelError` (the default is the repository's
            :data:`itscam.vision.INPUT_HW`).
    """

    name = "onnxruntime"

    def __init__(
        self,
        model_path: Path,
        nms: NmsConfig | None = None,
        *,
        intra_op_threads: int = 2,
        max_batch: int = 8,
        input_hw: tuple[int, int] = INPUT_HW,
    ) -> None:
        from itscam.inference.repository import NMS

        path = Path(model_path)
        if not path.is_file():
            raise ModelError(
                f"Detector model {path} does not exist. Install one with `itscam model install` "
                "(or train it with `itscam model train`), or point ITSCAM_MODEL_REPOSITORY at a "
                "repository that has yolo11n/<version>/model.onnx."
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # As in Triton's detector model: spinning idle threads steal the cores that
        # decoding, tracking and the event loop share with inference.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped errors for bad files
            raise ModelError(
                f"ONNX Runtime cannot load {path}: {exc}. Re-export the model "
                "(`itscam model install`) with opset 17 and input 'images' "
                f"[N,3,{input_hw[0]},{input_hw[1]}]."
            ) from exc
        require_input_hw(self.session, path, input_hw)
        self.model_path = path
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        where = (
            f"{path.parent.parent.name}/{path.parent.name}"
            if path.parent.name.isdigit()  # a repository's <model>/<version>/model.onnx
            else path.name
        )
        #: e.g. ``onnxruntime:yolo11n/1@3f2a9c0d1e2b`` (version directory and file hash).
        self.model_version = f"onnxruntime:{where}@{digest}"
        self.nms = nms or NMS
        self.max_batch = max_batch
        self.input_hw = input_hw
        self.input_name = self.session.get_inputs()[0].name
        # One session.run at a time: ORT already uses every intra-op thread.
        self._lock = threading.Lock()

    def run_raw(self, tensor: np.ndarray) -> np.ndarray:
        """``(N, 3, H, W)`` float32 -> raw ``(N, 4 + nc, A)`` output."""
        with self._lock:
            return self.session.run(None, {self.input_name: tensor})[0]

    def detect_sync(self, images: Sequence[bytes]) -> list[DetectionResult]:
        """Blocking :meth:`detect`."""
        start = time.perf_counter()
        results: list[DetectionResult | None] = [None] * len(images)
        ready: list[tuple[int, np.ndarray, Letterbox]] = []
        for i, data in enumerate(images):
            try:
                tensor, lb = letterbox(decode_image(data), self.input_hw)
            except (DataError, ValueError) as exc:
                ERRORS.labels(self.name, "bad_image").inc()
                results[i] = DetectionError(str(exc), transient=False, backend=self.name)
                continue
            ready.append((i, tensor, lb))
        for chunk_start in range(0, len(ready), self.max_batch):
            chunk = ready[chunk_start : chunk_start + self.max_batch]
            raw = self.run_raw(np.stack([t for _, t, _ in chunk]))
            for (i, _, lb), pred in zip(chunk, raw, strict=True):
                xyxy, score, class_id = postprocess_one(pred, lb, self.nms)
                results[i] = Detections(xyxy, score, class_id)
        if images:
            BATCH_SIZE.labels(self.name).observe(len(images))
            per_frame = (time.perf_counter() - start) / len(images)
            for _ in images:
                LATENCY.labels(self.name).observe(per_frame)
        return [r for r in results if r is not None]

    async def detect(self, images: Sequence[bytes]) -> list[DetectionResult]:
        return await asyncio.to_thread(self.detect_sync, list(images))

    async def close(self) -> None:
        return None


def session_input_hw(session: ort.InferenceSession) -> tuple[int, int] | None:
    """``(height, width)`` that the session's first input is fixed to, or None when dynamic."""
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
        return None
    return int(shape[2]), int(shape[3])


def require_input_hw(
    session: ort.InferenceSession, path: Path, input_hw: tuple[int, int] = INPUT_HW
) -> None:
    """Refuse a model exported at another input size than the one served.

    Raises:
        ModelError: the model's fixed input size differs from ``input_hw``.
    """
    hw = session_input_hw(session)
    if hw is not None and hw != tuple(input_hw):
        raise ModelError(
            f"{path} takes {hw[0]}x{hw[1]} (height x width) input images, but the model "
            f"repository serves {input_hw[0]}x{input_hw[1]} (itscam.vision.INPUT_HW). "
            "Re-export the checkpoint at that size: `itscam model install --weights PT` "
            "or `itscam model import PT`."
        )


def model_path(repository: Path, version: str = "", model: str = "yolo11n") -> Path:
    """The ONNX file of ``model`` at ``version`` ('' = the highest numbered version that has one)."""
    base = Path(repository) / model
    if version:
        return base / version / "model.onnx"
    versions = sorted(
        (int(p.name) for p in base.glob("*") if p.name.isdigit() and (p / "model.onnx").is_file()),
        reverse=True,
    )
    return base / str(versions[0] if versions else 1) / "model.onnx"
