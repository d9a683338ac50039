"""Vehicle classes: dimensions, shapes and colours.

Each vehicle is a small set of cuboid *parts* in the vehicle frame: metres, x
forward, y left, z up, origin at the centre of the footprint on the road.
Every class has a different silhouette so a detector can tell them apart:

- car: low body + narrower glass cabin on top, wheels as dark patches;
- motorcycle: narrow dark frame + rider torso + helmet;
- bus: one long tall box in a livery colour with a dark window band along the
  sides and a big windscreen;
- truck: a short cab at the front and a taller, longer cargo box behind it on
  a dark chassis, with a visible gap and step between cab and box.

All parts stand on the road (the lowest part has ``z0 = 0``), so the rendered
silhouette meets the road exactly where the ground truth says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from itscam.domain.detections import VEHICLE_CLASSES

#: (length, width, height) ranges in metres per class.
DIMENSIONS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "car": ((3.9, 5.0), (1.7, 1.9), (1.4, 1.7)),
    "motorcycle": ((1.9, 2.3), (0.7, 0.9), (1.3, 1.5)),
    "bus": ((10.5, 13.0), (2.5, 2.6), (3.0, 3.4)),
    "truck": ((8.5, 16.0), (2.45, 2.55), (3.6, 4.0)),
}

#: Free-flow desired speed ranges (m/s) per class.
DESIRED_SPEED = {
    "car": (12.0, 19.0),
    "motorcycle": (12.0, 21.0),
    "bus": (10.0, 15.0),
    "truck": (10.0, 15.0),
}

CAR_COLOURS = [
    (235, 235, 235),
    (190, 190, 192),
    (120, 120, 125),
    (30, 30, 32),
    (40, 40, 140),
    (150, 70, 20),
    (40, 40, 170),
    (200, 200, 220),
    (60, 100, 60),
    (160, 180, 200),
    (20, 120, 200),
    (90, 60, 40),
]  # BGR
BUS_LIVERIES = [
    (0, 200, 255),
    (40, 40, 200),
    (170, 90, 20),
    (60, 150, 40),
    (230, 230, 230),
    (20, 110, 230),
]
CARGO_COLOURS = [
    (245, 245, 245),
    (200, 200, 200),
    (150, 110, 60),
    (60, 60, 170),
    (30, 140, 230),
    (90, 130, 90),
    (180, 180, 160),
]
CAB_COLOURS = [
    (240, 240, 240),
    (40, 40, 180),
    (170, 100, 30),
    (30, 30, 30),
    (0, 170, 230),
    (80, 80, 80),
]
GLASS = (70, 55, 45)
DARK = (28, 28, 30)


@dataclass(frozen=True)
class Decal:
    """A flat rectangle painted on one face of a part.

    ``face`` is one of left/right/front/back; ``a0..a1`` runs along the face
    horizontally in vehicle coordinates (x for left/right faces, y for
    front/back), ``z0..z1`` is the height band. ``emissive`` decals (lights)
    ignore scene lighting.
    """

    face: str
    a0: float
    a1: float
    z0: float
    z1: float
    color: tuple[int, int, int]
    emissive: bool = False


@dataclass(frozen=True)
class Part:
    """An axis-aligned cuboid in the vehicle frame ``(x0, x1, y0, y1, z0, z1)`` with decals."""

    box: tuple[float, float, float, float, float, float]
    color: tuple[int, int, int]
    decals: tuple[Decal, ...] = ()

    def corners(self) -> np.ndarray:
        """``(8, 3)`` corners; index bits: x (1), y (2), z (4)."""
        x0, x1, y0, y1, z0, z1 = self.box
        return np.array(
            [[(x0, x1)[i & 1], (y0, y1)[(i >> 1) & 1], (z0, z1)[(i >> 2) & 1]] for i in range(8)],
            dtype=np.float64,
        )


@dataclass(frozen=True)
class VehicleModel:
    """Shape and colours of one vehicle: class, dimensions ``(L, W, H)`` and parts."""

    cls: str
    length: float
    width: float
    height: float
    parts: tuple[Part, ...]

    @property
    def class_id(self) -> int:
        return VEHICLE_CLASSES.index(self.cls)


def _pick(rng: np.random.Generator, colours: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    c = np.asarray(colours[rng.integers(len(colours))], np.float64)
    c = np.clip(c * rng.uniform(0.85, 1.12) + rng.normal(0, 6, 3), 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]))


def _lights(L: float, W: float, z: float, tail: bool = True) -> tuple[Decal, ...]:
    hw = W / 2
    out = [
        Decal("front", -hw + 0.1, -hw + 0.45, z, z + 0.18, (215, 235, 245), True),
        Decal("front", hw - 0.45, hw - 0.1, z, z + 0.18, (215, 235, 245), True),
    ]
    if tail:
        out += [
            Decal("back", -hw + 0.1, -hw + 0.35, z, z + 0.2, (30, 30, 190), True),
            Decal("back", hw - 0.35, hw - 0.1, z, z + 0.2, (30, 30, 190), True),
        ]
    return tuple(out)


def _wheels(x_axles: list[float], r: float) -> tuple[Decal, ...]:
    out = []
    for face in ("left", "right"):
        out += [Decal(face, x - r, x + r, 0.0, 2 * r * 0.9, DARK) for x in x_axles]
    return tuple(out)


def make_vehicle(cls: str, rng: np.random.Generator) -> VehicleModel:
    """Sample the dimensions and look of one vehicle of class ``cls``."""
    (l0, l1), (w0, w1), (h0, h1) = DIMENSIONS[cls]
    L, W, H = rng.uniform(l0, l1), rng.uniform(w0, w1), rng.uniform(h0, h1)
    hl, hw = L / 2, W / 2
    if cls == "car":
        paint = _pick(rng, CAR_COLOURS)
        zb = H * rng.uniform(0.5, 0.58)
        cab0, cab1 = -hl + L * rng.uniform(0.12, 0.22), hl - L * rng.uniform(0.28, 0.36)
        body = Part(
            (-hl, hl, -hw, hw, 0.0, zb),
            paint,
            _wheels([-hl + 0.85, hl - 0.85], 0.33)
            + _lights(L, W, zb - 0.3)
            + (Decal("front", -hw + 0.5, hw - 0.5, 0.15, 0.35, DARK),),
        )
        inset = W * 0.08
        cabin = Part(
            (cab0, cab1, -hw + inset, hw - inset, zb, H),
            paint,
            (
                Decal("left", cab0 + 0.15, cab1 - 0.15, zb + 0.08, H - 0.1, GLASS),
                Decal("right", cab0 + 0.15, cab1 - 0.15, zb + 0.08, H - 0.1, GLASS),
                Decal("front", -hw + inset + 0.1, hw - inset - 0.1, zb + 0.05, H - 0.08, GLASS),
                Decal("back", -hw + inset + 0.1, hw - inset - 0.1, zb + 0.08, H - 0.1, GLASS),
            ),
        )
        parts: tuple[Part, ...] = (body, cabin)
    elif cls == "motorcycle":
        frame_c = _pick(
            rng, [(30, 30, 30), (40, 40, 160), (150, 150, 150), (20, 90, 200), (120, 60, 20)]
        )
        jacket = _pick(
            rng,
            [
                (30, 30, 30),
                (60, 60, 60),
                (120, 70, 30),
                (40, 40, 120),
                (30, 100, 30),
                (200, 200, 200),
            ],
        )
        helmet = _pick(rng, [(240, 240, 240), (20, 20, 20), (30, 30, 200), (0, 200, 255)])
        frame = Part(
            (-hl, hl, -0.18, 0.18, 0.0, 0.85),
            frame_c,
            (
                *_wheels([-hl + 0.35, hl - 0.35], 0.32),
                Decal("front", -0.08, 0.08, 0.75, 0.83, (215, 235, 245), True),
                Decal("back", -0.08, 0.08, 0.65, 0.75, (30, 30, 190), True),
            ),
        )
        bar = Part((hl - 0.6, hl - 0.5, -hw, hw, 0.95, 1.02), DARK)
        rider = Part((-0.45, 0.1, -0.27, 0.27, 0.8, H - 0.27), jacket)
        head = Part(
            (-0.32, -0.02, -0.14, 0.14, H - 0.28, H),
            helmet,
            (Decal("front", -0.1, 0.1, H - 0.2, H - 0.1, DARK),),
        )
        parts = (frame, bar, rider, head)
    elif cls == "bus":
        livery = _pick(rng, BUS_LIVERIES)
        stripe = _pick(rng, [(255, 255, 255), (40, 40, 40), (0, 140, 255), (200, 60, 20)])
        wz0, wz1 = 1.15, H - 0.45
        decals = [
            Decal("front", -hw + 0.12, hw - 0.12, 0.9, H - 0.25, GLASS),
            Decal("back", -hw + 0.2, hw - 0.2, wz0 + 0.3, wz1, GLASS),
            Decal("front", -hw, hw, 0.0, 0.3, DARK),
            Decal("back", -hw, hw, 0.0, 0.3, DARK),
        ]
        for face in ("left", "right"):
            decals += [
                Decal(face, -hl + 0.4, hl - 0.3, wz0, wz1, GLASS),
                Decal(face, -hl, hl, 0.55, 0.8, stripe),
                Decal(face, -hl, hl, 0.0, 0.28, DARK),
            ]
            decals += [
                Decal(face, x, x + 0.06, wz0, wz1, livery)
                for x in np.arange(-hl + 1.6, hl - 1.0, 1.5)
            ]
        decals += list(_wheels([-hl + 2.6, hl - 2.6], 0.5)) + list(_lights(L, W, 0.5))
        parts = (Part((-hl, hl, -hw, hw, 0.0, H), livery, tuple(decals)),)
    elif cls == "truck":
        cab_c = _pick(rng, CAB_COLOURS)
        cargo_c = _pick(rng, CARGO_COLOURS)
        cab_len, cab_h = rng.uniform(2.1, 2.5), H * rng.uniform(0.72, 0.8)
        gap = 0.35
        box_z0 = 1.05
        chassis = Part(
            (-hl, hl - cab_len, -hw + 0.2, hw - 0.2, 0.0, box_z0),
            DARK,
            _wheels([-hl + 1.3, -hl + 2.6, hl - cab_len - 1.0], 0.5),
        )
        cab = Part(
            (hl - cab_len, hl, -hw + 0.02, hw - 0.02, 0.0, cab_h),
            cab_c,
            (
                Decal("front", -hw + 0.15, hw - 0.15, cab_h * 0.55, cab_h - 0.15, GLASS),
                Decal("left", hl - 0.9, hl - 0.12, cab_h * 0.55, cab_h - 0.2, GLASS),
                Decal("right", hl - 0.9, hl - 0.12, cab_h * 0.55, cab_h - 0.2, GLASS),
                Decal("front", -hw + 0.3, hw - 0.3, 0.45, 0.9, (60, 60, 60)),
                Decal("front", -hw, hw, 0.0, 0.35, DARK),
                *_wheels([hl - 1.0], 0.5),
                *_lights(L, W, 0.5, tail=False),
            ),
        )
        doors = (int(cargo_c[0] * 0.8), int(cargo_c[1] * 0.8), int(cargo_c[2] * 0.8))
        cargo = Part(
            (-hl, hl - cab_len - gap, -hw, hw, box_z0, H),
            cargo_c,
            (
                Decal("back", -hw + 0.08, -0.04, box_z0 + 0.1, H - 0.1, doors),
                Decal("back", 0.04, hw - 0.08, box_z0 + 0.1, H - 0.1, doors),
                Decal(
                    "back", -hw + 0.1, -hw + 0.35, box_z0 + 0.05, box_z0 + 0.25, (30, 30, 190), True
                ),
                Decal(
                    "back", hw - 0.35, hw - 0.1, box_z0 + 0.05, box_z0 + 0.25, (30, 30, 190), True
                ),
            ),
        )
        parts = (chassis, cargo, cab)
    else:
        raise ValueError(f"unknown vehicle class {cls!r}; use one of {VEHICLE_CLASSES}")
    return VehicleModel(cls, L, W, H, parts)
