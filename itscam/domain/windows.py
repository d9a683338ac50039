"""1-minute tumbling windows per camera, lane and direction.

Windows are aligned to UTC minutes of *event time* (capture timestamps, epoch
seconds). A minute ``[m, m + 60)`` closes once the watermark (the newest capture
time seen, minus ``lateness_s``) reaches ``m + 60``; crossings that arrive later
than that are dropped and counted in :attr:`MinuteWindows.late_dropped`. Every minute
between the first data and the watermark is emitted, including minutes without
frames (``healthy_s = 0``), so coverage gaps are visible downstream.

A closed minute yields one row per lane for ``forward`` and, when any were seen, one
for ``reverse`` (wrong-way traffic), matching ``analytics.lane_counts_1m``:

    camera_id, lane_id, direction, minute_ts, car, motorcycle, bus, truck, total,
    mean_speed_kmh, speed_count, occupancy, mean_headway_s, healthy_s, run_id

``minute_ts`` is epoch seconds (float) like every ``*_ts`` in this package; use
:func:`itscam.domain.events.as_db_row` to get ``datetime`` values for the database.
Occupancy is the share of the minute's healthy seconds during which the lane's
detector zone was occupied. Headway is the mean gap between consecutive crossings of
the lane and direction, the first one measured from the previous minute's last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from itscam.domain.detections import HEAVY_CLASSES, VEHICLE_CLASSES

DIRS = ("forward", "reverse")
_CLS = {c: i for i, c in enumerate(VEHICLE_CLASSES)}
#: Longest stretch of minutes emitted at once after a gap (one day).
MAX_GAP_MINUTES = 24 * 60
#: Minimum healthy seconds in a minute for a density figure.
MIN_DENSITY_S = 10.0
M_PER_MILE = 1609.344


def minute_of(ts: float) -> int:
    return math.floor(ts / 60.0) * 60


@dataclass
class _Minute:
    counts: np.ndarray  # (lanes, 2, classes) int
    speed_sum: np.ndarray  # (lanes, 2)
    speed_n: np.ndarray  # (lanes, 2)
    headway_sum: np.ndarray  # (lanes, 2)
    headway_n: np.ndarray  # (lanes, 2)
    occ_s: np.ndarray  # (lanes,)
    pcu_s: np.ndarray  # (lanes,) passenger-car units present x seconds
    healthy_s: float = 0.0

    @classmethod
    def new(cls, n_lanes: int) -> _Minute:
        z2 = np.zeros((n_lanes, 2))
        return cls(
            np.zeros((n_lanes, 2, len(VEHICLE_CLASSES)), np.int64),
            z2.copy(),
            z2.copy(),
            z2.copy(),
            z2.copy(),
            np.zeros(n_lanes),
            np.zeros(n_lanes),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> _Minute:
        m = cls.new(1)
        for k, v in st.items():
            cur = getattr(m, k)
            setattr(m, k, np.asarray(v, cur.dtype) if isinstance(cur, np.ndarray) else float(v))
        return m


@dataclass(frozen=True)
class ClosedMinute:
    """A closed minute: its table rows and, per lane, the mean density (pc/mi/ln)."""

    minute_ts: float
    rows: list[dict[str, Any]]
    density_pcmpl: dict[str, float | None] = field(default_factory=dict)
    healthy_s: float = 0.0


class MinuteWindows:
    """Accumulates per-lane minute statistics of one camera.

    Args:
        camera_id, run_id: copied into every row.
        lane_ids: lanes in a fixed order (the index used by :meth:`add_frame` arrays).
        lane_length_m: ``(lanes,)`` length of each lane visible to the camera, for density.
        lateness_s: how long a minute stays open after its end.
        heavy_pce: passenger-car equivalent of buses and trucks (density in pc/mi/ln).
    """

    def __init__(
        self,
        camera_id: str,
        lane_ids: list[str],
        lane_length_m: np.ndarray,
        *,
        run_id: str = "",
        lateness_s: float = 2.0,
        heavy_pce: float = 2.0,
    ) -> None:
        self.camera_id = camera_id
        self.run_id = run_id
        self.lane_ids = list(lane_ids)
        self.lane_index = {lid: i for i, lid in enumerate(self.lane_ids)}
        self.lane_length_m = np.asarray(lane_length_m, np.float64)
        self.lateness_s = lateness_s
        self.pce = np.array([heavy_pce if c in HEAVY_CLASSES else 1.0 for c in VEHICLE_CLASSES])
        self.open: dict[int, _Minute] = {}
        self.next_minute: int | None = None  # earliest minute not yet emitted
        self.watermark = -math.inf
        self.last_cross = np.full((len(self.lane_ids), 2), np.nan)
        self.late_dropped = 0

    def _minute(self, ts: float) -> _Minute | None:
        m = minute_of(ts)
        if self.next_minute is None:
            self.next_minute = m
        if m < self.next_minute:
            self.late_dropped += 1
            return None
        w = self.open.get(m)
        if w is None:
            w = self.open[m] = _Minute.new(len(self.lane_ids))
        return w

    def earliest_open(self) -> float:
        """The earliest time a crossing can still be counted at (its minute not emitted)."""
        return float(self.next_minute) if self.next_minute is not None else -math.inf

    def add_crossing(
        self, lane_id: str, direction: str, class_id: int, ts: float, speed_kmh: float | None
    ) -> bool:
        """Count one crossing; returns False when it arrived after its minute closed."""
        w = self._minute(ts)
        if w is None:
            return False
        li, di = self.lane_index[lane_id], DIRS.index(direction)
        w.counts[li, di, class_id] += 1
        if speed_kmh is not None and math.isfinite(speed_kmh):
            w.speed_sum[li, di] += speed_kmh
            w.speed_n[li, di] += 1
        prev = self.last_cross[li, di]
        if math.isfinite(prev) and 0 < ts - prev <= 300:
            w.headway_sum[li, di] += ts - prev
            w.headway_n[li, di] += 1
        if not math.isfinite(prev) or ts > prev:
            self.last_cross[li, di] = ts
        return True

    def add_frame(
        self,
        ts: float,
        dt: float,
        healthy: bool,
        occupied: np.ndarray | None = None,
        pcu_present: np.ndarray | None = None,
    ) -> None:
        """Account ``dt`` seconds of video ending at ``ts``.

        Args:
            occupied: ``(lanes,)`` bool, detector zone occupied during this frame.
            pcu_present: ``(lanes,)`` passenger-car units tracked in each lane.
        """
        self.watermark = max(self.watermark, ts - self.lateness_s)
        w = self._minute(ts)
        if w is None or not healthy:
            return
        w.healthy_s += dt
        if occupied is not None:
            w.occ_s += dt * occupied
        if pcu_present is not None:
            w.pcu_s += dt * pcu_present

    def advance(
        self, watermark: float | None = None, hold: float | None = None
    ) -> list[ClosedMinute]:
        """Close every minute that ends at or before the watermark; returns them in order.

        ``watermark`` (event time) moves the watermark forward, e.g. on a timer or at
        shutdown; without it the watermark is the newest frame time minus the lateness.
        ``hold``: keep the minute of this event time (and later ones) open for now,
        e.g. for a crossing still to be counted.
        """
        if watermark is not None:
            self.watermark = max(self.watermark, watermark)
        out: list[ClosedMinute] = []
        if self.next_minute is None:
            return out
        wm = self.watermark if hold is None else min(self.watermark, hold)
        last = minute_of(wm) - 60 if math.isfinite(wm) else None
        if last is None or last < self.next_minute:
            return out
        if (last - self.next_minute) // 60 > MAX_GAP_MINUTES:
            # Skip the empty stretch of a very long gap (rows for it would all be zero).
            self.next_minute = max(self.next_minute, min(self.open, default=last))
        m = self.next_minute
        while m <= last:
            w = self.open.pop(m, None) or _Minute.new(len(self.lane_ids))
            out.append(self._close(m, w))
            m += 60
        self.next_minute = m
        return out

    def _close(self, m: int, w: _Minute) -> ClosedMinute:
        rows = []
        healthy = min(60.0, w.healthy_s)
        occ = (
            np.clip(w.occ_s / max(w.healthy_s, 1e-9), 0, 1)
            if w.healthy_s > 0
            else np.zeros(len(self.lane_ids))
        )
        density: dict[str, float | None] = {}
        for li, lane in enumerate(self.lane_ids):
            if w.healthy_s >= MIN_DENSITY_S and self.lane_length_m[li] > 0:
                per_m = w.pcu_s[li] / w.healthy_s / self.lane_length_m[li]
                density[lane] = float(per_m * M_PER_MILE)
            else:
                density[lane] = None
            for di, direction in enumerate(DIRS):
                c = w.counts[li, di]
                if direction == "reverse" and not c.any():
                    continue
                sn = int(w.speed_n[li, di])
                hn = int(w.headway_n[li, di])
                rows.append(
                    {
                        "camera_id": self.camera_id,
                        "lane_id": lane,
                        "direction": direction,
                        "minute_ts": float(m),
                        **{cls: int(c[i]) for i, cls in enumerate(VEHICLE_CLASSES)},
                        "total": int(c.sum()),
                        "mean_speed_kmh": float(w.speed_sum[li, di] / sn) if sn else None,
                        "speed_count": sn,
                        "occupancy": float(occ[li]),
                        "mean_headway_s": float(w.headway_sum[li, di] / hn) if hn else None,
                        "healthy_s": float(healthy),
                        "run_id": self.run_id,
                    }
                )
        return ClosedMinute(float(m), rows, density, healthy)

    def pcu_weights(self, class_id: np.ndarray) -> np.ndarray:
        return self.pce[np.minimum(np.maximum(class_id, 0), len(self.pce) - 1)]

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        return {
            "open": {str(k): v.to_state() for k, v in self.open.items()},
            "next_minute": self.next_minute,
            "watermark": self.watermark if math.isfinite(self.watermark) else None,
            "last_cross": [
                [x if math.isfinite(x) else None for x in row] for row in self.last_cross.tolist()
            ],
            "late_dropped": self.late_dropped,
        }

    def load_state(self, st: dict[str, Any]) -> None:
        self.open = {int(k): _Minute.from_state(v) for k, v in st["open"].items()}
        self.next_minute = st["next_minute"]
        self.watermark = -math.inf if st["watermark"] is None else float(st["watermark"])
        lc = np.asarray(st["last_cross"], dtype=object)
        self.last_cross = np.where(lc == None, np.nan, lc).astype(np.float64)  # noqa: E711
        self.late_dropped = int(st["late_dropped"])
