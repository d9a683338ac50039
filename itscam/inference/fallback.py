"""Triton first, in-process ONNX Runtime when Triton is unreachable, without losing a frame.

Frames whose Triton request failed for a reason that is not the frame's
(server down, deadline passed, model not loaded; after the Triton client's own
retries) are re-run in-process in the same
``detect`` call, so every frame gets detections. After such a failure Triton is
skipped for ``cooldown_s`` and then probed again with the next call. Frames
that are bad in themselves (truncated JPEG) keep their error: no backend would
do better.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from itscam.inference.base import FALLBACKS, DetectionError, DetectionResult, Detector


class FallbackDetector:
    name = "auto"

    def __init__(
        self,
        primary: Detector,
        fallback_factory: Callable[[], Detector],
        *,
        cooldown_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self._fallback_factory = fallback_factory
        self._fallback: Detector | None = None
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._primary_down_until = float("-inf")

    @property
    def fallback(self) -> Detector:
        """The in-process detector, created on first need (loading the model takes ~1 s)."""
        if self._fallback is None:
            self._fallback = self._fallback_factory()
        return self._fallback

    @property
    def model_version(self) -> str:
        """The version of whichever backend served the latest frames."""
        if self.using_fallback and self._fallback is not None:
            return str(getattr(self._fallback, "model_version", ""))
        return str(getattr(self.primary, "model_version", ""))

    @property
    def using_fallback(self) -> bool:
        return self._clock() < self._primary_down_until

    async def detect(self, images: Sequence[bytes]) -> list[DetectionResult]:
        images = list(images)
        if self.using_fallback:
            FALLBACKS.labels(self.fallback.name).inc(len(images))
            return await self.fallback.detect(images)
        results = await self.primary.detect(images)
        redo = [i for i, r in enumerate(results) if isinstance(r, DetectionError) and r.transient]
        if redo:
            self._primary_down_until = self._clock() + self.cooldown_s
            FALLBACKS.labels(self.fallback.name).inc(len(redo))
            again = await self.fallback.detect([images[i] for i in redo])
            for i, r in zip(redo, again, strict=True):
                results[i] = r
        return results

    async def close(self) -> None:
        await self.primary.close()
        if self._fallback is not None:
            await self._fallback.close()
