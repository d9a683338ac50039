"""The one detection type used across every boundary (inference, tracking, sinks).

Coordinates are pixels of the *original* camera frame, ``xyxy`` =
``(x1, y1, x2, y2)`` with x to the right and y down, origin at the top-left
pixel corner. Modelled on ``supervision.Detections``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Vehicle classes of the demo detector, in class-id order. Part of the model card.
VEHICLE_CLASSES: tuple[str, ...] = ("car", "motorcycle", "bus", "truck")
CLASS_ID = {name: i for i, name in enumerate(VEHICLE_CLASSES)}
#: Classes counted as heavy vehicles for f_HV / percent heavy vehicles (HCM).
HEAVY_CLASSES: frozenset[str] = frozenset({"bus", "truck"})


@dataclass(frozen=True)
class Detections:
    """N detections of one frame.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes in original-frame pixels.
        confidence: ``(N,)`` float32 scores in [0, 1].
        class_id: ``(N,)`` int32 indices into :data:`VEHICLE_CLASSES`.
        tracker_id: ``(N,)`` int64 track ids, or ``None`` before tracking.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        conf = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        cls = np.asarray(self.class_id, dtype=np.int32).reshape(-1)
        if conf.shape != (n,) or cls.shape != (n,):
            raise ValueError(
                f"Detections: xyxy has {n} rows but confidence has {conf.shape[0]} and class_id {cls.shape[0]}"
            )
        if n and (xyxy[:, 2:] < xyxy[:, :2]).any():
            raise ValueError("Detections: boxes must satisfy x2 >= x1 and y2 >= y1")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)
        if self.tracker_id is not None:
            tid = np.asarray(self.tracker_id, dtype=np.int64).reshape(-1)
            if tid.shape != (n,):
                raise ValueError(f"Detections: tracker_id has {tid.shape[0]} rows, expected {n}")
            object.__setattr__(self, "tracker_id", tid)

    def with_tracker_id(self, tracker_id: np.ndarray) -> Detections:
        """The same detections (arrays shared, not validated again) with ``tracker_id``."""
        tid = np.asarray(tracker_id, dtype=np.int64).reshape(-1)
        if tid.shape != (len(self.xyxy),):
            raise ValueError(
                f"Detections: tracker_id has {tid.shape[0]} rows, expected {len(self)}"
            )
        out = object.__new__(Detections)
        for name, value in (
            ("xyxy", self.xyxy),
            ("confidence", self.confidence),
            ("class_id", self.class_id),
            ("tracker_id", tid),
        ):
            object.__setattr__(out, name, value)
        return out

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            None if self.tracker_id is None else self.tracker_id[index],
        )

    @property
    def bottom_center(self) -> np.ndarray:
        """``(N, 2)`` bottom-centre points (where a vehicle meets the road)."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)
