"""The detector interface shared by every inference backend, and its metrics.

A :class:`Detector` turns encoded frames (JPEG/PNG bytes) into
:class:`~itscam.domain.detections.Detections` in original-frame pixels, one
result per input in input order. A frame that cannot be processed yields a
:class:`DetectionError` in its slot; the other frames are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from prometheus_client import Counter, Gauge, Histogram

from itscam.domain.detections import Detections
from itscam.errors import ItscamError


class DetectionError(ItscamError):
    """Why one frame has no detections.

    Attributes:
        transient: ``True`` when the frame itself is fine and another attempt or
            another backend may succeed (server unreachable, deadline passed, model
            not loaded); ``False`` when the frame is bad (truncated, not an image).
        backend: which backend produced the error.
    """

    def __init__(self, message: str, *, transient: bool, backend: str) -> None:
        super().__init__(message)
        self.transient = transient
        self.backend = backend

    def __repr__(self) -> str:
        return (
            f"DetectionError({str(self)!r}, transient={self.transient}, backend={self.backend!r})"
        )


DetectionResult = Detections | DetectionError


@runtime_checkable
class Detector(Protocol):
    """One interface, several backends (Triton, in-process ONNX Runtime, fallback)."""

    name: str

    @property
    def model_version(self) -> str:
        """Which model produced the detections (recorded with them downstream)."""
        ...

    async def detect(self, images: Sequence[bytes]) -> list[DetectionResult]:
        """Detect vehicles in each encoded frame; ``len(result) == len(images)``."""
        ...

    async def close(self) -> None:
        """Release connections, sessions and threads."""
        ...


# Metrics (prometheus_client's default registry; the stream processors expose it).
LATENCY = Histogram(
    "itscam_inference_latency_seconds",
    "Time from request to detections, per frame",
    ["backend"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "itscam_inference_batch_size",
    "Frames per detect() call",
    ["backend"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
ERRORS = Counter(
    "itscam_inference_errors_total",
    "Frames that got a DetectionError, by kind (bad_image, unavailable, deadline, model, other)",
    ["backend", "kind"],
)
RETRIES = Counter("itscam_inference_retries_total", "Retried requests", ["backend"])
FALLBACKS = Counter(
    "itscam_inference_fallback_frames_total", "Frames served by the fallback backend", ["backend"]
)
IN_FLIGHT = Gauge("itscam_inference_in_flight", "Requests awaiting a response", ["backend"])
