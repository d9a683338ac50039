"""Random still scenes (layout, camera, look, vehicles) for detector datasets.

Everything is drawn from one ``numpy`` generator, so a seed fixes the scene.
Cameras are aimed at a point on the road so the road is always in view;
vehicles are placed lane by lane without overlaps, out to where a car is
only ~7 px tall (far traffic near the horizon, as the shipped cameras see it;
below 10 px it is unlabelled, as in evaluation), with classes weighted so each class gets a fair share of
the boxes (cars are not allowed to swamp the rarer classes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.sim.camera import PinholeCamera
from itscam.sim.geometry import Layout, Road, intersection_layout, straight_layout
from itscam.sim.render import Look, Renderer, VehicleState
from itscam.sim.vehicles import make_vehicle

#: Vehicles are placed out to the depth where a car is this many pixels tall (at 360 px).
#: Was 14 until the detector, never shown far traffic, scored 0.56 mAP50 on the shipped
#: scenarios' cameras (0.94 on random scenes).
FAR_MIN_PX = 7.0

#: Class sampling weights for datasets (car, motorcycle, bus, truck).
CLASS_WEIGHTS = (0.32, 0.23, 0.2, 0.25)


@dataclass
class Snapshot:
    layout: Layout
    camera: PinholeCamera
    look: Look
    vehicles: list[VehicleState]


def random_layout(rng: np.random.Generator) -> Layout:
    if rng.random() < 0.6:
        return straight_layout(
            lanes_forward=int(rng.integers(1, 4)),
            lanes_backward=int(rng.integers(1, 4)),
            lane_width=float(rng.uniform(3.1, 3.8)),
            median=float(rng.choice([0.0, 0.0, rng.uniform(1.0, 4.0)])),
            heading_deg=float(rng.uniform(0, 360)),
        )
    return intersection_layout(
        lanes_main=int(rng.integers(1, 3)),
        lanes_cross=int(rng.integers(1, 3)),
        lane_width=float(rng.uniform(3.1, 3.7)),
        heading_deg=float(rng.uniform(0, 360)),
    )


def aim_camera(
    road: Road,
    rng: np.random.Generator,
    *,
    width: int = 640,
    height_px: int = 360,
    s_cam: float | None = None,
) -> PinholeCamera:
    """A pole-mounted camera beside ``road`` aimed at a point on it."""
    side = 1 if rng.random() < 0.5 else -1
    edge = road.right_edge if side > 0 else road.left_edge
    lateral = edge + side * (road.shoulder + rng.uniform(0.5, 8.0))
    if rng.random() < 0.2:
        lateral = rng.uniform(road.left_edge, road.right_edge)  # gantry over the road
    s_cam = float(rng.uniform(-60, 60)) if s_cam is None else s_cam
    cam_xy = road.point(s_cam, lateral)
    height = float(rng.uniform(6.0, 14.0))
    if rng.random() < 0.2:
        ahead = rng.uniform(-6, 6)  # looking across the road from further away: side views
        dist = rng.uniform(18, 35)
        lateral += side * rng.uniform(10, 25)
        cam_xy = road.point(s_cam, lateral)
    else:
        ahead = rng.choice([-1, 1]) * rng.uniform(22, 60)
        dist = None
    target = road.point(s_cam + ahead, rng.uniform(road.left_edge, road.right_edge))
    if dist is not None:
        target = road.point(s_cam + ahead, -np.sign(lateral or 1) * dist / 4)
    d = target - cam_xy
    yaw = math.degrees(math.atan2(d[1], d[0])) + rng.uniform(-4, 4)
    tilt = math.degrees(math.atan2(height, float(np.linalg.norm(d)))) + rng.uniform(-3, 3)
    tilt = float(np.clip(tilt, 8, 60))
    return PinholeCamera.from_hfov(
        hfov_deg=float(rng.uniform(45, 75)),
        width=width,
        height_px=height_px,
        x=float(cam_xy[0]),
        y=float(cam_xy[1]),
        height=height,
        yaw_deg=yaw,
        tilt_deg=tilt,
        roll_deg=float(rng.uniform(-2, 2)),
    )


def visible_interval(
    layout: Layout, road: Road, offset: float, cam: PinholeCamera, min_px: float = FAR_MIN_PX
) -> tuple[float, float] | None:
    """Arc-length interval of a lane line that is in view and near enough (or None)."""
    s = np.arange(-road.half_length + 10, road.half_length - 10, 1.0)
    pts = road.point(s, np.full_like(s, offset))
    uv, z = cam.project(np.column_stack([pts, np.zeros(len(s))]))
    max_depth = cam.focal_px * 1.5 / (min_px * cam.height_px / 360)
    ok = (
        (z > max(7.0, cam.height))
        & (z < max_depth)
        & (uv[:, 0] > -40)
        & (uv[:, 0] < cam.width + 40)
        & (uv[:, 1] > 0)
        & (uv[:, 1] < cam.height_px + 60)
    )
    if not ok.any():
        return None
    return float(s[ok].min()), float(s[ok].max())


def place_vehicles(
    layout: Layout,
    cam: PinholeCamera,
    rng: np.random.Generator,
    weights: tuple[float, ...] = CLASS_WEIGHTS,
) -> list[VehicleState]:
    """Fill each lane's visible stretch with non-overlapping vehicles."""
    out: list[VehicleState] = []
    tid = 1
    for road in layout.roads:
        jw = layout.junction_half_width(road)
        cross_road = layout.kind == "intersection" and road is not layout.roads[0]
        for lane in road.lanes:
            iv = visible_interval(layout, road, lane.offset, cam)
            if iv is None:
                continue
            s = iv[0] - rng.uniform(0, 8)
            while s < iv[1]:
                cls = str(rng.choice(VEHICLE_CLASSES, p=np.asarray(weights) / sum(weights)))
                model = make_vehicle(cls, rng)
                centre = s + model.length / 2
                if cross_road and abs(centre) < jw + model.length / 2 + 1.0:
                    s = jw + 1.5
                    continue
                lat = rng.normal(0, 0.8 if cls == "motorcycle" else 0.25)
                lat = float(
                    np.clip(lat, -(lane.width - model.width) / 2, (lane.width - model.width) / 2)
                )
                xy = road.point(centre, lane.offset + lat)
                heading = lane.heading_rad(road) + rng.normal(0, 0.02)
                speed = float(rng.uniform(0, 20))
                out.append(
                    VehicleState(tid, model, float(xy[0]), float(xy[1]), heading, speed, lane.id)
                )
                tid += 1
                s += model.length + rng.uniform(1.5, 18.0)
    return out


def random_snapshot(
    rng: np.random.Generator, *, width: int = 640, height_px: int = 360
) -> Snapshot:
    layout = random_layout(rng)
    road = layout.roads[0] if layout.kind == "straight" or rng.random() < 0.7 else layout.roads[1]
    s_cam = None if layout.kind == "straight" else float(rng.choice([-1, 1]) * rng.uniform(8, 40))
    cam = aim_camera(road, rng, width=width, height_px=height_px, s_cam=s_cam)
    look = Look.sample(rng)
    return Snapshot(layout, cam, look, place_vehicles(layout, cam, rng))


def render_snapshot(snap: Snapshot, seed: int):
    """Render a snapshot; returns a :class:`itscam.sim.render.Frame`."""
    return Renderer(snap.layout, snap.camera, snap.look, seed=seed).render(snap.vehicles)
