"""A detector that looks detections up instead of running a model (benchmarks, tests).

``itscam bench pipeline`` measures the stream processors with inference
replaced by precomputed detections, so the figure is the cost of everything
*around* the model. Frames are matched by the SHA-1 of their JPEG bytes.
A worker uses it when ``ITSCAM_PRECOMPUTED_DETECTIONS`` names a file written by
:func:`save`; it is never the default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from itscam.domain.detections import Detections
from itscam.errors import DataError


def digest(image: bytes) -> bytes:
    return hashlib.sha1(image).digest()


def save(path: Path, items: Iterable[tuple[bytes, Detections]]) -> int:
    """Write ``(jpeg bytes, detections)`` pairs; returns how many frames."""
    keys, counts, rows = [], [], []
    for image, dets in items:
        keys.append(np.frombuffer(digest(image), np.uint8))
        counts.append(len(dets))
        rows.append(np.column_stack([dets.xyxy, dets.confidence, dets.class_id]).astype(np.float32))
    np.savez(path, keys=np.stack(keys), counts=np.asarray(counts, np.int64),
             rows=np.concatenate(rows) if rows else np.zeros((0, 6), np.float32))
    return len(keys)


class PrecomputedDetector:
    """``detect(images)`` -> the stored detections of each image (unknown image: an error)."""

    name = "precomputed"
    model_version = "precomputed"

    def __init__(self, path: Path) -> None:
        data = np.load(path)
        ends = np.cumsum(data["counts"])
        starts = ends - data["counts"]
        rows = data["rows"]
        self.table = {bytes(k): (rows[s:e]) for k, s, e in zip(data["keys"], starts, ends, strict=True)}

    def lookup(self, image: bytes) -> Detections | DataError:
        if not image.startswith(b"\xff\xd8\xff"):
            return DataError("not a JPEG (no start-of-image marker)")
        r = self.table.get(digest(image))
        if r is None:
            return DataError("frame not in the precomputed detections")
        return Detections(r[:, :4], r[:, 4], r[:, 5].astype(np.int32))

    async def detect(self, images: Sequence[bytes]) -> list[Detections | DataError]:
        return [self.lookup(im) for im in images]

    async def close(self) -> None:
        return None
