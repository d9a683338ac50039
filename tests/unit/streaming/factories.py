"""Builders for streaming tests: JPEG frames, frames-topic records, Faust-like events."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from itscam.domain.detections import Detections
from streaming.contracts import Frame, frame_headers


def jpeg(width: int = 64, height: int = 36, value: int = 128) -> bytes:
    img = np.full((height, width, 3), value, np.uint8)
    cv2.rectangle(img, (5, 5), (20, 15), (0, 0, 255), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def frame(camera_id: str = "cam-a", seq: int = 0, ts_us: int | None = None, **kw: Any) -> Frame:
    image = kw.pop("image", None) or jpeg()
    return Frame(
        camera_id=camera_id,
        capture_ts_us=ts_us or int(time.time() * 1e6),
        seq=seq,
        width=kw.pop("width", 64),
        height=kw.pop("height", 36),
        image=image,
        **kw,
    )


def record(f: Frame) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a frames-topic record."""
    return f.camera_id.encode(), f.image, frame_headers(f)


@dataclass
class Message:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "itscam.frames"
    partition: int = 0
    offset: int = 0
    timestamp: float | None = None


@dataclass
class Event:
    message: Message


def events(
    records: list[tuple[bytes | None, bytes | None, list]],
    topic: str = "itscam.frames",
    partition: int = 0,
    first_offset: int = 0,
) -> list[Event]:
    return [
        Event(Message(k, v, h, topic, partition, first_offset + i))
        for i, (k, v, h) in enumerate(records)
    ]


class Collector:
    """A ``send(topic, key, value, headers)`` that records what was produced."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any, Any]] = []

    async def __call__(self, topic: str, key: Any, value: Any, headers: Any = None) -> None:
        self.sent.append((topic, key, value, headers))

    def on(self, topic: str) -> list[tuple[str, Any, Any, Any]]:
        return [s for s in self.sent if s[0] == topic]


class BoxDetector:
    """Returns one fixed box per decodable image; undecodable bytes get a non-transient error.

    Stands in for the model in *unit* tests only (integration tests use the real one).
    """

    model_version = "test-1"

    def __init__(self, fail_transient: int = 0) -> None:
        self.calls: list[int] = []
        self.fail_transient = fail_transient

    async def detect(self, images: list[bytes]) -> list[Any]:
        from itscam.inference.base import DetectionError

        self.calls.append(len(images))
        out: list[Any] = []
        for data in images:
            if self.fail_transient > 0:
                self.fail_transient -= 1
                out.append(DetectionError("server unavailable", transient=True, backend="test"))
                continue
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                out.append(DetectionError("not an image", transient=False, backend="test"))
            else:
                out.append(
                    Detections(
                        np.array([[5, 5, 20, 15]], np.float32),
                        np.array([0.9], np.float32),
                        np.array([0], np.int32),
                    )
                )
        return out
