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
from typing import cast

import numpy as np

from itscam.domain.detections import Detections
from itscam.errors import DataError


def digest(image: bytes) -> bytes:
    return hashlib.sha1(image).digest()


def rows_of(dets: Detections) -> np.ndarray:
    """Detections as ``(N, 6)`` float32 rows ``x1, y1, x2, y2, confidence, class_id``."""
    return np.column_stack([dets.xyxy, dets.confidence, dets.class_id]).astype(np.float32)


def from_rows(r: np.ndarray) -> Detections:
    """The inverse of :func:`rows_of`."""
    return Detections(r[:, :4], r[:, 4], r[:, 5].astype(np.int32))


def save(path: Path, items: Iterable[tuple[bytes, Detections]]) -> int:
    """Write ``(jpeg bytes, detections)`` pairs; returns how many frames."""
    keys, counts, rows = [], [], []
    for image, dets in items:
        keys.append(np.frombuffer(digest(image), np.uint8))
        counts.append(len(dets))
        rows.append(rows_of(dets))
    np.savez(
        path,
        keys=np.stack(keys),
        counts=np.asarray(counts, np.int64),
        rows=np.concatenate(rows) if rows else np.zeros((0, 6), np.float32),
    )
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
        self.table = {
            bytes(k): (rows[s:e]) for k, s, e in zip(data["keys"], starts, ends, strict=True)
        }

    def lookup(self, image: bytes) -> Detections | DataError:
        if not image.startswith(b"\xff\xd8\xff"):
            return DataError("not a JPEG (no start-of-image marker)")
        r = self.table.get(digest(image))
        if r is None:
            return DataError("frame not in the precomputed detections")
        return from_rows(r)

    async def detect(self, images: Sequence[bytes]) -> list[Detections | DataError]:
        return [self.lookup(im) for im in images]

    async def close(self) -> None:
        return None


ORACLE_KEY = "itscam:oracle:{}"


def _pack(dets: Detections) -> bytes:
    return rows_of(dets).tobytes()


def _unpack(data: bytes) -> Detections:
    return from_rows(np.frombuffer(data, np.float32).reshape(-1, 6))


class OracleStore:
    """Ground-truth boxes per frame in Redis, written by the ingest of ``itscam evaluate --oracle``."""

    def __init__(self, settings: object, ttl_s: int = 7200) -> None:
        from itscam.clients.redis import StateStore

        self.client = StateStore(settings).client  # type: ignore[arg-type]
        self.ttl_s = ttl_s

    def put(self, image: bytes, dets: Detections) -> None:
        self.client.set(ORACLE_KEY.format(digest(image).hex()), _pack(dets), ex=self.ttl_s)

    def get_many(self, images: Sequence[bytes]) -> list[bytes | None]:
        return cast(
            list[bytes | None],
            self.client.mget([ORACLE_KEY.format(digest(im).hex()) for im in images]),
        )


class OracleDetector:
    """Detections = the simulator's ground truth (diagnostics: the stream's accuracy without the model).

    Used by a worker when ``ITSCAM_ORACLE_DETECTIONS=redis``; never the default.
    """

    name = "oracle"
    model_version = "oracle"

    def __init__(self, settings: object) -> None:
        self.store = OracleStore(settings)

    async def detect(self, images: Sequence[bytes]) -> list[Detections | DataError]:
        import asyncio

        raw = await asyncio.to_thread(self.store.get_many, list(images))
        return [
            DataError("frame has no ground truth in the oracle store") if r is None else _unpack(r)
            for r in raw
        ]

    async def close(self) -> None:
        return None


def truth_detections(truth: list, image_height: int) -> Detections:
    """Labelled ground-truth boxes of a simulated frame as detections (confidence 0.9)."""
    boxes = [b for b in truth or [] if b.labelled(image_height)]
    if not boxes:
        return Detections.empty()
    return Detections(
        np.array([b.xyxy for b in boxes], np.float32),
        np.full(len(boxes), 0.9, np.float32),
        np.array([b.class_id for b in boxes], np.int32),
    )
