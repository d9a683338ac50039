"""Road geometry in metres on the road plane (world frame: X east, Y north).

A :class:`Road` is a straight carriageway through ``origin`` along ``heading_deg``
with ``lanes_forward`` lanes travelling along the heading (on its right: traffic
keeps right) and ``lanes_backward`` lanes travelling against it (on its left).
A position on a road is its arc length ``s`` (metres along the heading from the
origin) and a lateral offset (metres, positive to the right of the heading).
A :class:`Layout` is a set of roads; two crossing roads make an intersection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from itscam.errors import GeometryError


@dataclass(frozen=True)
class Lane:
    """One lane: ``id`` (unique in a layout), its road, travel direction and centreline.

    ``direction`` is +1 when vehicles travel along the road heading, -1 against it.
    ``offset`` is the centreline's lateral offset from the road axis (metres,
    positive to the right of the road heading); ``index`` counts from the median
    (0 = inside lane).
    """

    id: str
    road_id: str
    direction: int
    index: int
    offset: float
    width: float

    def heading_rad(self, road: Road) -> float:
        """Direction of travel, counter-clockwise from +X (radians)."""
        return road.heading_rad + (0.0 if self.direction > 0 else math.pi)


@dataclass(frozen=True)
class Road:
    """A straight two-way road; see module docstring for conventions."""

    id: str
    origin: tuple[float, float] = (0.0, 0.0)
    heading_deg: float = 90.0
    lanes_forward: int = 2
    lanes_backward: int = 2
    lane_width: float = 3.5
    median: float = 0.0
    half_length: float = 400.0
    shoulder: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if (
            self.lanes_forward < 0
            or self.lanes_backward < 0
            or self.lanes_forward + self.lanes_backward == 0
        ):
            raise GeometryError(f"road {self.id}: needs at least one lane")
        if not 2.0 <= self.lane_width <= 6.0:
            raise GeometryError(f"road {self.id}: lane width {self.lane_width} m is not 2-6 m")

    @property
    def heading_rad(self) -> float:
        return math.radians(self.heading_deg)

    @property
    def axis(self) -> np.ndarray:
        """``(2,)`` unit vector along the heading."""
        return np.array([math.cos(self.heading_rad), math.sin(self.heading_rad)])

    @property
    def right(self) -> np.ndarray:
        """``(2,)`` unit vector to the right of the heading."""
        return np.array([math.sin(self.heading_rad), -math.cos(self.heading_rad)])

    @property
    def lanes(self) -> list[Lane]:
        """Forward lanes (right of the axis) then backward lanes (left), inside first."""
        out = []
        for k in range(self.lanes_forward):
            off = self.median / 2 + (k + 0.5) * self.lane_width
            out.append(Lane(f"{self.id}_f{k + 1}", self.id, +1, k, off, self.lane_width))
        for k in range(self.lanes_backward):
            off = -(self.median / 2 + (k + 0.5) * self.lane_width)
            out.append(Lane(f"{self.id}_b{k + 1}", self.id, -1, k, off, self.lane_width))
        return out

    @property
    def right_edge(self) -> float:
        return self.median / 2 + self.lanes_forward * self.lane_width

    @property
    def left_edge(self) -> float:
        return -(self.median / 2 + self.lanes_backward * self.lane_width)

    def point(self, s: np.ndarray | float, offset: np.ndarray | float) -> np.ndarray:
        """Road coordinates -> world ``(..., 2)`` metres."""
        s = np.asarray(s, np.float64)
        offset = np.asarray(offset, np.float64)
        o = np.asarray(self.origin, np.float64)
        return o + s[..., None] * self.axis + offset[..., None] * self.right

    def to_road(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World ``(N, 2)`` -> ``(s, offset)`` arrays."""
        d = np.asarray(xy, np.float64).reshape(-1, 2) - np.asarray(self.origin)
        return d @ self.axis, d @ self.right

    def quad(self, s0: float, s1: float, off0: float, off1: float) -> np.ndarray:
        """``(4, 2)`` world corners of the road-aligned rectangle ``[s0,s1] x [off0,off1]``."""
        return np.array(
            [self.point(s0, off0), self.point(s1, off0), self.point(s1, off1), self.point(s0, off1)]
        )


@dataclass(frozen=True)
class Layout:
    """Roads of one site. ``kind`` is ``"straight"`` or ``"intersection"``."""

    kind: str
    roads: tuple[Road, ...]
    crosswalks: bool = True
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("straight", "intersection"):
            raise GeometryError(f"unknown layout kind {self.kind!r}: use straight or intersection")
        ids = [lane.id for road in self.roads for lane in road.lanes]
        if len(set(ids)) != len(ids):
            raise GeometryError("lane ids must be unique across roads: give each road its own id")

    def road(self, road_id: str) -> Road:
        for r in self.roads:
            if r.id == road_id:
                return r
        raise GeometryError(f"no road {road_id!r} in layout (roads: {[r.id for r in self.roads]})")

    @property
    def lanes(self) -> list[Lane]:
        return [lane for r in self.roads for lane in r.lanes]

    def lane(self, lane_id: str) -> Lane:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise GeometryError(f"no lane {lane_id!r} in layout")

    def junction_half_width(self, road: Road) -> float:
        """Half the length of ``road`` inside the junction box (0 for straight layouts)."""
        if self.kind != "intersection":
            return 0.0
        others = [r for r in self.roads if r.id != road.id]
        if not others:
            return 0.0
        o = others[0]
        return max(abs(o.left_edge), abs(o.right_edge)) + o.shoulder


def straight_layout(
    *,
    lanes_forward: int = 2,
    lanes_backward: int = 2,
    lane_width: float = 3.5,
    median: float = 0.0,
    heading_deg: float = 90.0,
) -> Layout:
    """One straight road through the origin."""
    return Layout(
        "straight",
        (
            Road(
                "main",
                (0.0, 0.0),
                heading_deg,
                lanes_forward,
                lanes_backward,
                lane_width,
                median,
                name="main road",
            ),
        ),
    )


def intersection_layout(
    *, lanes_main: int = 2, lanes_cross: int = 1, lane_width: float = 3.5, heading_deg: float = 90.0
) -> Layout:
    """Two roads crossing at right angles at the origin (vehicles go straight through)."""
    main = Road(
        "main", (0.0, 0.0), heading_deg, lanes_main, lanes_main, lane_width, name="main road"
    )
    cross = Road(
        "cross",
        (0.0, 0.0),
        heading_deg - 90.0,
        lanes_cross,
        lanes_cross,
        lane_width,
        name="cross street",
    )
    return Layout("intersection", (main, cross))
