"""Inference client used by the stream processors: one interface, three backends.

``make_detector(settings)`` honours ``settings.inference_backend``:

- ``triton``: :class:`TritonDetector` (async gRPC to the ``yolo11_detector`` ensemble);
- ``onnxruntime``: :class:`OnnxRuntimeDetector` (the same model and maths in-process);
- ``auto``: Triton, falling back in-process for frames Triton could not serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itscam.inference.base import DetectionError, DetectionResult, Detector

if TYPE_CHECKING:
    from itscam.settings import Settings

__all__ = ["DetectionError", "DetectionResult", "Detector", "make_detector"]


def make_detector(settings: Settings, *, max_in_flight: int | None = None) -> Detector:
    """The detector ``settings.inference_backend`` asks for (see the module doc)."""
    from itscam.inference.fallback import FallbackDetector
    from itscam.inference.inprocess import OnnxRuntimeDetector, model_path
    from itscam.inference.triton import TritonDetector

    def local() -> OnnxRuntimeDetector:
        # The newest yolo11n version on disk: what Triton's "latest" policy serves.
        # (settings.triton_model_version pins the *ensemble* version, a different model.)
        return OnnxRuntimeDetector(model_path(settings.model_repository))

    def remote() -> TritonDetector:
        return TritonDetector(
            settings.triton_grpc,
            settings.triton_model,
            settings.triton_model_version,
            timeout_s=settings.triton_timeout_s,
            max_in_flight=max_in_flight or settings.triton_max_in_flight,
        )

    if settings.inference_backend == "onnxruntime":
        return local()
    if settings.inference_backend == "triton":
        return remote()
    return FallbackDetector(remote(), local)
