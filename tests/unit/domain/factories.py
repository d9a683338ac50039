"""Builders for domain tests: a camera dict, boxes from world positions, frames."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from itscam.domain.detections import Detections
from itscam.domain.registry import CameraConfig, parse_camera

#: Calibration of a pole camera looking up a road (world y forward, x to the right).
CALIB = [
    {"image": [100.2, 294.7], "world": [-7, 5]},
    {"image": [539.8, 294.7], "world": [7, 5]},
    {"image": [254.7, 56.7], "world": [-7, 50]},
    {"image": [385.3, 56.7], "world": [7, 50]},
    {"image": [320.0, 121.2], "world": [0, 25]},
]


def camera_dict(**over: Any) -> dict[str, Any]:
    """Two lanes: nb-1 (x = 1.75, travelling +y) and sb-1 (x = -1.75, travelling -y).

    Counting lines across each lane at y = 14 m; a queue zone on nb-1 from y = 8 to
    30 m; an incident zone over both lanes.
    """
    d = {
        "camera_id": "cam-test",
        "width": 640,
        "height": 360,
        "fps": 10,
        "calibration": {"points": copy.deepcopy(CALIB)},
        "lanes": [
            {"lane_id": "nb-1", "centerline": [[1.75, 4], [1.75, 60]], "width_m": 3.5},
            {"lane_id": "sb-1", "centerline": [[-1.75, 60], [-1.75, 4]], "width_m": 3.5},
        ],
        "lines": [
            {"line_id": "nb-1-count", "lane_id": "nb-1", "world": [[0, 14], [3.5, 14]]},
            {"line_id": "sb-1-count", "lane_id": "sb-1", "world": [[-3.5, 14], [0, 14]]},
        ],
        "zones": [
            {
                "zone_id": "nb-1-queue",
                "kind": "queue",
                "lane_id": "nb-1",
                "world": [[0, 8], [3.5, 8], [3.5, 30], [0, 30]],
            },
            {
                "zone_id": "road",
                "kind": "incident",
                "world": [[-3.5, 6], [3.5, 6], [3.5, 45], [-3.5, 45]],
            },
        ],
        "analysis": {},
    }
    d.update(over)
    return d


def camera(**over: Any) -> CameraConfig:
    return parse_camera(camera_dict(**over))


def box_at(
    cfg: CameraConfig, xy: tuple[float, float], length_m: float = 4.5, width_m: float = 1.8
) -> np.ndarray:
    """The ``xyxy`` box of a car whose footprint (heading along y) is centred at world ``xy``.

    The box spans the projected footprint (bottom edge at its lowest corner), plus a
    body height above it, like a detector's box of a real vehicle.
    """
    x, y = xy
    corners = np.array(
        [
            [x - width_m / 2, y - length_m / 2],
            [x + width_m / 2, y - length_m / 2],
            [x - width_m / 2, y + length_m / 2],
            [x + width_m / 2, y + length_m / 2],
        ]
    )
    uv = cfg.homography.to_image(corners)
    u1, u2 = uv[:, 0].min(), uv[:, 0].max()
    v1, v2 = uv[:, 1].min(), uv[:, 1].max()
    return np.array([u1, v1 - 0.5 * (u2 - u1), u2, v2], np.float32)


def frame(
    cfg: CameraConfig, positions: list[tuple[float, float]], conf: float = 0.9, class_id: int = 0
) -> Detections:
    """Detections of vehicles at world ``positions``."""
    if not positions:
        return Detections.empty()
    boxes = np.stack([box_at(cfg, p) for p in positions])
    n = len(positions)
    return Detections(boxes, np.full(n, conf, np.float32), np.full(n, class_id, np.int32))


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 4)


def dets(xyxy: np.ndarray, conf: float | list[float] = 0.9, cls: int = 0) -> Detections:
    n = len(xyxy)
    c = np.full(n, conf, np.float32) if np.isscalar(conf) else np.asarray(conf, np.float32)
    return Detections(xyxy, c, np.full(n, cls, np.int32))
