"""Camera registry: cameras, lanes, counting lines, zones and calibration.

The registry is a YAML file (``settings.cameras_file``, default ``config/cameras.yaml``)
loaded by :func:`load_registry`; the simulator builds the same dicts per scenario
camera and calls :func:`parse_camera`. Rows for ``camera_data.cameras`` come from
:meth:`CameraConfig.to_row`.

Schema (version 1). Units: pixels for ``image`` fields (u right, v down, origin at
the top-left corner), metres on the road plane for ``world`` fields::

    version: 1
    defaults:                      # optional; merged under every camera's `analysis`
      analysis: {stall_s: 20}
    cameras:
      - camera_id: cam-a           # unique; letters, digits, '_', '-', '.'
        name: Main St northbound   # optional
        site: main-5th             # optional
        width: 640                 # image size, px
        height: 360
        fps: 10                    # analysed frames per second
        calibration:               # exactly one of:
          points:                  #   >= 4 pairs, no 3 of 4 collinear, image points inside
            - {image: [u, v], world: [x, y]}
          homography: [[...], [...], [...]]   # 3x3 image -> world, row-major
        lanes:
          - lane_id: nb-1
            centerline: [[x, y], [x, y], ...]   # world, ordered in the travel direction
            # or instead of centerline: start: [x, y], direction: [dx, dy], length_m: 80
            width_m: 3.5
        lines:                     # optional; default: one line per lane at mid-lane
          - line_id: nb-1-count
            lane_id: nb-1
            world: [[x, y], [x, y]]   # or image: [[u, v], [u, v]]; must be inside the image
            margin_m: 1.0             # hysteresis: cross from beyond -margin to beyond +margin
            directions: [forward, reverse]
        zones:                     # optional; default: a detector zone per lane at its line
          - zone_id: nb-1-queue
            kind: queue            # detector (occupancy) | queue (queue length) | incident
            lane_id: nb-1          # required for detector and queue zones
            world: [[x, y], ...]   # or image: [[u, v], ...]; polygon, >= 3 points
        analysis: {}               # optional overrides of AnalysisParams fields

Direction ``forward`` is travel along the lane's centerline order; ``reverse`` is
wrong-way. A line crossing counts for the line's lane only, and only where the
crossing point lies on the segment (lines are per lane).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from itscam.domain.geometry import Homography, check_in_front, check_in_image
from itscam.errors import ConfigError, GeometryError

ZONE_KINDS = ("detector", "queue", "incident")
DIRECTIONS = ("forward", "reverse")
_ID_RE = re.compile(r"^[A-Za-z0-9_.\-:]+$")


@dataclass(frozen=True)
class AnalysisParams:
    """Per-camera thresholds. Every field can be overridden in ``analysis:``."""

    #: Tracker: detections at or above this confidence are first-stage matches.
    high_conf: float = 0.5
    #: Tracker: detections below this are ignored entirely.
    low_conf: float = 0.1
    #: Tracker: minimum IoU for a match.
    match_iou: float = 0.2
    #: Tracker: frames a track must be seen before it is reported (and may count).
    min_hits: int = 2
    #: Tracker: seconds a lost track is kept for re-association.
    max_lost_s: float = 1.5
    #: Speed: seconds of history used by the robust fit.
    speed_window_s: float = 1.0
    #: Below this speed a vehicle is "stopped" (queue, stall).
    stopped_kmh: float = 5.0
    #: A vehicle stopped this long outside a queue zone is a stalled vehicle.
    stall_s: float = 20.0
    #: Deceleration (m/s^2) counted as an abrupt stop.
    abrupt_decel_mps2: float = 6.0
    #: Incident: this many stalled vehicles / abrupt stops in one zone within `incident_window_s`.
    incident_min_vehicles: int = 2
    incident_window_s: float = 60.0
    #: Wrong-way: metres travelled against the lane direction inside the lane.
    wrong_way_min_m: float = 10.0
    #: Congestion: density (pc/mi/ln) at or above which a minute is LOS E or F.
    congestion_density: float = 35.0
    #: Congestion: consecutive congested minutes before the event starts (and clear ones to end).
    congestion_minutes: int = 2
    #: Passenger-car equivalent of a heavy vehicle (HCM 6 E_T).
    heavy_pce: float = 2.0
    #: Camera offline: seconds without frames or heartbeats.
    offline_after_s: float = 10.0
    #: Windows: seconds a minute stays open after its end for late crossings.
    lateness_s: float = 2.0
    #: Default detector zone length (m) centred on a lane's counting line.
    detector_zone_m: float = 6.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, camera_id: str) -> AnalysisParams:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(
                f"camera {camera_id!r}, field 'analysis': unknown keys {unknown}; "
                f"known: {sorted(known)}"
            )
        out = {}
        for k, v in d.items():
            default = getattr(cls, k)
            try:
                out[k] = type(default)(v)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"camera {camera_id!r}, field 'analysis.{k}': expected a number, got {v!r}"
                ) from None
        return cls(**out)


@dataclass(frozen=True)
class Lane:
    """One lane and its travel direction.

    Attributes:
        lane_id: unique within the camera.
        centerline: ``(K, 2)`` world metres, K >= 2, ordered in the travel direction.
        width_m: lane width.
    """

    lane_id: str
    centerline: np.ndarray
    width_m: float

    @property
    def seg_start(self) -> np.ndarray:
        """``(K-1, 2)`` start point of each centerline segment."""
        return self.centerline[:-1]

    @property
    def seg_vec(self) -> np.ndarray:
        """``(K-1, 2)`` vector of each centerline segment."""
        return np.diff(self.centerline, axis=0)

    @property
    def length_m(self) -> float:
        return float(np.hypot(*self.seg_vec.T).sum())

    def locate(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project ``(M, 2)`` world points onto the centerline.

        Returns ``(s, lateral, tangent)``: ``(M,)`` arc length from the first point (m),
        ``(M,)`` unsigned distance to the centerline (m), ``(M, 2)`` unit travel direction
        at the nearest segment.
        """
        p = np.asarray(xy, np.float64).reshape(-1, 2)
        a, v = self.seg_start, self.seg_vec
        seg_len = np.hypot(v[:, 0], v[:, 1])
        rel = p[:, None, :] - a[None, :, :]
        t = np.clip((rel * v[None]).sum(-1) / (seg_len**2)[None], 0.0, 1.0)
        closest = a[None] + t[..., None] * v[None]
        dist = np.hypot(*(p[:, None, :] - closest).transpose(2, 0, 1))
        k = np.argmin(dist, axis=1)
        rows = np.arange(len(p))
        cum = np.concatenate([[0.0], np.cumsum(seg_len)])
        s = cum[k] + t[rows, k] * seg_len[k]
        tangent = v[k] / seg_len[k, None]
        return s, dist[rows, k], tangent


@dataclass(frozen=True)
class CountLine:
    """A counting line in world metres.

    ``normal`` is the unit normal oriented along the lane's travel direction, so the
    signed distance ``(p - p1) . normal`` goes from negative to positive for a
    forward crossing.
    """

    line_id: str
    lane_id: str
    p1: np.ndarray
    p2: np.ndarray
    normal: np.ndarray
    margin_m: float
    directions: tuple[str, ...]


@dataclass(frozen=True)
class Zone:
    """A polygon zone in world metres: ``polygon`` is ``(K, 2)``, K >= 3."""

    zone_id: str
    kind: str
    lane_id: str | None
    polygon: np.ndarray


@dataclass(frozen=True)
class CameraConfig:
    """One camera's validated configuration. Build with :func:`parse_camera`."""

    camera_id: str
    name: str
    site: str
    width: int
    height: int
    fps: float
    homography: Homography
    lanes: tuple[Lane, ...]
    lines: tuple[CountLine, ...]
    zones: tuple[Zone, ...]
    params: AnalysisParams
    raw: dict = field(repr=False, default_factory=dict)
    #: Sign of the projective w (world -> image) of road points in front of the camera.
    front_sign: float = 1.0

    @cached_property
    def lane_visible_m(self) -> np.ndarray:
        """``(lanes,)`` length (m) of each lane's centerline that projects inside the image."""
        out = []
        for lane in self.lanes:
            pts = [lane.centerline[:1]]
            for a, b in zip(lane.centerline[:-1], lane.centerline[1:], strict=True):
                n = max(1, int(np.hypot(*(b - a)) / 0.5))
                pts.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
            p = np.concatenate(pts)
            Hi = self.homography.H_inv
            w = (p @ Hi[2, :2] + Hi[2, 2]) * self.front_sign
            uv = self.homography.to_image(p)
            inside = (w > 0) & (uv[:, 0] >= 0) & (uv[:, 0] <= self.width) & (uv[:, 1] >= 0)
            inside &= uv[:, 1] <= self.height
            seg = np.hypot(*np.diff(p, axis=0).T)
            out.append(float(seg[inside[:-1] & inside[1:]].sum()))
        return np.array(out)

    def lane(self, lane_id: str) -> Lane:
        for ln in self.lanes:
            if ln.lane_id == lane_id:
                return ln
        raise KeyError(lane_id)

    def to_row(self) -> dict[str, Any]:
        """A ``camera_data.cameras`` row (without ``updated_at``)."""
        return {
            "camera_id": self.camera_id,
            "name": self.name,
            "site": self.site,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "config": self.raw,
            "homography": self.homography.flat(),
        }


@dataclass(frozen=True)
class Registry:
    """All cameras by id."""

    cameras: dict[str, CameraConfig]

    def get(self, camera_id: str) -> CameraConfig:
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise ConfigError(
                f"unknown camera {camera_id!r}; add it to the camera registry (known: "
                f"{sorted(self.cameras)[:10]})"
            ) from None

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self.cameras

    def __iter__(self):
        return iter(self.cameras.values())

    def __len__(self) -> int:
        return len(self.cameras)


# --------------------------------------------------------------------------- parsing


def _pts(value: Any, *, camera_id: str, fld: str, min_n: int) -> np.ndarray:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0,))
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < min_n or not np.isfinite(arr).all():
        raise GeometryError(
            f"camera {camera_id!r}, field {fld!r}: expected a list of >= {min_n} [x, y] points, "
            f"got {value!r}"
        )
    return arr


def _req(d: Mapping, key: str, *, camera_id: str, fld: str) -> Any:
    if key not in d:
        raise ConfigError(f"camera {camera_id!r}, field {fld!r}: missing required key {key!r}")
    return d[key]


def _id(value: Any, *, camera_id: str, fld: str) -> str:
    s = str(value)
    if not _ID_RE.match(s):
        raise ConfigError(
            f"camera {camera_id!r}, field {fld!r}: id {s!r} must be letters, digits, '_', '-', '.', ':'"
        )
    return s


def _world_or_image(
    d: Mapping,
    *,
    cam: str,
    fld: str,
    hom: Homography,
    size: tuple[int, int],
    min_n: int,
    front: float,
) -> np.ndarray:
    """World points of a geometry given either as ``world`` or ``image`` coordinates.

    Both forms must map inside the image and in front of the camera.
    """
    if ("world" in d) == ("image" in d):
        raise GeometryError(
            f"camera {cam!r}, field {fld!r}: give exactly one of 'world' or 'image'"
        )
    if "image" in d:
        img = _pts(d["image"], camera_id=cam, fld=f"{fld}.image", min_n=min_n)
        check_in_image(img, size, camera_id=cam, field=f"{fld}.image")
        return hom.to_world(img)
    wld = _pts(d["world"], camera_id=cam, fld=f"{fld}.world", min_n=min_n)
    check_in_front(hom.H_inv, wld, camera_id=cam, field=f"{fld}.world", sign=front)
    check_in_image(hom.to_image(wld), size, camera_id=cam, field=f"{fld}.world", tol=2.0)
    return wld


def _parse_lane(d: Mapping, *, cam: str, fld: str) -> Lane:
    lane_id = _id(_req(d, "lane_id", camera_id=cam, fld=fld), camera_id=cam, fld=f"{fld}.lane_id")
    fld = f"lanes[{lane_id}]"
    width = float(d.get("width_m", 3.5))
    if not 1.0 <= width <= 10.0:
        raise GeometryError(f"camera {cam!r}, field '{fld}.width_m': {width} m is not a lane width")
    if "centerline" in d:
        cl = _pts(d["centerline"], camera_id=cam, fld=f"{fld}.centerline", min_n=2)
    elif "direction" in d:
        start = _pts(
            [_req(d, "start", camera_id=cam, fld=fld)], camera_id=cam, fld=f"{fld}.start", min_n=1
        )[0]
        vec = _pts([d["direction"]], camera_id=cam, fld=f"{fld}.direction", min_n=1)[0]
        norm = float(np.hypot(*vec))
        if norm < 1e-9:
            raise GeometryError(f"camera {cam!r}, field '{fld}.direction': zero vector")
        length = float(_req(d, "length_m", camera_id=cam, fld=fld))
        cl = np.stack([start, start + vec / norm * length])
    else:
        raise GeometryError(
            f"camera {cam!r}, field {fld!r}: give 'centerline' or 'start' + 'direction' + 'length_m'"
        )
    seg = np.hypot(*np.diff(cl, axis=0).T)
    if np.any(seg < 0.1):
        raise GeometryError(
            f"camera {cam!r}, field '{fld}.centerline': consecutive points closer than 0.1 m"
        )
    return Lane(lane_id, cl, width)


def _line_normal(p1: np.ndarray, p2: np.ndarray, lane: Lane, *, cam: str, fld: str) -> np.ndarray:
    d = p2 - p1
    length = float(np.hypot(*d))
    if length < 0.5:
        raise GeometryError(f"camera {cam!r}, field {fld!r}: line shorter than 0.5 m")
    n = np.array([-d[1], d[0]]) / length
    _, _, tangent = lane.locate(((p1 + p2) / 2)[None])
    c = float(n @ tangent[0])
    if abs(c) < 0.3:
        raise GeometryError(
            f"camera {cam!r}, field {fld!r}: line is (nearly) parallel to lane "
            f"{lane.lane_id!r}; a counting line must cut across the lane"
        )
    return n if c > 0 else -n


def _default_line(lane: Lane, params: AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
    """A line across ``lane`` at half its length, as wide as the lane."""
    s_mid = lane.length_m / 2
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*lane.seg_vec.T))])
    k = int(np.clip(np.searchsorted(cum, s_mid) - 1, 0, len(lane.seg_vec) - 1))
    t = lane.seg_vec[k] / np.hypot(*lane.seg_vec[k])
    c = lane.seg_start[k] + t * (s_mid - cum[k])
    n = np.array([-t[1], t[0]])
    return c - n * lane.width_m / 2, c + n * lane.width_m / 2


def parse_camera(
    d: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None
) -> CameraConfig:
    """Validate one camera dict (schema in the module docstring) into a :class:`CameraConfig`.

    Raises:
        ConfigError / GeometryError naming the camera and the offending field.
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"camera entry must be a mapping, got {type(d).__name__}")
    cam = _id(_req(d, "camera_id", camera_id="?", fld="camera_id"), camera_id="?", fld="camera_id")
    try:
        width, height = (
            int(_req(d, "width", camera_id=cam, fld="width")),
            int(_req(d, "height", camera_id=cam, fld="height")),
        )
        fps = float(d.get("fps", 10.0))
    except (TypeError, ValueError):
        raise ConfigError(f"camera {cam!r}, field 'width/height/fps': must be numbers") from None
    if width <= 0 or height <= 0 or fps <= 0:
        raise ConfigError(f"camera {cam!r}, field 'width/height/fps': must be positive")
    size = (width, height)
    merged = dict((defaults or {}).get("analysis", {}) or {})
    merged.update(d.get("analysis", {}) or {})
    params = AnalysisParams.from_dict(merged, camera_id=cam)

    calib = _req(d, "calibration", camera_id=cam, fld="calibration")
    if not isinstance(calib, Mapping) or (("points" in calib) == ("homography" in calib)):
        raise GeometryError(
            f"camera {cam!r}, field 'calibration': give exactly one of 'points' (>= 4 "
            "image<->world pairs) or 'homography' (3x3 image -> world)"
        )
    if "points" in calib:
        pairs = calib["points"]
        if not isinstance(pairs, list) or not all(
            isinstance(p, Mapping) and "image" in p and "world" in p for p in pairs
        ):
            raise GeometryError(
                f"camera {cam!r}, field 'calibration.points': expected a list of "
                "{image: [u, v], world: [x, y]}"
            )
        img = _pts(
            [p["image"] for p in pairs], camera_id=cam, fld="calibration.points.image", min_n=1
        )
        wld = _pts(
            [p["world"] for p in pairs], camera_id=cam, fld="calibration.points.world", min_n=1
        )
        hom = Homography.from_points(
            img, wld, camera_id=cam, field="calibration.points", image_size=size
        )
    else:
        hom = Homography(
            np.asarray(calib["homography"], np.float64),
            camera_id=cam,
            field="calibration.homography",
        )
    # Road cameras look down: the bottom-centre pixel is on the road in front of the
    # camera. The horizon (where w changes sign) must not cross the bottom edge.
    bottom = np.array([[0, height], [width, height], [width / 2, height]], np.float64)
    w = bottom @ hom.H[2, :2] + hom.H[2, 2]
    if not (np.all(w > 0) or np.all(w < 0)):
        raise GeometryError(
            f"camera {cam!r}, field 'calibration': the horizon crosses the bottom of the "
            "image; the homography is wrong (swapped image/world points?)"
        )
    front = float(np.sign(hom.H_inv[2] @ np.r_[hom.to_world(bottom[2:])[0], 1.0]))

    lanes_raw = _req(d, "lanes", camera_id=cam, fld="lanes")
    if not isinstance(lanes_raw, list) or not lanes_raw:
        raise ConfigError(f"camera {cam!r}, field 'lanes': need at least one lane")
    lanes = tuple(_parse_lane(x, cam=cam, fld=f"lanes[{i}]") for i, x in enumerate(lanes_raw))
    lane_by_id = {ln.lane_id: ln for ln in lanes}
    if len(lane_by_id) != len(lanes):
        raise ConfigError(f"camera {cam!r}, field 'lanes': duplicate lane_id")

    lines: list[CountLine] = []
    for i, ld in enumerate(d.get("lines") or []):
        fld = f"lines[{i}]"
        line_id = _id(
            _req(ld, "line_id", camera_id=cam, fld=fld), camera_id=cam, fld=f"{fld}.line_id"
        )
        fld = f"lines[{line_id}]"
        lane_id = str(_req(ld, "lane_id", camera_id=cam, fld=fld))
        if lane_id not in lane_by_id:
            raise ConfigError(f"camera {cam!r}, field '{fld}.lane_id': no lane {lane_id!r}")
        wld = _world_or_image(ld, cam=cam, fld=fld, hom=hom, size=size, min_n=2, front=front)
        if len(wld) != 2:
            raise GeometryError(f"camera {cam!r}, field {fld!r}: a line has exactly 2 points")
        dirs = tuple(ld.get("directions", DIRECTIONS))
        if not dirs or any(x not in DIRECTIONS for x in dirs):
            raise ConfigError(f"camera {cam!r}, field '{fld}.directions': subset of {DIRECTIONS}")
        margin = float(ld.get("margin_m", 1.0))
        if not 0 <= margin <= 5:
            raise ConfigError(f"camera {cam!r}, field '{fld}.margin_m': 0..5 m")
        n = _line_normal(wld[0], wld[1], lane_by_id[lane_id], cam=cam, fld=fld)
        lines.append(CountLine(line_id, lane_id, wld[0], wld[1], n, margin, dirs))
    counted = {ln.lane_id for ln in lines}
    for lane in lanes:
        if lane.lane_id in counted:
            continue
        p1, p2 = _default_line(lane, params)
        fld = f"lanes[{lane.lane_id}] (default counting line)"
        check_in_front(hom.H_inv, np.stack([p1, p2]), camera_id=cam, field=fld, sign=front)
        check_in_image(hom.to_image(np.stack([p1, p2])), size, camera_id=cam, field=fld, tol=2.0)
        n = _line_normal(p1, p2, lane, cam=cam, fld=fld)
        lines.append(CountLine(f"{lane.lane_id}:count", lane.lane_id, p1, p2, n, 1.0, DIRECTIONS))
    if len({ln.line_id for ln in lines}) != len(lines):
        raise ConfigError(f"camera {cam!r}, field 'lines': duplicate line_id")

    zones: list[Zone] = []
    for i, zd in enumerate(d.get("zones") or []):
        fld = f"zones[{i}]"
        zone_id = _id(
            _req(zd, "zone_id", camera_id=cam, fld=fld), camera_id=cam, fld=f"{fld}.zone_id"
        )
        fld = f"zones[{zone_id}]"
        kind = str(_req(zd, "kind", camera_id=cam, fld=fld))
        if kind not in ZONE_KINDS:
            raise ConfigError(
                f"camera {cam!r}, field '{fld}.kind': one of {ZONE_KINDS}, got {kind!r}"
            )
        lane_id = zd.get("lane_id")
        if lane_id is not None and lane_id not in lane_by_id:
            raise ConfigError(f"camera {cam!r}, field '{fld}.lane_id': no lane {lane_id!r}")
        if kind in ("detector", "queue") and lane_id is None:
            raise ConfigError(f"camera {cam!r}, field '{fld}.lane_id': required for {kind} zones")
        poly = _world_or_image(zd, cam=cam, fld=fld, hom=hom, size=size, min_n=3, front=front)
        if _polygon_area(poly) < 0.5:
            raise GeometryError(f"camera {cam!r}, field {fld!r}: polygon area below 0.5 m^2")
        zones.append(Zone(zone_id, kind, lane_id, poly))
    with_detector = {z.lane_id for z in zones if z.kind == "detector"}
    for line in lines:
        if line.lane_id in with_detector:
            continue
        with_detector.add(line.lane_id)
        zones.append(_default_detector(line, lane_by_id[line.lane_id], params.detector_zone_m))
    if len({z.zone_id for z in zones}) != len(zones):
        raise ConfigError(f"camera {cam!r}, field 'zones': duplicate zone_id")

    raw = _jsonable(dict(d))
    return CameraConfig(
        camera_id=cam,
        name=str(d.get("name", cam)),
        site=str(d.get("site", "")),
        width=width,
        height=height,
        fps=fps,
        homography=hom,
        lanes=lanes,
        lines=tuple(lines),
        zones=tuple(zones),
        params=params,
        raw=raw,
        front_sign=front,
    )


def _default_detector(line: CountLine, lane: Lane, length_m: float) -> Zone:
    """A rectangle ``length_m`` long along the lane, centred on the counting line."""
    c = (line.p1 + line.p2) / 2
    t = line.normal * (length_m / 2)
    half = (line.p2 - line.p1) / 2
    poly = np.stack([c - half - t, c + half - t, c + half + t, c - half + t])
    return Zone(f"{lane.lane_id}:detector", "detector", lane.lane_id, poly)


def _polygon_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def parse_registry(doc: Mapping[str, Any], *, source: str = "<dict>") -> Registry:
    """Validate a whole registry document (schema in the module docstring)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("cameras"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'cameras' list")
    version = doc.get("version", 1)
    if version != 1:
        raise ConfigError(f"{source}: registry version {version!r} unsupported (this code reads 1)")
    defaults = doc.get("defaults") or {}
    cams: dict[str, CameraConfig] = {}
    for c in doc["cameras"]:
        cfg = parse_camera(c, defaults=defaults)
        if cfg.camera_id in cams:
            raise ConfigError(f"{source}: camera {cfg.camera_id!r} is defined twice")
        cams[cfg.camera_id] = cfg
    return Registry(cams)


def load_registry(path: str | Path) -> Registry:
    """Load and validate the camera registry YAML at ``path``."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"camera registry {p} not found; set ITSCAM_CAMERAS_FILE or create it"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"camera registry {p} is not valid YAML: {e}") from None
    return parse_registry(doc, source=str(p))
