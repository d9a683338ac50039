"""Scenarios: a layout, cameras, traffic and events from YAML, run in time with ground truth.

A scenario file (``itscam/sim/scenarios/*.yaml``)::

    name: arterial
    description: ...
    duration_s: 600          # evaluation length (10 simulated minutes)
    fps: 10                  # simulation step and camera frame rate
    seed: 11
    start_ts: 1767225600.0   # capture time of t = 0 (epoch seconds, UTC)
    interval_s: 60           # per-interval count bins
    layout: {kind: straight, lanes_forward: 2, lanes_backward: 2, lane_width: 3.5, ...}
    cameras:
      - {camera_id: sim-arterial-1, x: 9, y: -30, height: 10, yaw_deg: 100, tilt_deg: 16,
         hfov_deg: 60, look: day, count_at_s: 10}
    traffic: {demand_veh_h: 700, class_mix: {...}, lane_changes: true, signal: {...}}
    events:
      congestion: {...}; stalled_vehicle: {...}; incident: {...}; wrong_way: {...}
      # see TrafficConfig
      camera_outage: {camera: sim-arterial-1, start_s: 480, end_s: 520}

Ground truth:

- per frame and camera: :class:`~itscam.sim.render.GroundTruthBox` list (boxes, class,
  track id, road contact point, footprint centre, speed, lane);
- per scenario (:class:`ScenarioTruth`): line crossings per camera, lane,
  direction and class with timestamps; counts per interval; events with start
  and end times (stalled vehicle, incident, wrong-way, congestion, camera offline).
  An incident's vehicles are stalled vehicles too (each stopped in a live lane).

A crossing happens when a vehicle's footprint centre passes the counting line
of its lane (a line across the lane at road coordinate ``count_at_s``, the
same line :meth:`Scenario.camera_config` exports), interpolated between steps.
"Its lane" is the lane the centre physically lies in at that moment: a vehicle
changing lanes is switched to its target lane when it decides, then glides
across for 3 s, and a per-lane counting station (loop or video) counts it where
it is, not where it is heading.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from itscam.errors import ConfigError, GeometryError
from itscam.sim.camera import PinholeCamera
from itscam.sim.geometry import Layout, Road, intersection_layout, straight_layout
from itscam.sim.render import Frame, Look, Renderer
from itscam.sim.traffic import TrafficConfig, TrafficSim

SCENARIO_DIR = Path(str(resources.files("itscam.sim") / "scenarios"))
DEFAULT_START_TS = 1767225600.0  # 2026-01-01T00:00:00Z
#: Density (pc/mi/ln) at or above which a minute is congested (LOS E/F), as in the registry.
CONGESTED_PC_MI_LN = 35.0
HEAVY_PCE = 2.0


@dataclass(frozen=True)
class SimCamera:
    camera_id: str
    name: str
    camera: PinholeCamera
    look: Look
    count_at_s: float
    road_id: str


@dataclass
class ScenarioTruth:
    """Scenario-level ground truth; every timestamp is capture time (epoch seconds)."""

    crossings: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    interval_s: float = 60.0
    start_ts: float = DEFAULT_START_TS
    density: list[dict] = field(default_factory=list)

    def counts(self) -> list[dict]:
        """Crossings per ``(camera, lane, direction, class, interval start)``."""
        c: Counter = Counter()
        for x in self.crossings:
            k = math.floor((x["ts"] - self.start_ts) / self.interval_s)
            c[
                (
                    x["camera_id"],
                    x["lane_id"],
                    x["direction"],
                    x["class"],
                    self.start_ts + k * self.interval_s,
                )
            ] += 1
        return [
            {
                "camera_id": cam,
                "lane_id": lane,
                "direction": d,
                "class": cls,
                "interval_start": ts,
                "count": n,
            }
            for (cam, lane, d, cls, ts), n in sorted(c.items())
        ]

    def to_dict(self) -> dict:
        return {
            "crossings": self.crossings,
            "counts": self.counts(),
            "events": self.events,
            "density": self.density,
            "interval_s": self.interval_s,
            "start_ts": self.start_ts,
        }


@dataclass
class SimStep:
    """One time step: ``t`` seconds since start, ``ts`` capture time, frames per camera.

    ``frames[camera_id]`` is None while that camera is in an outage.
    """

    index: int
    t: float
    ts: float
    frames: dict[str, Frame | None]


def _layout(d: dict) -> Layout:
    d = dict(d)
    kind = d.pop("kind", "straight")
    if kind == "straight":
        return straight_layout(**d)
    if kind == "intersection":
        return intersection_layout(**d)
    raise ConfigError(f"layout.kind {kind!r}: use straight or intersection")


class Scenario:
    """A loaded scenario; see the module docstring for the YAML schema."""

    def __init__(self, spec: dict[str, Any], *, seed: int | None = None) -> None:
        self.spec = spec
        try:
            self.name = str(spec["name"])
            self.duration_s = float(spec.get("duration_s", 600))
            self.fps = float(spec.get("fps", 10))
            self.seed = int(spec.get("seed", 0) if seed is None else seed)
            self.start_ts = float(spec.get("start_ts", DEFAULT_START_TS))
            self.interval_s = float(spec.get("interval_s", 60))
            self.layout = _layout(spec.get("layout", {}))
            events = dict(spec.get("events") or {})
            self.outages = (
                [dict(o) for o in (events.pop("camera_outage", None) or [])]
                if isinstance(events.get("camera_outage"), list)
                else ([dict(events.pop("camera_outage"))] if events.get("camera_outage") else [])
            )
            events.pop("camera_outage", None)
            traffic = dict(spec.get("traffic") or {})
            self.traffic = TrafficConfig(**traffic, **events)
            self.cameras = [self._camera(c) for c in spec["cameras"]]
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"scenario {spec.get('name', '?')!r}: invalid field ({exc}); "
                "see itscam/sim/scenario.py for the schema"
            ) from None
        if not self.cameras:
            raise ConfigError(f"scenario {self.name!r}: needs at least one camera")

    @classmethod
    def load(cls, name_or_path: str | Path, *, seed: int | None = None) -> Scenario:
        """Load a shipped scenario by name (``arterial``) or a YAML path."""
        p = Path(name_or_path)
        if not p.exists():
            p = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not p.exists():
            raise ConfigError(f"no scenario {name_or_path!r}; shipped: {shipped_scenarios()}")
        return cls(yaml.safe_load(p.read_text()), seed=seed)

    def _camera(self, c: dict) -> SimCamera:
        width, height = int(c.get("width", 640)), int(c.get("height", 360))
        cam = PinholeCamera.from_hfov(
            hfov_deg=float(c.get("hfov_deg", 60)),
            width=width,
            height_px=height,
            x=float(c["x"]),
            y=float(c["y"]),
            height=float(c["height_m"]),
            yaw_deg=float(c["yaw_deg"]),
            tilt_deg=float(c["tilt_deg"]),
            roll_deg=float(c.get("roll_deg", 0.0)),
        )
        look = Look.sample(
            np.random.default_rng([self.seed, 99, len(c["camera_id"])]), str(c.get("look", "day"))
        )
        road_id = str(c.get("road", self.layout.roads[0].id))
        return SimCamera(
            str(c["camera_id"]),
            str(c.get("name", c["camera_id"])),
            cam,
            look,
            float(c.get("count_at_s", 0.0)),
            road_id,
        )

    def camera(self, camera_id: str | None = None) -> SimCamera:
        if camera_id is None:
            return self.cameras[0]
        for c in self.cameras:
            if c.camera_id == camera_id:
                return c
        raise ConfigError(f"scenario {self.name!r} has no camera {camera_id!r}")

    def with_resolution(self, width: int, height: int) -> Scenario:
        """A copy whose cameras render at ``width`` x ``height`` (same view)."""
        spec = dict(self.spec)
        spec["cameras"] = [dict(c, width=width, height=height) for c in self.spec["cameras"]]
        if width / height != self.cameras[0].camera.width / self.cameras[0].camera.height_px:
            raise ConfigError("with_resolution keeps the aspect ratio of the scenario's cameras")
        return Scenario(spec, seed=self.seed)

    # -- camera registry -----------------------------------------------------------

    def _visible_span(self, sc: SimCamera, road: Road, offset: float) -> tuple[float, float] | None:
        cam = sc.camera
        s = np.arange(-road.half_length, road.half_length, 0.5)
        uv, z = cam.project(
            np.column_stack([road.point(s, np.full_like(s, offset)), np.zeros(len(s))])
        )
        m = 3.0
        ok = (
            (z > 1.0)
            & (uv[:, 0] > m)
            & (uv[:, 0] < cam.width - m)
            & (uv[:, 1] > cam.height_px * 0.15)
            & (uv[:, 1] < cam.height_px - m)
        )
        if ok.sum() < 6:
            return None
        return float(s[ok].min()), float(s[ok].max())

    def camera_config(self, camera_id: str | None = None) -> dict:
        """The camera's registry entry (schema of ``itscam/domain/registry.py``).

        Calibration: 6 image<->world pairs on the road, projected with the exact
        camera model (any 4 fix the homography); lanes: each lane's visible stretch
        in its travel direction; lines: one per lane at ``count_at_s``; zones: an
        incident zone over the visible road.
        """
        sc = self.camera(camera_id)
        cam = sc.camera
        road = self.layout.road(sc.road_id)
        lanes, lines, spans = [], [], []
        for lane in road.lanes:
            span = self._visible_span(sc, road, lane.offset)
            if span is None:
                continue
            s0, s1 = span
            if not s0 + 1 < sc.count_at_s < s1 - 1:
                continue
            a, b = road.point(s0, lane.offset), road.point(s1, lane.offset)
            if lane.direction < 0:
                a, b = b, a
            lanes.append({"lane_id": lane.id, "centerline": [_r(a), _r(b)], "width_m": lane.width})
            hw = lane.width / 2
            lines.append(
                {
                    "line_id": f"{lane.id}-count",
                    "lane_id": lane.id,
                    "world": [
                        _r(road.point(sc.count_at_s, lane.offset - hw)),
                        _r(road.point(sc.count_at_s, lane.offset + hw)),
                    ],
                    "margin_m": 1.0,
                }
            )
            spans.append(span)
        if not lanes:
            raise GeometryError(
                f"scenario {self.name!r}, camera {sc.camera_id!r}: no lane is "
                "visible across count_at_s; move the camera or the line"
            )
        s0 = max(sp[0] for sp in spans)
        s1 = min(sp[1] for sp in spans)
        calib = []
        for s in np.linspace(s0, s1, 3):
            for off in (road.left_edge * 0.9, road.right_edge * 0.9):
                w = road.point(s, off)
                uv = cam.project(np.array([[w[0], w[1], 0.0]]))[0][0]
                if 0 <= uv[0] <= cam.width and 0 <= uv[1] <= cam.height_px:
                    calib.append({"image": _r(uv, 3), "world": _r(w, 4)})
        if len(calib) < 4:
            calib = self._fallback_calibration(sc)
        edges = (road.left_edge + 0.2, road.right_edge - 0.2)
        edge_spans = [self._visible_span(sc, road, off) for off in edges]
        z0 = max([sp[0] for sp in edge_spans if sp] + [s0]) + 0.5
        z1 = min([sp[1] for sp in edge_spans if sp] + [s1]) - 0.5
        if not all(edge_spans):
            edges = (min(ln.offset for ln in road.lanes), max(ln.offset for ln in road.lanes))
        zone = [
            road.point(z0, edges[0]),
            road.point(z1, edges[0]),
            road.point(z1, edges[1]),
            road.point(z0, edges[1]),
        ]
        return {
            "camera_id": sc.camera_id,
            "name": sc.name,
            "site": f"sim-{self.name}",
            "width": cam.width,
            "height": cam.height_px,
            "fps": self.fps,
            "calibration": {"points": calib},
            "lanes": lanes,
            "lines": lines,
            "zones": [
                {
                    "zone_id": f"{sc.camera_id}-incident",
                    "kind": "incident",
                    "world": [_r(p) for p in zone],
                }
            ],
        }

    def camera_configs(self) -> list[dict]:
        return [self.camera_config(c.camera_id) for c in self.cameras]

    @staticmethod
    def _fallback_calibration(sc: SimCamera) -> list[dict]:
        cam = sc.camera
        pts = []
        for u, v in ((0.2, 0.6), (0.8, 0.6), (0.2, 0.95), (0.8, 0.95), (0.5, 0.8)):
            uv = np.array([[u * cam.width, v * cam.height_px]])
            w = cam.image_to_ground(uv)[0]
            pts.append({"image": _r(uv[0], 2), "world": _r(w, 3)})
        return pts

    def homography(self, camera_id: str | None = None) -> np.ndarray:
        """Exact ``(3, 3)`` road plane -> image homography of a camera."""
        return self.camera(camera_id).camera.homography

    # -- running -------------------------------------------------------------------

    def in_outage(self, camera_id: str, t: float) -> bool:
        return any(
            o.get("camera", camera_id) == camera_id and float(o["start_s"]) <= t < float(o["end_s"])
            for o in self.outages
        )

    def run(
        self,
        *,
        render: bool = True,
        cameras: list[str] | None = None,
        duration_s: float | None = None,
        truth: ScenarioTruth | None = None,
        every: int = 1,
        from_s: float = 0.0,
    ) -> Iterator[SimStep]:
        """Step the scenario, yielding every ``every``-th step's frames from ``from_s`` on.

        Pass a :class:`ScenarioTruth` to collect crossings, densities and events as
        the run goes (it is complete once the iterator is exhausted).
        """
        dt = 1.0 / self.fps
        n = round((self.duration_s if duration_s is None else duration_s) * self.fps)
        sim = TrafficSim(self.layout, self.traffic, self.seed)
        chosen = [c for c in self.cameras if cameras is None or c.camera_id in cameras]
        renderers = (
            {
                c.camera_id: Renderer(self.layout, c.camera, c.look, seed=self.seed * 1000 + i)
                for i, c in enumerate(chosen)
            }
            if render
            else {}
        )
        tracker = _TruthTracker(self, truth, chosen) if truth is not None else None
        for i in range(n):
            t = i * dt
            if tracker:
                tracker.before(sim)
            frames: dict[str, Frame | None] = {}
            if i % every == 0 and t >= from_s - 1e-9:
                states = [v.state() for v in sim.vehicles]
                for c in chosen:
                    if self.in_outage(c.camera_id, t):
                        frames[c.camera_id] = None
                    elif render:
                        near = [
                            s
                            for s in states
                            if math.hypot(s.x - c.camera.x, s.y - c.camera.y) < 300
                        ]
                        frames[c.camera_id] = renderers[c.camera_id].render(near, i)
                yield SimStep(i, t, self.start_ts + t, frames)
            sim.step(dt)
            if tracker:
                tracker.after(sim, t + dt)
        if tracker:
            tracker.finish(sim, n * dt)

    def ground_truth(self, duration_s: float | None = None) -> ScenarioTruth:
        """Scenario ground truth without rendering (fast)."""
        truth = ScenarioTruth(interval_s=self.interval_s, start_ts=self.start_ts)
        for _ in self.run(render=False, duration_s=duration_s, truth=truth):
            pass
        return truth


def _r(p: Any, nd: int = 3) -> list[float]:
    return [round(float(x), nd) for x in p]


class _TruthTracker:
    """Turns consecutive simulator states into crossings, densities and events."""

    def __init__(self, sc: Scenario, truth: ScenarioTruth, cams: list[SimCamera]) -> None:
        self.sc, self.truth, self.cams = sc, truth, cams
        self.prev: dict[int, tuple[float, str]] = {}
        self.lines: list[tuple[SimCamera, Road, float, set[str]]] = []
        self.spans: dict[tuple[str, str], tuple[float, float]] = {}
        for c in cams:
            road = sc.layout.road(c.road_id)
            cfg = sc.camera_config(c.camera_id)
            lanes = {ln["lane_id"] for ln in cfg["lanes"]}
            self.lines.append((c, road, c.count_at_s, lanes))
            for lane in road.lanes:
                if lane.id in lanes:
                    span = sc._visible_span(c, road, lane.offset)
                    if span:
                        self.spans[(c.camera_id, lane.id)] = span
        self.occ: dict[tuple[str, str, int], float] = defaultdict(float)
        self.stall_start: float | None = None
        self.stall_end: float | None = None
        #: incident vehicle id -> [lane id, stopped at, moved off at (None: still there)]
        self.inc_stops: dict[int, list] = {}
        self.ww_seen: dict[str, list[float]] = {}
        self.outage_done = False

    @staticmethod
    def _s(v) -> float:
        return v.lane.direction * (v.p - v.road.half_length)

    @staticmethod
    def _physical_lane(v, road):
        """The lane of ``road`` (same travel direction) whose band holds ``v``'s centre."""
        if not v.lateral:
            return v.lane
        pos = v.lane.offset + v.lateral
        same = [ln for ln in road.lanes if ln.direction == v.lane.direction]
        return min(same, key=lambda ln: abs(ln.offset - pos))

    def before(self, sim: TrafficSim) -> None:
        self.prev = {v.id: (self._s(v), v.lane.id) for v in sim.vehicles}

    def after(self, sim: TrafficSim, t: float) -> None:
        dt = 1.0 / self.sc.fps
        minute = math.floor((t - dt) / self.sc.interval_s)
        for v in sim.vehicles:
            s_now = self._s(v)
            prev = self.prev.get(v.id)
            for c, road, s_line, lanes in self.lines:
                if v.road is not road:
                    continue
                lane = self._physical_lane(v, road)
                if lane.id not in lanes:
                    continue
                span = self.spans.get((c.camera_id, lane.id))
                if span and span[0] <= s_now <= span[1]:
                    pce = HEAVY_PCE if v.model.cls in ("bus", "truck") else 1.0
                    self.occ[(c.camera_id, lane.id, minute)] += pce * dt
                if prev is None:
                    continue
                s_prev = prev[0]
                if (s_prev - s_line) * (s_now - s_line) < 0 or (s_now == s_line != s_prev):
                    frac = (s_line - s_prev) / (s_now - s_prev)
                    ts = self.sc.start_ts + t - dt + frac * dt
                    moving_forward = (s_now - s_prev) * v.lane.direction > 0
                    self.truth.crossings.append(
                        {
                            "camera_id": c.camera_id,
                            "line_id": f"{lane.id}-count",
                            "lane_id": lane.id,
                            "track_id": v.id,
                            "class": v.model.cls,
                            "direction": "forward" if moving_forward else "reverse",
                            "ts": round(ts, 4),
                            "speed_mps": round(v.v, 3),
                            "camera_online": not self.sc.in_outage(c.camera_id, t - dt),
                        }
                    )
            if v.wrong_way:
                for c, road, _, _lanes in self.lines:
                    span = self.spans.get((c.camera_id, v.lane.id))
                    if v.road is road and span and span[0] <= s_now <= span[1]:
                        self.ww_seen.setdefault(c.camera_id, [t, t])[1] = t
            if v.id in sim.incident_ids:
                rec = self.inc_stops.get(v.id)
                if rec is None and v.stalled_since is not None:
                    self.inc_stops[v.id] = [v.lane.id, v.stalled_since, None]
                elif rec is not None and rec[2] is None and v.stalled_since is None:
                    rec[2] = t
            if v.id == sim.stalled_id:
                if v.stalled_since is not None and self.stall_start is None:
                    self.stall_start = v.stalled_since
                if (
                    self.stall_start is not None
                    and v.stalled_since is None
                    and self.stall_end is None
                ):
                    self.stall_end = t

    def finish(self, sim: TrafficSim, t_end: float) -> None:
        sc, truth = self.sc, self.truth
        for c, _road, _, lanes in self.lines:
            for lane_id in sorted(lanes):
                span = self.spans.get((c.camera_id, lane_id))
                if not span:
                    continue
                km = (span[1] - span[0]) / 1000.0
                congested_run: list[int] = []
                n_int = math.ceil(t_end / sc.interval_s)
                for k in range(n_int):
                    veh_s = self.occ.get((c.camera_id, lane_id, k), 0.0)
                    dens_km = veh_s / sc.interval_s / km
                    dens_mi = dens_km * 1.609344
                    truth.density.append(
                        {
                            "camera_id": c.camera_id,
                            "lane_id": lane_id,
                            "interval_start": sc.start_ts + k * sc.interval_s,
                            "pc_per_mi_ln": round(dens_mi, 2),
                        }
                    )
                    if dens_mi >= CONGESTED_PC_MI_LN:
                        congested_run.append(k)
                for start, end in _runs(congested_run):
                    if end - start + 1 >= 2:
                        truth.events.append(
                            {
                                "type": "congestion",
                                "camera_id": c.camera_id,
                                "lane_id": lane_id,
                                "start_ts": sc.start_ts + start * sc.interval_s,
                                "end_ts": sc.start_ts + (end + 1) * sc.interval_s,
                            }
                        )
        sv = sc.traffic.stalled_vehicle
        if sv and self.stall_start is not None:
            for c, road, _, lanes in self.lines:
                if sv["lane"] in lanes:
                    truth.events.append(
                        {
                            "type": "stalled_vehicle",
                            "camera_id": c.camera_id,
                            "lane_id": sv["lane"],
                            "track_id": sim.stalled_id,
                            "start_ts": sc.start_ts + self.stall_start,
                            "end_ts": sc.start_ts
                            + (self.stall_end if self.stall_end is not None else t_end),
                            "world_xy": _r(
                                road.point(float(sv["at_s"]), sc.layout.lane(sv["lane"]).offset)
                            ),
                        }
                    )
        for c, _road, _, lanes in self.lines:
            truth.events += _incident_events(c.camera_id, self.inc_stops, lanes, sc.start_ts, t_end)
        for cam_id, (a, b) in self.ww_seen.items():
            assert sc.traffic.wrong_way is not None  # ww_seen is only filled when there is one
            truth.events.append(
                {
                    "type": "wrong_way",
                    "camera_id": cam_id,
                    "lane_id": sc.traffic.wrong_way["lane"],
                    "track_id": sim.wrong_way_id,
                    "start_ts": sc.start_ts + a,
                    "end_ts": sc.start_ts + b,
                }
            )
        for o in sc.outages:
            for c in self.cams:
                if o.get("camera", c.camera_id) == c.camera_id and float(o["start_s"]) < t_end:
                    truth.events.append(
                        {
                            "type": "camera_offline",
                            "camera_id": c.camera_id,
                            "start_ts": sc.start_ts + float(o["start_s"]),
                            "end_ts": sc.start_ts + min(float(o["end_s"]), t_end),
                        }
                    )
        truth.events.sort(key=lambda e: (e["start_ts"], e["type"]))


def _incident_events(
    camera_id: str, stops: dict[int, list], lanes: set[str], start_ts: float, t_end: float
) -> list[dict]:
    """An incident's truth for one camera: the incident (first stop to last departure,
    every involved vehicle) and a stalled vehicle per involved vehicle in its lane."""
    mine = {vid: r for vid, r in stops.items() if r[0] in lanes}
    if not mine:
        return []
    ends = [r[2] if r[2] is not None else t_end for r in mine.values()]
    out = [
        {
            "type": "incident",
            "camera_id": camera_id,
            "zone_id": f"{camera_id}-incident",
            "track_ids": sorted(mine),
            "start_ts": start_ts + min(r[1] for r in mine.values()),
            "end_ts": start_ts + max(ends),
        }
    ]
    for (vid, (lane_id, since, _)), end in zip(mine.items(), ends, strict=True):
        out.append(
            {
                "type": "stalled_vehicle",
                "camera_id": camera_id,
                "lane_id": lane_id,
                "track_id": vid,
                "start_ts": start_ts + since,
                "end_ts": start_ts + end,
            }
        )
    return out


def _runs(ks: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for k in ks:
        if out and out[-1][1] == k - 1:
            out[-1] = (out[-1][0], k)
        else:
            out.append((k, k))
    return out


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def held_out_frames(n: int, seed: int, every_s: float = 4.0, warmup_s: float = 40.0) -> list[Frame]:
    """``n`` frames from the shipped scenarios' cameras (held-out evaluation), seeds from ``seed``."""
    names = shipped_scenarios()
    out: list[Frame] = []
    per = math.ceil(n / max(len(names), 1))
    for k, name in enumerate(names):
        sc = Scenario.load(name, seed=seed + k)
        every = max(1, round(every_s * sc.fps))
        got = 0
        duration = warmup_s + (per / max(len(sc.cameras), 1) + 1) * every_s
        for step in sc.run(duration_s=duration, every=every, from_s=warmup_s):
            for fr in step.frames.values():
                if fr is not None and got < per and len(out) < n:
                    out.append(fr)
                    got += 1
    return out
