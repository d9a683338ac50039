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


def sim_detection_frames(scenario: Any, camera_id: str, duration_s: float, seed: int = 0):
    """Yield ``(capture_ts, Detections | None)`` for a simulator camera without rendering.

    Boxes are the simulator's vehicles (cuboid parts) projected with its camera;
    a box mostly covered by a nearer one is dropped (occlusion), 3 % are missed and
    every box is jittered by 2 % of its size. ``None`` while the camera is in an outage.
    """
    import math

    from itscam.sim.traffic import TrafficSim

    rng = np.random.default_rng(seed)
    sc = scenario
    cam = sc.camera(camera_id).camera
    sim = TrafficSim(sc.layout, sc.traffic, sc.seed)
    dt = 1.0 / sc.fps
    for i in range(round(duration_s * sc.fps)):
        t = i * dt
        if sc.in_outage(camera_id, t):
            yield sc.start_ts + t, None
            sim.step(dt)
            continue
        rows = []
        for v in sim.vehicles:
            st = v.state()
            if math.hypot(st.x - cam.x, st.y - cam.y) > 200:
                continue
            corners = st.to_world(np.concatenate([p.corners() for p in st.model.parts]))
            uv, z = cam.project(corners)
            if np.any(z < 0.5):
                continue
            x1, y1 = uv.min(0)
            x2, y2 = uv.max(0)
            full = (x2 - x1) * (y2 - y1)
            c = [max(x1, 0), max(y1, 0), min(x2, cam.width), min(y2, cam.height_px)]
            if c[2] <= c[0] or c[3] <= c[1] or (c[2] - c[0]) * (c[3] - c[1]) < 0.5 * full:
                continue
            if c[3] - c[1] < 10:
                continue
            rows.append((float(z.min()), c, st.model.class_id))
        rows.sort(key=lambda r: r[0])
        kept: list[tuple[list[float], int]] = []
        for _, b, cls in rows:
            area = (b[2] - b[0]) * (b[3] - b[1])
            covered = any(
                max(0, min(b[2], k[2]) - max(b[0], k[0]))
                * max(0, min(b[3], k[3]) - max(b[1], k[1]))
                > 0.7 * area
                for k, _ in kept
            )
            if not covered:
                kept.append((b, cls))
        kept = [k for k in kept if rng.random() > 0.03]
        if kept:
            boxes = np.array([k[0] for k in kept], np.float64)
            wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
            boxes = boxes + rng.normal(0, 0.02, boxes.shape) * wh
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
            det = Detections(
                boxes, rng.uniform(0.55, 0.95, len(kept)), np.array([k[1] for k in kept])
            )
        else:
            det = Detections.empty()
        yield sc.start_ts + t, det
        sim.step(dt)
