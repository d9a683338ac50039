"""Traffic events: congestion, stalled vehicle, wrong-way, camera offline, incident.

Every event is an :class:`Event` whose :meth:`Event.row` matches ``analytics.events``.
An event is emitted when it starts (``end_ts = None``) and again when it ends; sinks
upsert on ``event_id``, which is deterministic (a hash of camera, type, start time and
the key track or zone), so a replay reproduces the same ids.

Rules (thresholds in :class:`~itscam.domain.registry.AnalysisParams`):

* ``congestion`` (per lane): a minute's density (pc/mi/ln, from the vehicles tracked
  in the lane over its visible length) at or above ``congestion_density`` (HCM LOS E
  starts at 35) for ``congestion_minutes`` consecutive minutes; starts at the first
  such minute, ends at the start of the first of ``congestion_minutes`` clear minutes.
  Severity ``critical`` when any minute reached LOS F (> 45), else ``warning``.
* ``stalled_vehicle`` (per track): below ``stopped_kmh`` for ``stall_s`` outside any
  queue zone, not queued behind slow traffic, and not where stops are routine (a spot
  where others stood and drove on; or standing abreast of a vehicle in another lane of
  its direction while no other lane of that direction has had a crossing since it
  stopped: a red light stops every lane, a collision across two lanes leaves the
  others flowing); starts when the vehicle stopped, ends when it moves off or is lost.
* ``wrong_way`` (per track): a reverse crossing of a counting line, or
  ``wrong_way_min_m`` travelled against its lane's direction in one run of at least
  1.5 s (a gap over 0.6 s without backward motion starts a new run, so queue jitter
  and id jumps do not add up); ends when the track ends.
* ``camera_offline``: no frame or heartbeat for ``offline_after_s``; starts at the
  last sign of life, ends at the next one.
* ``incident`` (per incident zone, or per lane without incident zones): at least
  ``incident_min_vehicles`` distinct vehicles stalled, or stopped abruptly
  (deceleration >= ``abrupt_decel_mps2``), within ``incident_window_s``.

Times are epoch seconds (float).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENT_TYPES = ("congestion", "stalled_vehicle", "wrong_way", "camera_offline", "incident")
#: LOS F starts above this density (pc/mi/ln) for basic freeway segments (HCM 6).
LOS_F_DENSITY = 45.0


def event_id(camera_id: str, event_type: str, start_ts: float, key: str) -> str:
    """Deterministic id: hash of camera, type, start (ms) and the key track/zone/lane."""
    raw = f"{camera_id}|{event_type}|{round(start_ts * 1000)}|{key}"
    return hashlib.sha1(raw.encode()).hexdigest()[:24]


@dataclass
class Event:
    """One event. ``evidence`` holds ``track_ids`` and ``frames`` ([frame_seq, ts] pairs)."""

    event_id: str
    camera_id: str
    event_type: str
    severity: str
    start_ts: float
    end_ts: float | None = None
    lane_id: str | None = None
    zone_id: str | None = None
    evidence: dict[str, Any] = field(default_factory=lambda: {"track_ids": [], "frames": []})
    run_id: str = ""

    def row(self) -> dict[str, Any]:
        """An ``analytics.events`` row (times as epoch seconds)."""
        return {
            "event_id": self.event_id,
            "camera_id": self.camera_id,
            "event_type": self.event_type,
            "severity": self.severity,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "lane_id": self.lane_id,
            "zone_id": self.zone_id,
            "evidence": {
                "track_ids": list(self.evidence.get("track_ids", [])),
                "frames": [list(f) for f in self.evidence.get("frames", [])],
                **{k: v for k, v in self.evidence.items() if k not in ("track_ids", "frames")},
            },
            "run_id": self.run_id,
        }

    def add_track(self, track_id: int) -> None:
        ids = self.evidence.setdefault("track_ids", [])
        if track_id not in ids:
            ids.append(int(track_id))

    def add_frame(self, frame_seq: int, ts: float) -> None:
        """Keep the first and the latest frame reference only (bounded evidence)."""
        frames = self.evidence.setdefault("frames", [])
        ref = [int(frame_seq), float(ts)]
        if len(frames) < 2:
            frames.append(ref)
        else:
            frames[-1] = ref

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Event:
        return cls(
            **{
                k: r[k]
                for k in (
                    "event_id",
                    "camera_id",
                    "event_type",
                    "severity",
                    "start_ts",
                    "end_ts",
                    "lane_id",
                    "zone_id",
                    "evidence",
                    "run_id",
                )
            }
        )


def as_db_row(row: dict[str, Any]) -> dict[str, Any]:
    """Copy of a row with every ``*_ts`` epoch-seconds value as a UTC ``datetime``."""
    out = dict(row)
    for k, v in row.items():
        if k.endswith("_ts") and isinstance(v, int | float):
            out[k] = datetime.fromtimestamp(v, UTC)
    return out


class EventBook:
    """Open events of one camera by key, and the rows to emit for this frame."""

    def __init__(self, camera_id: str, run_id: str = "") -> None:
        self.camera_id = camera_id
        self.run_id = run_id
        self.open: dict[str, Event] = {}
        self.pending: list[dict[str, Any]] = []

    def start(
        self,
        key: str,
        event_type: str,
        start_ts: float,
        *,
        severity: str,
        lane_id: str | None = None,
        zone_id: str | None = None,
        track_ids: list[int] | None = None,
        frame: tuple[int, float] | None = None,
        emit: bool = True,
    ) -> Event:
        ev = Event(
            event_id(self.camera_id, event_type, start_ts, key),
            self.camera_id,
            event_type,
            severity,
            start_ts,
            None,
            lane_id,
            zone_id,
            run_id=self.run_id,
        )
        for t in track_ids or []:
            ev.add_track(t)
        if frame is not None:
            ev.add_frame(*frame)
        self.open[key] = ev
        if emit:
            self.pending.append(ev.row())
        return ev

    def end(self, key: str, end_ts: float, frame: tuple[int, float] | None = None) -> Event | None:
        ev = self.open.pop(key, None)
        if ev is None:
            return None
        ev.end_ts = max(end_ts, ev.start_ts)
        if frame is not None:
            ev.add_frame(*frame)
        self.pending.append(ev.row())
        return ev

    def rekey(self, old: str, new: str) -> Event | None:
        """Move an open event to another key (e.g. a new track took over); None if absent."""
        ev = self.open.pop(old, None)
        if ev is not None:
            self.open[new] = ev
        return ev

    def get(self, key: str) -> Event | None:
        return self.open.get(key)

    def drain(self) -> list[dict[str, Any]]:
        out, self.pending = self.pending, []
        return out

    def to_state(self) -> dict[str, Any]:
        return {k: ev.row() for k, ev in self.open.items()}

    def load_state(self, st: dict[str, Any]) -> None:
        self.open = {k: Event.from_row(r) for k, r in st.items()}


class CongestionDetector:
    """Per-lane LOS E/F persistence over closed minutes."""

    def __init__(self, threshold: float, minutes: int) -> None:
        self.threshold = threshold
        self.minutes = max(1, minutes)
        self.run: dict[str, list[float]] = {}  # lane -> start ts of the congested streak
        self.clear: dict[str, list[float]] = {}
        self.worst: dict[str, float] = {}

    def update(self, book: EventBook, minute_ts: float, density: dict[str, float | None]) -> None:
        for lane, k in density.items():
            key = f"congestion:{lane}"
            ev = book.get(key)
            congested = k is not None and k >= self.threshold
            if ev is None:
                streak = self.run.setdefault(lane, [])
                if congested:
                    streak.append(minute_ts)
                    self.worst[lane] = max(self.worst.get(lane, 0.0), k or 0.0)
                    if len(streak) >= self.minutes:
                        sev = "critical" if self.worst[lane] > LOS_F_DENSITY else "warning"
                        ev = book.start(
                            key, "congestion", streak[0], severity=sev, lane_id=lane, emit=True
                        )
                        ev.evidence["density_pcmpl"] = round(self.worst[lane], 1)
                        streak.clear()
                else:
                    streak.clear()
                    self.worst.pop(lane, None)
            else:
                clear = self.clear.setdefault(lane, [])
                if congested:
                    clear.clear()
                    peak = max(ev.evidence.get("density_pcmpl", 0.0), k or 0.0)
                    ev.evidence["density_pcmpl"] = round(peak, 1)
                    if peak > LOS_F_DENSITY:
                        ev.severity = "critical"
                else:
                    clear.append(minute_ts)
                    if len(clear) >= self.minutes:
                        book.end(key, clear[0])
                        clear.clear()
                        self.worst.pop(lane, None)

    def to_state(self) -> dict[str, Any]:
        return {"run": self.run, "clear": self.clear, "worst": self.worst}

    def load_state(self, st: dict[str, Any]) -> None:
        self.run, self.clear, self.worst = st["run"], st["clear"], st["worst"]


class OfflineDetector:
    """Camera heartbeat gaps."""

    KEY = "camera_offline"

    def __init__(self, offline_after_s: float) -> None:
        self.after = offline_after_s
        self.last_alive: float | None = None

    def alive(self, book: EventBook, ts: float, frame: tuple[int, float] | None = None) -> None:
        """A frame or heartbeat at ``ts``: close an open outage, or record a past one."""
        if self.last_alive is not None and ts - self.last_alive > self.after:
            if book.get(self.KEY) is None:
                book.start(
                    self.KEY, "camera_offline", self.last_alive, severity="warning", emit=False
                )
            book.end(self.KEY, ts, frame)
        elif book.get(self.KEY) is not None:
            book.end(self.KEY, ts, frame)
        if self.last_alive is None or ts > self.last_alive:
            self.last_alive = ts

    def check(self, book: EventBook, now: float) -> None:
        """Open an outage when ``now`` is more than ``offline_after_s`` past the last sign of life."""
        if (
            self.last_alive is not None
            and now - self.last_alive > self.after
            and book.get(self.KEY) is None
        ):
            book.start(self.KEY, "camera_offline", self.last_alive, severity="warning")
