"""Test builders for the vision maths: synthetic frames and encoded images."""

from __future__ import annotations

import cv2
import numpy as np


def make_frame(width: int = 640, height: int = 360, seed: int = 0, boxes: int = 8) -> np.ndarray:
    """A ``(height, width, 3)`` BGR frame: textured road-grey background with coloured blocks."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(60, 140, size=(height, width, 3), dtype=np.uint8)
    for _ in range(boxes):
        w = int(rng.integers(max(2, width // 20), max(3, width // 5)))
        h = int(rng.integers(max(2, height // 20), max(3, height // 5)))
        x = int(rng.integers(0, max(1, width - w)))
        y = int(rng.integers(0, max(1, height - h)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(frame, (x, y), (x + w, y + h), color, -1)
    return frame


def encode(frame: np.ndarray, ext: str = ".jpg", quality: int = 90) -> bytes:
    """Encode a BGR frame as JPEG (``.jpg``) or PNG (``.png``) bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, frame, params)
    assert ok, f"cv2.imencode({ext}) failed"
    return buf.tobytes()


def make_jpeg(width: int = 640, height: int = 360, seed: int = 0) -> bytes:
    return encode(make_frame(width, height, seed))


def truncate(data: bytes, fraction: float = 0.6) -> bytes:
    """The first ``fraction`` of an encoded image, as a camera cut short would send it."""
    return data[: int(len(data) * fraction)]


def random_boxes(
    n: int, seed: int, classes: int = 4, extent: float = 400.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` random overlapping xyxy boxes with distinct scores and random classes."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent, size=(n, 2))
    wh = rng.uniform(5, extent / 4, size=(n, 2))
    xyxy = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    score = rng.permutation(np.linspace(0.3, 0.99, n)).astype(np.float32)
    class_id = rng.integers(0, classes, size=n).astype(np.int32)
    return xyxy, score, class_id
