"""Per-camera analysis: detections in, crossings, minute counts, events and state out.

:class:`CameraAnalyzer` is what a stream processor calls for every frame of one camera,
in capture order::

    analyzer = CameraAnalyzer(registry.get("cam-main-5th"), run_id="live")
    out = analyzer.update(capture_ts, frame_seq, detections, healthy=True)
    out.crossings    # analytics.crossings rows (each CLASS_SETTLE_S after it was found)
    out.minute_rows  # analytics.lane_counts_1m rows of minutes that closed
    out.events       # analytics.events rows that started or ended (upsert on event_id)
    out.latest       # small dict for the dashboard (Redis), about once per second
    analyzer.heartbeat(ts)       # camera alive without a frame
    analyzer.flush(now)          # timer: close minutes up to `now`, detect camera offline
    analyzer.end_of_stream()     # the source ran out: the last crossings and minute
    state = analyzer.to_state()  # JSON-safe; CameraAnalyzer.from_state(config, state)

Every ``*_ts`` is epoch seconds (float); :func:`itscam.domain.events.as_db_row` turns
a row's times into UTC datetimes for the database. Frames older than the newest one
seen are not tracked (the motion model only moves forward) and are counted in
``late_frames``. Unhealthy frames (frozen, corrupt, black video) are not tracked
either and do not count towards ``healthy_s``.

Per frame the work is vectorised over tracks: tracker association, one homography
product for every ground point, one pass over all lane segments, all counting lines
at once, a robust speed fit over ``(tracks, history)`` arrays. Python loops run only
over crossings and events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from itscam.domain.counting import END_SLACK_M, LineCounter
from itscam.domain.detections import VEHICLE_CLASSES, Detections
from itscam.domain.events import (
    CongestionDetector,
    EventBook,
    OfflineDetector,
)
from itscam.domain.geometry import apply_h, footprint_centres
from itscam.domain.registry import CameraConfig
from itscam.domain.speed import TrackTable, robust_velocity
from itscam.domain.tracker import ByteTracker, TrackerConfig
from itscam.domain.windows import MinuteWindows, minute_of
from itscam.domain.zones import (
    CLASS_LENGTH_M,
    CLASS_SIZE_M,
    PolygonSet,
    points_in_polygon,
    queue_length,
)

STATE_VERSION = 1
#: Speed (km/h) above which a vehicle counts as moving again (hysteresis over `stopped_kmh`).
MOVING_FACTOR = 2.0
#: Speed (km/h) from which an abrupt stop is measured.
CRUISE_KMH = 20.0
#: A stopped vehicle that creeps further than this (m) from where it stopped is moving.
STALL_RADIUS_M = 2.0
#: A stopped vehicle with slow traffic (below QUEUE_SLOW_KMH) up to this far ahead in its
#: lane is queueing, not stalled.
QUEUE_AHEAD_M = 25.0
#: ... and at most this far to the side (a vehicle waiting to merge past a blocked lane).
QUEUE_SIDE_M = 3.0
#: A stalled vehicle has moved off once this far (m) from where it stood.
STALL_LEAVE_M = 6.0
QUEUE_SLOW_KMH = 15.0
#: A new stopped track this close (m) to a stalled vehicle lost by the tracker continues
#: its event (occlusions break tracks of vehicles standing behind traffic).
ADOPT_RADIUS_M = 4.0
#: Track fragments: a new track continues one lost up to LINK_S ago when it appears
#: where that one was heading (within LINK_ALONG_M along, LINK_SIDE_M across).
LINK_S = 8.0
#: Class ids from here on (bus, truck) are large vehicles; see _link_fragments.
LARGE_CLASS_MIN = 2
LINK_ALONG_M = 5.0
LINK_SIDE_M = 1.75
LINK_REACH_MAX_M = 30.0
#: Crossings hidden from view: a new track first seen BIRTH_PAST_M or less past a
#: counting line (and linked to no lost fragment) crossed it while hidden behind other
#: vehicles, once it is seen moving forward; its crossing time is extrapolated back,
#: at most BIRTH_HIDDEN_S (and no earlier than the earliest minute still open). Only
#: after BIRTH_WARMUP_S of continuous observation, so a fresh analyzer (or one after an
#: outage) never counts what was already past the line. 60 m / 30 s (were 25 m / 8 s):
#: in the arterial's queue, cars and motorcycles crept over the stop line hidden behind
#: the queue next to them and first came into view 30-50 m on, 25-40 s later.
BIRTH_PAST_M = 60.0
BIRTH_HIDDEN_S = 30.0
#: ... unless it could be a fragment of a track lost within LINK_S that had passed a line
#: (looser gates than linking: within BIRTH_VETO_SIDE_M across, e.g. after a lane change),
#: or a lost stalled vehicle (within 2 x ADOPT_RADIUS_M): those were counted already.
BIRTH_VETO_SIDE_M = 5.0
#: A counted track lost while slow (queueing, below BIRTH_SLOW_MPS) within BIRTH_PAST_M
#: past a line is remembered for BIRTH_MEMORY_S: a track born within LINK_ALONG_M +
#: BIRTH_VETO_SIDE_M of it is that vehicle coming out of the queue, not a hidden crossing.
BIRTH_SLOW_MPS = 1.0
#: ... and a lost vehicle driving against the new track's line faster than this is not
#: one it may continue (slower, its velocity's direction is not to be trusted).
BIRTH_AGAINST_MPS = 5.0
#: A track seen in one frame once confirmed (its first sighting was tentative) moves as
#: the tracker saw it between the two; a step faster than this (m/s, 180 km/h) is not a
#: vehicle's: near the horizon a pixel is metres, and a box growing out from behind
#: another vehicle or the image's edge moved its bottom 7 px (a truck "at 159 m/s").
BIRTH_STEP_MAX_MPS = 50.0
#: Boxes within this many pixels of the image's left or right edge are clipped.
EDGE_PX = 1.0
#: A track lost inside a line's band counts if it was going at least this fast (m/s).
LEFT_MIN_MPS = 2.0
#: A track lost short of a line counts once its extrapolation is past it (occluded
#: crossing) if it was seen for OCCLUDED_SEEN_S going at least OCCLUDED_MIN_MPS and
#: would have reached the line within OCCLUDED_MAX_S of its last sighting.
OCCLUDED_MIN_MPS = 5.0
OCCLUDED_SEEN_S = 1.0
OCCLUDED_MAX_S = 3.0
#: A new track within this of where a slow counted track was lost may be that vehicle
#: (was LINK_ALONG_M, 5 m: in queues the car behind, about one car length back, came
#: into view there and was never counted).
BIRTH_SLOW_NEAR_M = 3.0
BIRTH_MEMORY_S = 300.0
#: ... and forgotten as soon as a vehicle drives through its spot (within PASSED_M,
#: faster than PASSED_MIN_MPS): it cannot be standing there any more. A car lost in
#: the arterial's queue and never matched stayed remembered for 300 s and then vetoed
#: a motorcycle's hidden crossing 5 m from where it had stood.
PASSED_M = 1.5
PASSED_MIN_MPS = 3.0
BIRTH_MIN_MPS = 1.0
BIRTH_WARMUP_S = LINK_S
#: ... except tracks born within BIRTH_RESUME_S of the start of observation whose crossing
#: time, extrapolated back, is after that start: they crossed while the camera was
#: watching (rural: a car crossed 0.04 s after an outage ended, seen on the line).
BIRTH_RESUME_S = 0.5
#: Tracks seen within this many seconds count as present (occlusion-tolerant checks).
RECENT_S = 2.0
#: An abrupt stop is incident evidence once the vehicle has stood this long (s).
ABRUPT_HOLD_S = 10.0
#: A lost stalled vehicle's event ends once its spot is in plain view without it this
#: long (s), or after ORPHAN_MAX_S in any case.
ORPHAN_CLEAR_S = 3.0
ORPHAN_MAX_S = 900.0
#: Routine stops (signals, stop lines, bus stops): a stop of at least STOP_SPOT_MIN_S by
#: another vehicle within STOP_SPOT_M during the last STOP_MEMORY_S.
STOP_SPOT_MIN_S = 10.0
STOP_SPOT_M = 8.0
STOP_MEMORY_S = 600.0
#: A wrong-way event ends once the vehicle was not seen going the wrong way for this long.
WRONG_WAY_GONE_S = 2.0
#: ... and starts only after at least this long (s) going the wrong way: a track that
#: jumps back between queued vehicles (an id swap) moves backwards fast but briefly.
WRONG_WAY_MIN_S = 1.5
#: ... in one run: a gap longer than this (s) without going the wrong way starts a new run.
WRONG_WAY_GAP_S = 0.6
#: Seconds between `latest` dashboard snapshots in the output.
LATEST_EVERY_S = 1.0
#: A crossing's record waits this long (s) after it was found, so its vehicle's class is
#: voted over what the detector saw of it after the line too (or until its track is
#: gone). Votes weigh each box's confidence by its area: trucks coming down the
#: highway were "buses" at 0.9 while 20-100 px tall at the far end of the view and
#: trucks from 110 px on, and their line is there; one second later they are.
CLASS_SETTLE_S = 1.0
#: ... but a track seen again after more than this (s) unseen may have switched to
#: another vehicle: a crossing made before that return is voted on what its track was
#: up to then (an arterial motorcycle hidden 1.4 s came back on a car 23 m further on).
CLASS_GAP_S = 1.0


@dataclass
class AnalysisOutput:
    """What one call produced. Rows are dicts whose keys are the table's columns."""

    tracked: Detections | None = None
    crossings: list[dict[str, Any]] = field(default_factory=list)
    minute_rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, Any] | None = None


def tracker_config(cfg: CameraConfig) -> TrackerConfig:
    p = cfg.params
    return TrackerConfig(
        high_conf=p.high_conf,
        low_conf=p.low_conf,
        # ByteTrack starts tracks at high + 0.1 (0.6), tuned at 30 fps. At 5 fps a car
        # half hidden behind a truck, seen in five frames at 0.28-0.82 while it crossed
        # the intersection's line by the image edge, never got a track (intersection
        # main_b2 45 of 46 with the detector); at the high threshold it does, and no
        # scenario gained a false crossing (scripts/oracle_counts.py --detector).
        new_track_conf=p.high_conf,
        match_iou=p.match_iou,
        min_hits=p.min_hits,
        max_lost_s=p.max_lost_s,
        class_groups=tuple(int(k >= LARGE_CLASS_MIN) for k in range(len(VEHICLE_CLASSES))),
    )


class CameraAnalyzer:
    """All per-camera analysis state. Not thread-safe; one instance per camera."""

    def __init__(
        self, config: CameraConfig, *, run_id: str = "", tracker: ByteTracker | None = None
    ) -> None:
        self.config = cfg = config
        self.params = p = config.params
        self.run_id = run_id
        self.camera_id = cfg.camera_id
        self.tracker = tracker or ByteTracker(tracker_config(cfg))
        self.H = cfg.homography.H
        self.Hi = cfg.homography.H_inv
        self.table = TrackTable()
        self.counter = LineCounter(cfg.lines, self.table)
        tb = self.table
        for name, fill in (
            ("stopped_since", np.nan),
            ("moving_ts", np.nan),
            ("moving_speed", np.nan),
            ("rev_m", 0.0),
            ("rev_since", np.nan),
            ("rev_last", np.nan),
            ("speed", np.nan),
        ):
            tb.add_column(name, (), np.float64, fill)
        tb.add_column("anchor", (2,), np.float64, np.nan)
        tb.add_column("born_line", (), np.int16, -1)
        tb.add_column("born_d", (), np.float64, np.nan)
        tb.add_column("born_ts", (), np.float64, np.nan)
        # No hidden crossing counted before this time (0: no limit; finite, for the JSON state).
        tb.add_column("born_watch", (), np.float64, 0.0)
        tb.add_column("vel", (2,), np.float64, 0.0)
        tb.add_column("birth_vel", (2,), np.float64, np.nan)
        # Class votes weighted by box area (see CLASS_SETTLE_S); `votes` (confidence
        # only) still sizes the ground footprint of every frame.
        tb.add_column("area_votes", (len(VEHICLE_CLASSES),), np.float64, 0.0)
        # When a track was last seen again after CLASS_GAP_S unseen (0: never), and
        # its area votes until then.
        tb.add_column("back_ts", (), np.float64, 0.0)
        tb.add_column("votes_before", (len(VEHICLE_CLASSES),), np.float64, 0.0)
        tb.add_column("lane", (), np.int16, -1)
        tb.add_column("stalled", (), bool, False)
        tb.add_column("queued", (), bool, False)
        tb.add_column("wrong_way", (), bool, False)
        # The lost track a fragment continues (slot and id; see _link_fragments, _linked_speed).
        tb.add_column("link_slot", (), np.int64, -1)
        tb.add_column("link_id", (), np.int64, -1)

        self.lane_ids = [ln.lane_id for ln in cfg.lanes]
        lane_of = {lid: i for i, lid in enumerate(self.lane_ids)}
        # All lane segments stacked, so one pass assigns every ground point to a lane.
        a, v, lane_idx, cum = [], [], [], []
        for i, ln in enumerate(cfg.lanes):
            lens = np.hypot(*ln.seg_vec.T)
            a.append(ln.seg_start)
            v.append(ln.seg_vec)
            lane_idx.append(np.full(len(lens), i))
            cum.append(np.concatenate([[0.0], np.cumsum(lens)[:-1]]))
        self.seg_a = np.concatenate(a)
        self.seg_v = np.concatenate(v)
        self.seg_len = np.hypot(self.seg_v[:, 0], self.seg_v[:, 1])
        self.seg_unit = self.seg_v / self.seg_len[:, None]
        self.seg_lane = np.concatenate(lane_idx)
        self.seg_cum = np.concatenate(cum)
        self.seg_halfw = np.array([cfg.lanes[i].width_m / 2 for i in self.seg_lane])
        self.line_lane = [lane_of[ln.lane_id] for ln in cfg.lines]

        det = [z for z in cfg.zones if z.kind == "detector" and z.lane_id is not None]
        self.detector_lane = np.array([lane_of[str(z.lane_id)] for z in det], np.intp)
        self.detector_set = PolygonSet([z.polygon for z in det])
        self.queue_zones = [z for z in cfg.zones if z.kind == "queue"]
        # (area id, polygon or None, lane index or None); without incident zones each
        # lane is its own incident area.
        inc: list[tuple[str, np.ndarray | None, int | None]] = [
            (z.zone_id, z.polygon, None) for z in cfg.zones if z.kind == "incident"
        ]
        self.incident_areas = inc or [
            (f"lane:{ln.lane_id}", None, i) for i, ln in enumerate(cfg.lanes)
        ]
        lengths = cfg.lane_visible_m
        self.windows = MinuteWindows(
            cfg.camera_id,
            self.lane_ids,
            lengths,
            run_id=run_id,
            lateness_s=p.lateness_s,
            heavy_pce=p.heavy_pce,
        )
        self.book = EventBook(cfg.camera_id, run_id)
        self.congestion = CongestionDetector(p.congestion_density, p.congestion_minutes)
        self.offline = OfflineDetector(p.offline_after_s)
        self.prev_ts: float | None = None
        self.frame_seq = -1
        self.late_frames = 0
        self.frames = 0
        self.abrupt: dict[str, list[list[float]]] = {}  # area -> [[ts, track_id], ...]
        self.incident_seen: dict[str, float] = {}  # area -> last time evidence was present
        # Stalled events whose track was lost:
        # [key, x, y, last_ts, stopped_since, spot in plain view since (or None)].
        self.orphans: list[list[Any]] = []
        # Recent routine stops: [ts the vehicle left, x, y].
        self.stop_spots: list[list[float]] = []
        #: Per counting line: when a vehicle last crossed it forward (epoch s), so a stop
        #: knows whether the other lanes of its direction kept flowing meanwhile.
        self.line_last_ts: list[float] = [0.0] * len(cfg.lines)  # 0: never
        self._last_latest = -math.inf
        self.watch_since: float | None = None  # start of continuous observation
        # [lost ts, x, y, travel direction x, y] (see BIRTH_SLOW_MPS)
        self.lost_counted: list[list[float]] = []
        self._last: dict[str, np.ndarray] = {}
        self._boxes = np.zeros((0, 4), np.float32)
        #: Crossings found, waiting for their class to settle (oldest first):
        #: {"due": ts, "line_index": int, "row": the crossings row}.
        self.pending: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ per frame

    def update(
        self, capture_ts: float, frame_seq: int, detections: Detections, healthy: bool = True
    ) -> AnalysisOutput:
        """Analyse one frame; see the module docstring for the outputs."""
        ts = float(capture_ts)
        self.offline.alive(self.book, ts, (frame_seq, ts))
        if self.prev_ts is not None and ts <= self.prev_ts:
            self.late_frames += 1
            return AnalysisOutput(tracked=detections, events=self.book.drain())
        fps = self.config.fps
        prev_ts = self.prev_ts
        dt = 1.0 / fps if self.prev_ts is None else min(ts - self.prev_ts, 3.0 / fps)
        # A gap longer than a lost track is kept interrupts continuous observation.
        if self.prev_ts is None or ts - self.prev_ts > self.params.max_lost_s:
            self.watch_since = None
        self.prev_ts = ts
        self.frame_seq = frame_seq
        self.frames += 1
        out = AnalysisOutput()
        if not healthy:
            self.watch_since = None
            self.windows.add_frame(ts, dt, False)
            out.tracked = detections
            if self.pending:  # or frozen video would hold its minutes open
                self._settle(out, ts)
            self._close_minutes(out)
            out.events = self.book.drain()
            return out

        if self.watch_since is None:
            self.watch_since = ts
        p = self.params
        tracked = self.tracker.update(detections, ts)
        out.tracked = tracked
        tid = tracked.tracker_id
        assert tid is not None  # the tracker always sets ids (-1 = not confirmed)
        keep = tid >= 0
        self._boxes = tracked.xyxy
        ids = tid[keep]
        tb = self.table
        gone = tb.evict(ts - max(p.max_lost_s + 0.5, LINK_S))
        if len(gone) and self.pending:
            evicted = dict(zip(tb.track_id[gone].tolist(), gone.tolist(), strict=True))
            self._settle(out, ts, gone=evicted)
        for s in gone:
            self._track_gone(int(s))
        n = len(ids)
        if n:
            box = tracked.xyxy[keep]
            bc = np.empty((n, 2), np.float32)
            bc[:, 0] = (box[:, 0] + box[:, 2]) * 0.5
            bc[:, 1] = box[:, 3]
            cls = tracked.class_id[keep]
            slots, is_new = tb.slots_for(ids, ts)
            cls_k = np.minimum(np.maximum(cls, 0), len(VEHICLE_CLASSES) - 1)
            tb.votes[slots, cls_k] += 1e-6  # ties: current
            maj = tb.majority_class(slots)
            _, near_t = self._assign_lanes(apply_h(self.H, bc), any_distance=True)
            size = CLASS_SIZE_M[maj]
            xy = footprint_centres(self.H, self.Hi, bc, near_t, size)
            self._hold_lateral_at_edges(box, slots, is_new, xy, near_t)
            if is_new.any():
                self._link_fragments(slots, is_new, xy, near_t, ts)
                self._note_births(slots[is_new], xy[is_new], near_t[is_new], ts, slots)
                # Born past a line (_note_births): the only tracks whose step is used.
                born = is_new & (tb.born_line[slots] >= 0)
                if born.any():
                    self._birth_motion(slots[born], ids[born], xy[born], near_t[born], size[born])
            conf = tracked.confidence[keep]
            back = ts - tb.last_ts[slots] > CLASS_GAP_S
            if back.any():
                tb.back_ts[slots[back]] = ts
                tb.votes_before[slots[back]] = tb.area_votes[slots[back]]
            tb.observe(slots, ts, xy, cls, conf)
            tb.area_votes[slots, cls_k] += conf * (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
            vel = tb.velocity(slots, ts, p.speed_window_s)
            speed = np.hypot(vel[:, 0], vel[:, 1])
            tb.speed[slots] = speed
            if self.lost_counted:
                self._forget_passed(xy, speed)
            # Motion prior for linking fragments: the robust velocity, or for a track
            # too young for one, its displacement so far.
            young = ~np.isfinite(vel[:, 0])
            prior = vel.copy()
            if young.any():
                prior[young] = tb.coarse_velocity(slots[young])
            tb.vel[slots] = prior if np.isfinite(prior).all() else np.nan_to_num(prior)
            lane, tangent = self._assign_lanes(xy)
            tb.lane[slots] = lane
            for c in self.counter.update(slots, xy, ts):
                self._crossing(out, c.line_index, c.slot, c.direction, c.ts, frame_seq)
            self._hidden_crossings(out, slots, vel, frame_seq)
            self._left_on_the_line(out, slots, prev_ts, ts, frame_seq)
            self._hidden_through(out, slots, ts, frame_seq)
            length = CLASS_LENGTH_M[maj]
            self._behaviour(slots, ids, xy, vel, speed, lane, tangent, ts, dt, frame_seq)
        else:
            self._left_on_the_line(out, np.zeros(0, np.intp), prev_ts, ts, frame_seq)
            self._hidden_through(out, np.zeros(0, np.intp), ts, frame_seq)
            if self.orphans:
                e = np.zeros(0, np.intp)
                self._adopt_orphans(e, e, np.zeros((0, 2)), np.zeros(0, bool), ts, frame_seq)
            xy = np.zeros((0, 2))
            lane = np.zeros(0, np.int16)
            tangent = np.zeros((0, 2))
            length = np.zeros(0)
            maj = np.zeros(0, np.int64)
            speed = np.zeros(0)

        n_lanes = len(self.lane_ids)
        occupied = np.zeros(n_lanes, bool)
        if n and self.detector_set.n:
            # Footprint = centre and both ends along the lane; any of them in the zone.
            half = (length * 0.5)[:, None] * tangent
            inside = self.detector_set.contains(np.concatenate([xy, xy - half, xy + half]))
            occupied[self.detector_lane[inside.any(axis=0)]] = True
        in_lane = lane >= 0
        pcu = (
            np.bincount(
                lane[in_lane], weights=self.windows.pcu_weights(maj[in_lane]), minlength=n_lanes
            )
            if n
            else np.zeros(n_lanes)
        )
        self.windows.add_frame(ts, dt, True, occupied, pcu)
        if self.pending:
            self._settle(out, ts)
        self._last = {
            "xy": xy,
            "lane": lane,
            "speed": speed,
            "length": length,
            "occupied": occupied,
            "ids": ids,
        }
        self._close_minutes(out)
        out.events = self.book.drain()
        if ts - self._last_latest >= LATEST_EVERY_S:
            self._last_latest = ts
            out.latest = self.latest_state()
        return out

    def heartbeat(self, ts: float, healthy: bool = True) -> AnalysisOutput:
        """The camera's ingest is alive at ``ts`` (no frame sampled); closes an outage."""
        out = AnalysisOutput()
        if healthy:
            self.offline.alive(self.book, float(ts))
        self.offline.check(self.book, float(ts))
        out.events = self.book.drain()
        return out

    def flush(self, ts: float) -> AnalysisOutput:
        """Move event time to ``ts`` without a frame: close complete minutes, detect outages.

        Call it on a timer (with the stream's notion of now) and at shutdown; partial
        minutes stay open in the state, they are never emitted early.
        """
        out = AnalysisOutput()
        self.offline.check(self.book, float(ts))
        if self.pending:
            self._settle(out, float(ts))
        for c in self.windows.advance(float(ts), hold=self._hold()):
            out.minute_rows.extend(c.rows)
            self.congestion.update(self.book, c.minute_ts, c.density_pcmpl)
        out.events = self.book.drain()
        return out

    def end_of_stream(self) -> AnalysisOutput:
        """The camera's source ran out (a file, a simulation): close the minute of its
        last frame and any before it, as the next minute's frames would have.

        Not an outage (no ``camera_offline``); tracks and open events stay as they
        are; crossings still waiting for their class are emitted with the class as it
        stands. Without this a replayed camera's last minute stayed open for frames
        that never came, and its rows never reached the database.
        """
        out = AnalysisOutput()
        if self.prev_ts is None:
            return out
        if self.pending:
            self._settle(out, self.prev_ts, force=True)
        for c in self.windows.advance(minute_of(self.prev_ts) + 60.0):
            out.minute_rows.extend(c.rows)
            self.congestion.update(self.book, c.minute_ts, c.density_pcmpl)
        out.events = self.book.drain()
        return out

    # ------------------------------------------------------------------ internals

    def _assign_lanes(
        self, xy: np.ndarray, any_distance: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lane index ``(n,)`` (-1 outside every lane) and lane direction ``(n, 2)``.

        ``any_distance``: take the nearest lane however far (for a heading prior).
        """
        rel = xy[:, None, :] - self.seg_a[None]
        # np.minimum/np.maximum rather than np.clip: the same values, cheaper on small arrays
        t = np.minimum(np.maximum((rel * self.seg_unit[None]).sum(-1), 0.0), self.seg_len[None])
        perp = rel - t[..., None] * self.seg_unit[None]
        dist = np.hypot(perp[..., 0], perp[..., 1])
        if not any_distance:
            dist = np.where(dist <= self.seg_halfw[None], dist, np.inf)
        k = np.argmin(dist, axis=1)
        ok = np.isfinite(dist[np.arange(len(xy)), k])
        lane = np.where(ok, self.seg_lane[k], -1).astype(np.int16)
        tangent = np.where(ok[:, None], self.seg_unit[k], 0.0)
        return lane, tangent

    def _birth_motion(
        self,
        slots: np.ndarray,
        ids: np.ndarray,
        xy: np.ndarray,
        tangent: np.ndarray,
        size: np.ndarray,
    ) -> None:
        """Remember how newly confirmed tracks moved since their first sighting.

        The tracker reports a track only once confirmed (``min_hits``), so the table
        starts with one point of it. A vehicle coming into view at the image's edge,
        or from behind another, may be gone a frame later; its step between the
        tentative sighting and this one (``birth_vel``, m/s) is then all that says
        whether it drove forward through a line while hidden (``_left_on_the_line``).
        """
        boxes, gap = self.tracker.previous_boxes(ids)
        ok = np.isfinite(boxes[:, 0])
        if not ok.any():
            return
        b = boxes[ok]
        bc = np.stack([(b[:, 0] + b[:, 2]) * 0.5, b[:, 3]], axis=1)
        prev = footprint_centres(self.H, self.Hi, bc, tangent[ok], size[ok])
        self.table.birth_vel[slots[ok]] = (xy[ok] - prev) / gap

    def _link_fragments(
        self, slots: np.ndarray, is_new: np.ndarray, xy: np.ndarray, tangent: np.ndarray, ts: float
    ) -> None:
        """Let a new track continue the counting state of a track lost moments ago.

        Occlusion behind other vehicles breaks tracks; a fragment that reappears past a
        counting line would otherwise never be counted. A new track inherits the line
        sides, class votes and start of a recently lost track whose extrapolated
        position it matches; the lost track's sides are cleared so it can never count
        twice. A fresh analyzer (after a restart) has no lost tracks, so no phantoms.
        """
        tb = self.table
        cand, pred, _, reach = self._recently_lost(slots, ts, counted=False)
        if not len(cand):
            return
        new = np.flatnonzero(is_new)
        rel = xy[new][:, None, :] - pred[None]  # (new, cand, 2)
        t = tangent[new][:, None, :]
        along = (rel * t).sum(-1)
        side = np.abs(rel[..., 0] * t[..., 1] - rel[..., 1] * t[..., 0])
        ok = (along <= reach[None]) & (along >= -LINK_ALONG_M) & (side <= LINK_SIDE_M)
        # Never continue a track that was going against the new one's lane: a far box
        # jittering backwards gave a lost track a backward velocity whose prediction
        # met a vehicle entering the view 5 s later; inheriting its sides counted that
        # vehicle as a wrong-way driver.
        ok &= (tb.vel[cand][None] * t).sum(-1) >= -BIRTH_MIN_MPS
        # A car never continues a bus or a truck (nor the reverse): the fragment of a
        # car hidden behind a bus would take the bus's votes and count as a bus.
        large = tb.majority_class(slots[new]) >= LARGE_CLASS_MIN
        ok &= large[:, None] == (tb.majority_class(cand) >= LARGE_CLASS_MIN)[None]
        cost = np.where(ok, np.abs(along) + side, np.inf)
        while np.isfinite(cost).any():
            i, j = np.unravel_index(np.argmin(cost), cost.shape)
            s_new, s_old = slots[new[i]], cand[j]
            tb.line_side[s_new] = tb.line_side[s_old]
            tb.line_d[s_new] = tb.line_d[s_old]
            tb.line_zc[s_new] = tb.line_zc[s_old]
            tb.line_prev_ts[s_new] = tb.line_prev_ts[s_old]
            tb.votes[s_new] += tb.votes[s_old]
            tb.first_ts[s_new] = tb.first_ts[s_old]
            tb.link_slot[s_new] = s_old
            tb.link_id[s_new] = tb.track_id[s_old]
            if (
                np.isfinite(tb.stopped_since[s_old])
                and np.hypot(*(xy[new[i]] - tb.anchor[s_old])) <= STALL_RADIUS_M
            ):
                # Still standing where the lost fragment stopped: the stop goes on.
                tb.stopped_since[s_new] = tb.stopped_since[s_old]
                tb.anchor[s_new] = tb.anchor[s_old]
                tb.queued[s_new] = tb.queued[s_old]
            tb.line_side[s_old] = 0
            tb.votes[s_old] = 0
            tb.vel[s_old] = 0.0
            cost[i, :] = np.inf
            cost[:, j] = np.inf

    def _linked_speed(self, slot: int) -> float:
        """Speed (m/s) of a fragment too young for its own, fitted over its samples and
        those of the lost track it continues (``nan`` if that one is gone).

        A vehicle reappearing from behind another near a counting line crosses it a
        frame or two later, too soon for a speed of its own: on the highway scenario
        20 % of crossings had none, mostly fast ones, and the minutes' mean speeds
        read 10-20 % low. Only the crossing's speed uses the joined samples; the
        fragment's own tracking state is left as it is.
        """
        tb = self.table
        old = int(tb.link_slot[slot])
        if old < 0 or not tb.alive[old] or tb.track_id[old] != tb.link_id[slot]:
            return math.nan
        t = np.concatenate([tb.t[old], tb.t[slot]])[None]
        xy = np.concatenate([tb.xy[old], tb.xy[slot]])[None]
        v = robust_velocity(t, xy, float(tb.last_ts[slot]), self.params.speed_window_s)[0]
        return float(np.hypot(v[0], v[1]))

    def _recently_lost(
        self, slots: np.ndarray, ts: float, *, counted: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Tracks lost within ``LINK_S`` that a new track may continue.

        Those with counting-line sides (``counted``: on the far side of a line, i.e.
        counted already). Returns ``(slots, predicted xy, speed, reach)``: reach is the
        allowed miss along the lane, for the speed error plus a queued vehicle pulling
        away (about 3 m/s^2) while hidden.
        """
        tb = self.table
        seen = np.zeros(tb.cap, bool)
        seen[slots] = True
        sides = tb.line_side > 0 if counted else tb.line_side != 0
        cand = np.flatnonzero(
            tb.alive & ~seen & (tb.last_ts < ts) & (ts - tb.last_ts <= LINK_S) & sides.any(axis=1)
        )
        gap = ts - tb.last_ts[cand]
        pred = tb.latest_xy(cand) + tb.vel[cand] * gap[:, None]
        speed = np.hypot(tb.vel[cand, 0], tb.vel[cand, 1])
        reach = np.clip(0.5 * speed * gap + 1.5 * gap**2, LINK_ALONG_M, LINK_REACH_MAX_M)
        return cand, pred, speed, reach

    def _note_births(
        self,
        slots: np.ndarray,
        xy: np.ndarray,
        tangent: np.ndarray,
        ts: float,
        present: np.ndarray,
    ) -> None:
        """Remember new, unlinked tracks first seen just past a counting line.

        Not between BIRTH_RESUME_S and BIRTH_WARMUP_S of observation (see those).
        ``tangent``: the direction of each new track's (nearest) lane; ``present``:
        every track of this frame (none of them is a lost fragment).
        """
        tb, ctr = self.table, self.counter
        assert self.watch_since is not None
        watched = ts - self.watch_since
        if not len(ctr.lines) or BIRTH_RESUME_S < watched < BIRTH_WARMUP_S:
            return
        fresh = ~(tb.line_side[slots] != 0).any(axis=1)  # linked fragments inherit sides
        if not fresh.any():
            return
        slots, xy, tangent = slots[fresh], xy[fresh], tangent[fresh]
        d = xy @ ctr.normal.T - ctr.offset
        along = xy @ ctr.unit.T - ctr.along0
        # Born inside a line's hysteresis band counts too: its side stays 0 until it
        # leaves the band, and a change from side 0 is never a crossing, so a vehicle
        # that first came into view on the line (out of a queue, from behind a truck)
        # was never counted. It counts once it moves forward, like one born past the line.
        ok = (
            (d > -ctr.margin)
            & (d <= BIRTH_PAST_M)
            & ctr.allow_fwd
            & (along >= 0.0)
            & (along <= ctr.seg_len)
        )
        d = np.where(ok, d, np.inf)
        j = np.argmin(d, axis=1)
        has = np.isfinite(d[np.arange(len(slots)), j])
        # The forward direction of the line each would count at (none: no line).
        forward = np.where(has[:, None], ctr.normal[j], 0.0)
        veto = self._maybe_counted(slots, xy, tangent, ts, present, forward)
        if veto.all():
            return
        slots, d, j, has = slots[~veto], d[~veto], j[~veto], has[~veto]
        tb.born_line[slots[has]] = j[has]
        tb.born_d[slots[has]] = d[has, j[has]]
        tb.born_ts[slots[has]] = ts
        tb.born_watch[slots[has]] = 0.0 if watched >= BIRTH_WARMUP_S else self.watch_since

    def _forget_passed(self, xy: np.ndarray, speed: np.ndarray) -> None:
        """Forget remembered queued cars whose spot a vehicle drove through (PASSED_M)."""
        moving = np.nan_to_num(speed, nan=0.0) >= PASSED_MIN_MPS
        if not moving.any():
            return
        spots = np.array([e[1:3] for e in self.lost_counted])
        rel = xy[moving][:, None, :] - spots[None]
        passed = (np.hypot(rel[..., 0], rel[..., 1]) <= PASSED_M).any(axis=0)
        if passed.any():
            self.lost_counted = [
                e for e, p in zip(self.lost_counted, passed.tolist(), strict=True) if not p
            ]

    def _maybe_counted(
        self,
        slots: np.ndarray,
        xy: np.ndarray,
        tangent: np.ndarray,
        ts: float,
        present: np.ndarray,
        forward: np.ndarray,
    ) -> np.ndarray:
        """``(n,)`` bool: new tracks that may continue a vehicle counted already.

        A remembered queued car (``lost_counted``) is only taken for a new track in
        a lane of its own travel direction (``tangent``, the new track's lane).
        ``forward``: per new track, the forward normal of the line it would be
        counted at (zeros: none); a recently lost vehicle that was moving against
        it (faster than BIRTH_AGAINST_MPS) is not taken for it: the new track counts
        only once it moves forward, which that vehicle would not be doing.
        """
        tb = self.table
        veto = np.zeros(len(slots), bool)
        # Tracks of this frame are not lost: their table rows still say they were last
        # seen a frame ago (observe() comes later), so they are excluded explicitly. A
        # car in the opposite lane passing by vetoed the hidden crossing of a new one.
        cand, pred, speed, reach = self._recently_lost(present, ts, counted=True)
        if len(cand):
            unit = tb.vel[cand] / np.maximum(speed, 1e-6)[:, None]
            rel = xy[:, None, :] - pred[None]
            along = (rel * unit[None]).sum(-1)
            side = np.abs(rel[..., 0] * unit[None, :, 1] - rel[..., 1] * unit[None, :, 0])
            slow = (speed < BIRTH_MIN_MPS)[None]
            near = np.hypot(rel[..., 0], rel[..., 1]) <= BIRTH_SLOW_NEAR_M
            # As in _link_fragments, a car is never a bus or a truck seen again (nor the
            # reverse): a truck leaving the view by the bottom corner, its clipped box
            # stalling and its velocity veering, vetoed the car coming into view beside
            # it (intersection main_b2, 45 of 46 through the stream).
            large = tb.majority_class(slots) >= LARGE_CLASS_MIN
            same = large[:, None] == (tb.majority_class(cand) >= LARGE_CLASS_MIN)[None]
            # A lost track heading the other way, its prediction 28 m short of a
            # motorcycle that came out from behind a truck at the line, vetoed the
            # motorcycle's hidden crossing (arterial main_f1, one simulated hour).
            # Only a clear reverse: a queued car's velocity is noise (one estimated
            # at 1.4-1.9 m/s backwards, highway, was the vehicle).
            same &= (forward @ tb.vel[cand].T) > -BIRTH_AGAINST_MPS
            veto |= (
                same
                & np.where(
                    slow,
                    near,
                    (along >= -LINK_ALONG_M) & (along <= reach[None]) & (side <= BIRTH_VETO_SIDE_M),
                )
            ).any(axis=1)
        for o in self.orphans:
            veto |= np.hypot(xy[:, 0] - o[1], xy[:, 1] - o[2]) <= 2 * ADOPT_RADIUS_M
        self.lost_counted = [e for e in self.lost_counted if ts - e[0] <= BIRTH_MEMORY_S]
        for i in np.flatnonzero(~veto):
            if not self.lost_counted:
                break
            # entries from before the travel direction was kept ([ts, x, y]) match any way
            far = [
                math.hypot(xy[i, 0] - e[1], xy[i, 1] - e[2])
                if len(e) < 5 or e[3] * tangent[i, 0] + e[4] * tangent[i, 1] > 0.0
                else math.inf
                for e in self.lost_counted
            ]
            k = int(np.argmin(far))
            if far[k] <= LINK_ALONG_M + BIRTH_VETO_SIDE_M:
                veto[i] = True
                self.lost_counted.pop(k)
        return veto

    def _hidden_crossings(
        self, out: AnalysisOutput, slots: np.ndarray, vel: np.ndarray, frame_seq: int
    ) -> None:
        """Count tracks born past a line once they move forward (see BIRTH_PAST_M)."""
        tb = self.table
        pend = np.flatnonzero(tb.born_line[slots] >= 0)
        if not len(pend):
            return
        for i in pend.tolist():
            v = vel[i]
            if not np.isfinite(v[0]):
                continue
            s = int(slots[i])
            j = int(tb.born_line[s])
            v_along = float(v @ self.counter.normal[j])
            if v_along < -BIRTH_MIN_MPS:
                tb.born_line[s] = -1  # going the other way: not a hidden forward crossing
                continue
            if v_along < BIRTH_MIN_MPS:
                continue  # standing: decide when it moves
            hidden = float(tb.born_d[s]) / v_along  # < 0: born just short of the line
            tb.born_line[s] = -1
            t = float(tb.born_ts[s]) - hidden
            if hidden <= BIRTH_HIDDEN_S and t >= tb.born_watch[s]:
                # When a long-hidden vehicle crossed is not known to the second: it is
                # counted in the earliest minute still open, not dropped from the windows.
                t = max(t, self.windows.earliest_open())
                self._crossing(out, j, s, "forward", t, frame_seq)

    def _hold_lateral_at_edges(
        self,
        box: np.ndarray,
        slots: np.ndarray,
        is_new: np.ndarray,
        xy: np.ndarray,
        tangent: np.ndarray,
    ) -> None:
        """Keep the across-lane position of vehicles cut by the image's side edges.

        A box clipped by the left or right edge has a false horizontal centre, and a
        bus leaving the view sideways drifted a lane over just as it crossed the line
        (counted in the wrong lane). While clipped, a track keeps its last across-lane
        offset; the along-lane position still comes from the box. In place on ``xy``.
        """
        w = self.config.width
        cut = ((box[:, 0] <= EDGE_PX) | (box[:, 2] >= w - EDGE_PX)) & ~is_new
        if not cut.any():
            return
        i = np.flatnonzero(cut)
        nrm = np.stack([-tangent[i, 1], tangent[i, 0]], axis=1)
        drift = ((xy[i] - self.table.latest_xy(slots[i])) * nrm).sum(1)
        xy[i] -= drift[:, None] * nrm

    def _left_on_the_line(
        self,
        out: AnalysisOutput,
        present: np.ndarray,
        prev_ts: float | None,
        ts: float,
        frame_seq: int,
    ) -> None:
        """Count tracks lost this frame while driving through a line's hysteresis band.

        A vehicle whose centre had just passed a line (``0 < d <= margin``), or was
        less than one frame's travel short of it, when it went out of sight (behind
        another vehicle, out of the frame) never reaches the far side of the band, so
        it was never counted. If it was driving forward fast enough (``LEFT_MIN_MPS``)
        to be past the band by now, it crossed: counted at its zero crossing
        (extrapolated if after its last sighting), and its side set so a reappearance
        cannot count again.
        """
        ctr, tb = self.counter, self.table
        if not len(ctr.lines) or prev_ts is None:
            return
        seen = np.zeros(tb.cap, bool)
        seen[present] = True
        gone = np.flatnonzero(tb.alive & ~seen & (tb.last_ts == prev_ts))
        if not len(gone):
            return
        # Born past a line and gone before it had a robust velocity (a fast vehicle seen
        # in a few frames at the edge of the view): its displacement so far decides.
        young = gone[(tb.born_line[gone] >= 0) & ~np.isfinite(tb.speed[gone])]
        if len(young):
            # Seen in one frame as a confirmed track: its displacement is the one the
            # tracker saw from its first, tentative, sighting (see _birth_motion).
            vel = tb.vel[young].copy()
            bv = tb.birth_vel[young]
            one = (tb.n[young] == 1) & (np.hypot(bv[:, 0], bv[:, 1]) <= BIRTH_STEP_MAX_MPS)
            vel[one] = bv[one]
            self._hidden_crossings(out, young, vel, frame_seq)
        d = tb.line_d[gone]
        v = tb.vel[gone] @ ctr.normal.T
        xy = tb.latest_xy(gone)
        along = xy @ ctr.unit.T - ctr.along0
        step = v * (ts - prev_ts)  # its travel since it was last seen
        hit = (
            (tb.line_side[gone] < 0)
            & (d > -step)
            & (d <= ctr.margin)
            & (v >= LEFT_MIN_MPS)
            & (d + step > ctr.margin)
            & ctr.allow_fwd
            & (along >= -END_SLACK_M)
            & (along <= ctr.seg_len + END_SLACK_M)
        )
        for i in np.flatnonzero(hit.any(axis=1)):
            j = ctr.most_central(along[i], np.flatnonzero(hit[i]))
            s = int(gone[i])
            tb.line_side[s, j] = 1
            if d[i, j] > 0:  # crossed while in view: when its sign changed
                zc = float(tb.line_zc[s, j])
                t = zc if np.isfinite(zc) else prev_ts
            else:  # crossed just after it was last seen
                t = prev_ts - float(d[i, j]) / float(v[i, j])
            self._crossing(out, j, s, "forward", t, frame_seq)

    def _hidden_through(
        self, out: AnalysisOutput, present: np.ndarray, ts: float, frame_seq: int
    ) -> None:
        """Count a vehicle that drove through a line while hidden (occluded crossing).

        A vehicle tracked at a steady speed (at least ``OCCLUDED_MIN_MPS`` for
        ``OCCLUDED_SEEN_S``) that goes out of sight short of a line, behind a bus or
        a truck in the next lane, reappears (if at all) as a fragment too far on to
        be linked: it was never counted. Once its extrapolated position is past the
        line's band, and it would have reached the line within ``OCCLUDED_MAX_S`` of
        its last sighting, it crossed: counted at the extrapolated time, and its side
        set so that a reappearance is linked or vetoed, never counted again.
        """
        ctr, tb = self.counter, self.table
        if not len(ctr.lines):
            return
        seen = np.zeros(tb.cap, bool)
        seen[present] = True
        lost = np.flatnonzero(
            tb.alive
            & ~seen
            & (tb.last_ts < ts)
            & (tb.last_ts - tb.first_ts >= OCCLUDED_SEEN_S)
            & (tb.speed >= OCCLUDED_MIN_MPS)  # False where nan (no speed yet)
            & (tb.line_side < 0).any(axis=1)
        )
        if not len(lost):
            return
        d = tb.line_d[lost]
        v = tb.vel[lost] @ ctr.normal.T
        gap = (ts - tb.last_ts[lost])[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            reach_s = np.where(v > 0, -d / v, np.inf)  # from its last sighting to the line
        # Where along each line it crossed: where it was last seen. A hidden vehicle
        # keeps its lane; the across-lane part of a velocity measured as it went out
        # of sight (a box cut by the next vehicle) is noise that, carried over 3 s,
        # put a car 1.2 m sideways and off the end of its own lane's line.
        along = tb.latest_xy(lost) @ ctr.unit.T - ctr.along0
        hit = (
            (tb.line_side[lost] < 0)
            & (v >= OCCLUDED_MIN_MPS)
            & (d + v * gap > ctr.margin)
            & (reach_s <= OCCLUDED_MAX_S)
            & ctr.allow_fwd
            & (along >= 0.0)
            & (along <= ctr.seg_len)
        )
        for i in np.flatnonzero(hit.any(axis=1)):
            j = ctr.most_central(along[i], np.flatnonzero(hit[i]))
            s = int(lost[i])
            tb.line_side[s, j] = 1
            t = float(tb.last_ts[s]) + max(0.0, float(reach_s[i, j]))
            self._crossing(out, j, s, "forward", t, frame_seq)

    def _crossing(
        self,
        out: AnalysisOutput,
        line_index: int,
        slot: int,
        direction: str,
        ts: float,
        frame_seq: int,
    ) -> None:
        tb = self.table
        line = self.config.lines[line_index]
        if direction == "forward":
            self.line_last_ts[line_index] = max(self.line_last_ts[line_index], ts)
        sp = float(tb.speed[slot])
        if not math.isfinite(sp):
            sp = self._linked_speed(slot)
        track_id = int(tb.track_id[slot])
        self.pending.append(
            {
                "due": float(self.prev_ts if self.prev_ts is not None else ts) + CLASS_SETTLE_S,
                "line_index": line_index,
                "row": {
                    "camera_id": self.camera_id,
                    "line_id": line.line_id,
                    "lane_id": line.lane_id,
                    "direction": direction,
                    "track_id": track_id,
                    "class_name": VEHICLE_CLASSES[self._class_of(slot, ts)],  # for now
                    "crossing_ts": ts,
                    "speed_kmh": round(sp * 3.6, 2) if math.isfinite(sp) else None,
                    "run_id": self.run_id,
                },
            }
        )
        if direction == "reverse" and not tb.wrong_way[slot]:
            tb.wrong_way[slot] = True
            start = tb.rev_since[slot]
            self.book.start(
                f"wrong_way:{track_id}",
                "wrong_way",
                float(start) if math.isfinite(start) else ts,
                severity="critical",
                lane_id=line.lane_id,
                track_ids=[track_id],
                frame=(frame_seq, ts),
            )

    def _class_of(self, slot: int, crossing_ts: float) -> int:
        """The class of a track's crossing at ``crossing_ts`` by area-weighted vote (see
        CLASS_SETTLE_S); before the track's return from a gap, by the votes it had until
        then (see CLASS_GAP_S)."""
        tb = self.table
        v = tb.votes_before[slot] if tb.back_ts[slot] > crossing_ts else tb.area_votes[slot]
        return int(np.argmax(v)) if v.any() else int(self.table.majority_class(np.array([slot]))[0])

    def _settle(
        self,
        out: AnalysisOutput,
        ts: float,
        *,
        gone: dict[int, int] | None = None,
        force: bool = False,
    ) -> None:
        """Emit the pending crossings due at ``ts`` (all with ``force``) with their class
        as voted now; with ``gone`` (id -> row of the tracks just evicted, read before
        the rows are reused) only those of these tracks.

        The record's frame is the one whose analysis emitted it: frame-to-event latency
        is measured from there (``crossing_ts`` is about CLASS_SETTLE_S older).
        """
        tb = self.table
        left = []
        for pc in self.pending:
            row = pc["row"]
            tid = row["track_id"]
            if gone is not None:
                s = gone.get(tid)
                due = s is not None
            else:
                s = tb.slot_of.get(tid)
                due = force or ts >= pc["due"]
            if not due:
                left.append(pc)
                continue
            if s is not None:
                row["class_name"] = VEHICLE_CLASSES[self._class_of(s, row["crossing_ts"])]
            row["frame_seq"] = self.frame_seq
            row["frame_ts"] = self.prev_ts
            out.crossings.append(row)
            cls = VEHICLE_CLASSES.index(row["class_name"])
            lane = self.config.lines[pc["line_index"]].lane_id
            self.windows.add_crossing(
                lane, row["direction"], cls, row["crossing_ts"], row["speed_kmh"]
            )
        self.pending = left

    def _hold(self) -> float | None:
        """No minute closes while a crossing in it waits for its class."""
        return min((pc["row"]["crossing_ts"] for pc in self.pending), default=None)

    def _behaviour(
        self,
        slots: np.ndarray,
        ids: np.ndarray,
        xy: np.ndarray,
        vel: np.ndarray,
        speed: np.ndarray,
        lane: np.ndarray,
        tangent: np.ndarray,
        ts: float,
        dt: float,
        frame_seq: int,
    ) -> None:
        """Stalls, abrupt stops, wrong-way travel and incidents for this frame's tracks."""
        p, tb = self.params, self.table
        kmh = speed * 3.6
        known = np.isfinite(kmh)
        stopped = known & (kmh < p.stopped_kmh)
        moving = known & (kmh > p.stopped_kmh * MOVING_FACTOR)
        cruising = known & (kmh >= CRUISE_KMH)
        if cruising.any():
            tb.moving_ts[slots[cruising]] = ts
            tb.moving_speed[slots[cruising]] = speed[cruising]
        since = tb.stopped_since[slots]
        newly = stopped & np.isnan(since)
        if newly.any():
            tb.stopped_since[slots[newly]] = ts
            tb.anchor[slots[newly]] = xy[newly]
            m_ts, m_sp = tb.moving_ts[slots[newly]], tb.moving_speed[slots[newly]]
            with np.errstate(invalid="ignore", divide="ignore"):
                decel = m_sp / np.maximum(ts - m_ts, 1e-3)
            for i in np.flatnonzero(newly)[np.nan_to_num(decel, nan=0.0) >= p.abrupt_decel_mps2]:
                for area in self._areas_of(xy[i : i + 1], lane[i : i + 1]):
                    self.abrupt.setdefault(area, []).append([ts, int(ids[i])])
        # A stop ends when the vehicle is clearly moving or has crept away from where it
        # stopped: a crawl in a jam (instantaneous speed around the threshold) is no stop.
        since = tb.stopped_since[slots]
        has = ~np.isnan(since)
        if has.any():
            drift = np.hypot(*(xy - tb.anchor[slots]).T)
            # A stalled vehicle's box jumps when traffic occludes it: it has left only
            # once clearly moving or well away from where it stood.
            was = tb.stalled[slots]
            left = has & np.where(
                was, moving | (drift > STALL_LEAVE_M), (drift > STALL_RADIUS_M) | moving
            )
            if left.any():
                gone = slots[left]
                # Remember where vehicles stood for a while and then drove on: stop lines,
                # stop signs and bus stops, where a long stop is routine, not a breakdown.
                routine = left & ~was & (ts - since >= STOP_SPOT_MIN_S)
                for i in np.flatnonzero(routine):
                    self.stop_spots.append(
                        [ts, float(tb.anchor[slots[i], 0]), float(tb.anchor[slots[i], 1])]
                    )
                for s in gone[tb.stalled[gone]]:
                    tb.stalled[s] = False
                    self.book.end(f"stalled:{int(tb.track_id[s])}", ts, (frame_seq, ts))
                tb.stopped_since[gone] = np.nan
                tb.queued[gone] = False
                again = left & stopped
                tb.stopped_since[slots[again]] = ts
                tb.anchor[slots[again]] = xy[again]
        if self.orphans:
            self._adopt_orphans(slots, ids, xy, stopped, ts, frame_seq)
        # Stalled: stopped long enough, outside queue zones, and never seen queueing behind
        # slow traffic during this stop (the check runs while the stop lasts, because a
        # queued vehicle that starts to squeeze past the blockage no longer looks queued).
        since = tb.stopped_since[slots]
        stop = ~np.isnan(since) & ~tb.stalled[slots] & ~tb.queued[slots] & (lane >= 0)
        if stop.any():
            # Traffic seen in the last moments, and stalled vehicles however long hidden.
            live = np.flatnonzero(tb.alive & ((ts - tb.last_ts <= RECENT_S) | tb.stalled))
            live_xy = tb.latest_xy(live)
            slow = ~(tb.speed[live] * 3.6 > QUEUE_SLOW_KMH)  # unknown speed counts as slow
            if self.orphans:  # stalled vehicles hidden behind traffic still block their lane
                live_xy = np.concatenate([live_xy, [[o[1], o[2]] for o in self.orphans]])
                slow = np.concatenate([slow, np.ones(len(self.orphans), bool)])
            k = np.flatnonzero(stop)
            rel = live_xy[None, :, :] - xy[k][:, None, :]  # (stopped, live, 2)
            t = tangent[k][:, None, :]
            ahead = (rel * t).sum(-1)
            side = np.abs(rel[..., 0] * t[..., 1] - rel[..., 1] * t[..., 0])
            blocked = (
                (ahead > 0.5) & (ahead <= QUEUE_AHEAD_M) & (side < QUEUE_SIDE_M) & slow[None]
            ).any(axis=1)
            tb.queued[slots[k[blocked]]] = True
        cand = (
            ~np.isnan(since)
            & ~tb.stalled[slots]
            & ~tb.queued[slots]
            & (lane >= 0)
            & (ts - np.where(np.isnan(since), ts, since) >= p.stall_s)
        )
        if cand.any():
            cand &= ~self._routine_stop(slots, xy, lane, tangent, since, ts, cand)
        if cand.any():
            in_queue = np.zeros(len(slots), bool)
            for z in self.queue_zones:
                in_queue |= points_in_polygon(xy, z.polygon)
            for i in np.flatnonzero(cand & ~in_queue):
                s = slots[i]
                tb.stalled[s] = True
                zone = self._incident_zone(xy[i : i + 1])
                self.book.start(
                    f"stalled:{int(ids[i])}",
                    "stalled_vehicle",
                    float(since[i]),
                    severity="warning",
                    lane_id=self.lane_ids[lane[i]] if lane[i] >= 0 else None,
                    zone_id=zone,
                    track_ids=[int(ids[i])],
                    frame=(frame_seq, ts),
                )
        # Wrong-way: distance travelled against the lane direction while in the lane.
        along = (vel * tangent).sum(1)
        inl = (lane >= 0) & np.isfinite(along)
        back = inl & (along < -1.0)
        fwd = inl & (along > 1.0)
        # A backward run ends once the track was not seen going backwards for
        # WRONG_WAY_GAP_S: jitter in a slow queue (a box hopping between two queued
        # vehicles) must not add up over minutes with a later id jump into one 10 m run.
        gap = ~tb.wrong_way[slots] & (ts - tb.rev_last[slots] > WRONG_WAY_GAP_S)
        if gap.any():
            g = slots[gap]
            tb.rev_m[g] = 0.0
            tb.rev_since[g] = np.nan
        if back.any():
            b = slots[back]
            tb.rev_last[b] = ts
            tb.rev_m[b] += -along[back] * dt
            fresh = np.isnan(tb.rev_since[b])
            tb.rev_since[b[fresh]] = ts
            for i in np.flatnonzero(back):
                s = slots[i]
                if (
                    tb.rev_m[s] >= p.wrong_way_min_m
                    and not tb.wrong_way[s]
                    and ts - tb.rev_since[s] >= WRONG_WAY_MIN_S
                ):
                    tb.wrong_way[s] = True
                    self.book.start(
                        f"wrong_way:{int(ids[i])}",
                        "wrong_way",
                        float(tb.rev_since[s]),
                        severity="critical",
                        lane_id=self.lane_ids[lane[i]],
                        track_ids=[int(ids[i])],
                        frame=(frame_seq, ts),
                    )
        if fwd.any():
            f = slots[fwd & ~tb.wrong_way[slots]]
            tb.rev_m[f] = 0.0
            tb.rev_since[f] = np.nan
        # A wrong-way event ends when the vehicle has left its lane (or turned round)
        # for WRONG_WAY_GONE_S: the end is the last time it was seen going the wrong way.
        ww = slots[tb.wrong_way[slots]]
        for s in ww[ts - tb.rev_last[ww] > WRONG_WAY_GONE_S]:
            tb.wrong_way[s] = False
            tb.rev_m[s] = 0.0
            tb.rev_since[s] = np.nan
            self.book.end(
                f"wrong_way:{int(tb.track_id[s])}", float(tb.rev_last[s]), (frame_seq, ts)
            )
        if self.abrupt or tb.stalled[slots].any() or self._incident_open():
            self._incidents(ts, frame_seq)

    def _areas_of(self, xy: np.ndarray, lane: np.ndarray) -> list[str]:
        out = []
        for area, poly, li in self.incident_areas:
            if poly is not None:
                if points_in_polygon(xy, poly)[0]:
                    out.append(area)
            elif lane[0] == li:
                out.append(area)
        return out

    def _routine_stop(
        self,
        slots: np.ndarray,
        xy: np.ndarray,
        lane: np.ndarray,
        tangent: np.ndarray,
        since: np.ndarray,
        ts: float,
        cand: np.ndarray,
    ) -> np.ndarray:
        """``(n,)`` bool: candidates whose stop looks routine (a signal or a stop line).

        Routine: another vehicle stood within STOP_SPOT_M of the same place for at least
        STOP_SPOT_MIN_S and left during the last STOP_MEMORY_S; or vehicles in another
        lane with the same direction are standing abreast while no other lane of that
        direction has had a vehicle cross its counting line since this one stopped (a
        red light stops all lanes; a breakdown, or a collision across two lanes, blocks
        some while the others flow). Marks those tracks queued.
        """
        tb = self.table
        self.stop_spots = [sp for sp in self.stop_spots if ts - sp[0] <= STOP_MEMORY_S]
        out = np.zeros(len(slots), bool)
        spots = np.array([sp[1:] for sp in self.stop_spots]).reshape(-1, 2)
        stopped_now = ~np.isnan(since)
        for i in np.flatnonzero(cand):
            if len(spots) and (np.hypot(*(spots - xy[i]).T) <= STOP_SPOT_M).any():
                out[i] = True
                continue
            rel = xy - xy[i]
            along = np.abs(rel @ tangent[i])
            abreast = (
                stopped_now
                & (lane >= 0)
                & (lane != lane[i])
                & (along <= STOP_SPOT_M)
                & ((tangent @ tangent[i]) > 0.9)
            )
            if abreast.any() and not self._others_flowed(lane[i], tangent[i], float(since[i])):
                out[i] = True
        tb.queued[slots[out]] = True
        return out

    def _others_flowed(self, lane: int, tangent: np.ndarray, since: float) -> bool:
        """Whether a vehicle crossed the counting line of another lane of this travel
        direction at or after ``since``."""
        mine = self.lane_ids[lane]
        for j, line in enumerate(self.config.lines):
            if (
                line.lane_id != mine
                and float(self.counter.normal[j] @ tangent) > 0.9
                and self.line_last_ts[j] >= since
            ):
                return True
        return False

    def _adopt_orphans(
        self,
        slots: np.ndarray,
        ids: np.ndarray,
        xy: np.ndarray,
        stopped: np.ndarray,
        ts: float,
        frame_seq: int,
    ) -> None:
        """Hand a lost stalled vehicle's open event to a stopped track at the same spot."""
        tb, keep = self.table, []
        for o in self.orphans:
            key, x, y, last, since = o[:5]
            cand = np.flatnonzero(
                stopped
                & ~tb.stalled[slots]
                & (np.hypot(xy[:, 0] - x, xy[:, 1] - y) <= ADOPT_RADIUS_M)
            )
            if len(cand):
                i = int(cand[0])
                new_key = f"stalled:{int(ids[i])}"
                ev = self.book.rekey(key, new_key)
                if ev is not None:
                    ev.add_track(int(ids[i]))
                    ev.add_frame(frame_seq, ts)
                    tb.stalled[slots[i]] = True
                    tb.stopped_since[slots[i]] = since
                    tb.anchor[slots[i]] = (x, y)
                continue
            # While something stands in front of the spot, the vehicle is presumably still
            # there; once the spot is in plain view without it for ORPHAN_CLEAR_S, it left.
            u, v = apply_h(self.Hi, np.array([[x, y]]))[0]
            b = self._boxes
            hidden = bool(np.any((b[:, 0] <= u) & (u <= b[:, 2]) & (b[:, 1] <= v) & (v <= b[:, 3])))
            if hidden:
                o[5] = None
            elif o[5] is None:
                o[5] = ts
            if (o[5] is not None and ts - o[5] >= ORPHAN_CLEAR_S) or ts - last > ORPHAN_MAX_S:
                self.book.end(key, last)
                continue
            keep.append(o)
        self.orphans = keep

    def _incident_zone(self, xy: np.ndarray) -> str | None:
        for area, poly, _ in self.incident_areas:
            if poly is not None and points_in_polygon(xy, poly)[0]:
                return area
        return None

    def _incident_open(self) -> bool:
        return bool(self.book.open) and any(k.startswith("incident:") for k in self.book.open)

    def _incidents(self, ts: float, frame_seq: int) -> None:
        """Open/close incidents per area from stalled vehicles and abrupt stops that stayed.

        Evidence in an area: vehicles stalled there, and vehicles that stopped abruptly
        there and are still standing ``ABRUPT_HOLD_S`` later (a braking wave in a jam
        moves on; a crash does not).
        """
        p, tb = self.params, self.table
        live = np.flatnonzero(tb.alive & (ts - tb.last_ts <= RECENT_S))
        xy = tb.latest_xy(live)
        lane = tb.lane[live]
        stalled = tb.stalled[live]
        for area, poly, li in self.incident_areas:
            inside = points_in_polygon(xy, poly) if poly is not None else lane == li
            evid: dict[int, float] = {}
            for i in np.flatnonzero(stalled & inside):
                evid[int(tb.track_id[live[i]])] = float(tb.stopped_since[live[i]])
            recent = [e for e in self.abrupt.get(area, []) if ts - e[0] <= p.incident_window_s]
            if recent:
                self.abrupt[area] = recent
            else:
                self.abrupt.pop(area, None)
            for t0, track in recent:
                s = tb.slot_of.get(int(track))
                if s is None or not tb.alive[s]:
                    continue
                since = tb.stopped_since[s]
                if np.isfinite(since) and since <= t0 + 0.5 and ts - since >= ABRUPT_HOLD_S:
                    evid.setdefault(int(track), t0)
            key = f"incident:{area}"
            ev = self.book.get(key)
            if evid:
                self.incident_seen[area] = ts
            if ev is None and len(evid) >= p.incident_min_vehicles:
                zone = area if poly is not None else None
                lane_id = self.lane_ids[li] if li is not None else None
                self.book.start(
                    key,
                    "incident",
                    min(evid.values()),
                    severity="critical",
                    lane_id=lane_id,
                    zone_id=zone,
                    track_ids=sorted(evid),
                    frame=(frame_seq, ts),
                )
            elif ev is not None:
                for t in evid:
                    ev.add_track(t)
                if not evid:
                    self.book.end(key, self.incident_seen.get(area, ts), (frame_seq, ts))

    def _track_gone(self, s: int) -> None:
        """A track left (evicted): end its per-track events at its last sighting."""
        tb = self.table
        tid = int(tb.track_id[s])
        last = float(tb.last_ts[s])
        if tb.stalled[s]:
            x, y = tb.anchor[s]
            self.orphans.append(
                [f"stalled:{tid}", float(x), float(y), last, float(tb.stopped_since[s]), None]
            )
        if (tb.line_side[s] > 0).any() and np.hypot(*tb.vel[s]) < BIRTH_SLOW_MPS:
            x, y = tb.latest_xy(np.array([s]))[0]
            d = (
                float(x) * self.counter.normal[:, 0]
                + float(y) * self.counter.normal[:, 1]
                - self.counter.offset
            )
            ctr = self.counter
            along = float(x) * ctr.unit[:, 0] + float(y) * ctr.unit[:, 1] - ctr.along0
            # Past a line it crossed: within that lane's segment. Sides are kept for the
            # whole line, so a car queued short of its own stop line is "past" the
            # opposite carriageway's line; remembered, it vetoed real hidden crossings.
            passed = (
                (tb.line_side[s] > 0)
                & (d <= BIRTH_PAST_M)
                & (along >= -END_SLACK_M)
                & (along <= ctr.seg_len + END_SLACK_M)
            )
            if passed.any():
                nx, ny = self.counter.normal[int(np.argmax(passed))]  # its travel direction
                self.lost_counted.append([last, float(x), float(y), float(nx), float(ny)])
        if tb.wrong_way[s]:
            rl = float(tb.rev_last[s])
            self.book.end(f"wrong_way:{tid}", rl if np.isfinite(rl) else last)

    def _close_minutes(self, out: AnalysisOutput) -> None:
        for c in self.windows.advance(hold=self._hold() if self.pending else None):
            out.minute_rows.extend(c.rows)
            self.congestion.update(self.book, c.minute_ts, c.density_pcmpl)

    # ------------------------------------------------------------------ state

    def latest_state(self) -> dict[str, Any]:
        """A small JSON-safe snapshot for dashboards (Redis)."""
        last = self._last
        lanes: dict[str, Any] = {}
        xy = last.get("xy", np.zeros((0, 2)))
        lane = last.get("lane", np.zeros(0, np.int16))
        speed = last.get("speed", np.zeros(0))
        occ = last.get("occupied", np.zeros(len(self.lane_ids), bool))
        for i, lid in enumerate(self.lane_ids):
            m = lane == i
            sp = speed[m]
            sp = sp[np.isfinite(sp)]
            lanes[lid] = {
                "vehicles": int(m.sum()),
                "occupied": bool(occ[i]),
                "mean_speed_kmh": round(float(sp.mean()) * 3.6, 1) if len(sp) else None,
            }
        for z in self.queue_zones:
            lane_id = str(z.lane_id)  # queue zones always name their lane
            li = self.lane_ids.index(lane_id)
            ln = self.config.lanes[li]
            inside = points_in_polygon(xy, z.polygon) & (lane == li)
            if inside.any():
                s, _, _ = ln.locate(xy[inside])
                stop_s = float(ln.locate(z.polygon)[0].max())
                st = np.nan_to_num(speed[inside], nan=99.0) * 3.6 < self.params.stopped_kmh
                q = queue_length(s, st, last["length"][inside], stop_s)
            else:
                q = 0.0
            lanes[lane_id]["queue_m"] = round(q, 1)
        return {
            "camera_id": self.camera_id,
            "ts": self.prev_ts,
            "frame_seq": self.frame_seq,
            "tracks": len(last.get("ids", [])),
            "lanes": lanes,
            "open_events": [
                {"event_id": e.event_id, "event_type": e.event_type, "start_ts": e.start_ts}
                for e in self.book.open.values()
            ],
        }

    def queue_lengths(self) -> dict[str, float]:
        """Queue length (m) per queue zone at the last frame."""
        st = self.latest_state()
        return {z.zone_id: st["lanes"][z.lane_id].get("queue_m", 0.0) for z in self.queue_zones}

    def to_state(self) -> dict[str, Any]:
        """JSON-safe snapshot of everything needed to resume after a restart."""
        return {
            "version": STATE_VERSION,
            "camera_id": self.camera_id,
            "tracker": self.tracker.to_state(),
            "tracks": self.table.to_state(),
            "windows": self.windows.to_state(),
            "events": self.book.to_state(),
            "congestion": self.congestion.to_state(),
            "last_alive": self.offline.last_alive,
            "prev_ts": self.prev_ts,
            "frame_seq": self.frame_seq,
            "late_frames": self.late_frames,
            "abrupt": self.abrupt,
            "incident_seen": self.incident_seen,
            "orphans": self.orphans,
            "stop_spots": self.stop_spots,
            "line_last_ts": self.line_last_ts,
            "watch_since": self.watch_since,
            "lost_counted": self.lost_counted,
            "pending": self.pending,
        }

    @classmethod
    def from_state(
        cls, config: CameraConfig, state: dict[str, Any], *, run_id: str = ""
    ) -> CameraAnalyzer:
        """Resume from :meth:`to_state` (same camera configuration)."""
        if state.get("version") != STATE_VERSION or state.get("camera_id") != config.camera_id:
            raise ValueError(
                f"analyzer state is for camera {state.get('camera_id')!r} version "
                f"{state.get('version')!r}, expected {config.camera_id!r} v{STATE_VERSION}"
            )
        a = cls(
            config,
            run_id=run_id,
            tracker=ByteTracker.from_state(state["tracker"], tracker_config(config)),
        )
        a.table.load_state(state["tracks"])
        a.windows.load_state(state["windows"])
        a.book.load_state(state["events"])
        a.congestion.load_state(state["congestion"])
        a.offline.last_alive = state["last_alive"]
        a.prev_ts = state["prev_ts"]
        a.frame_seq = state["frame_seq"]
        a.late_frames = state["late_frames"]
        a.abrupt = state["abrupt"]
        a.incident_seen = state["incident_seen"]
        a.orphans = state.get("orphans", [])
        a.stop_spots = state.get("stop_spots", [])
        a.line_last_ts = list(state.get("line_last_ts", a.line_last_ts))
        a.watch_since = state.get("watch_since")
        a.lost_counted = state.get("lost_counted", [])
        a.pending = state.get("pending", [])
        return a
