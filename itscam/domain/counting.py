"""Counting lines with anti-flicker hysteresis, in road-plane metres.

For each line the signed distance of a track's ground point is
``d = (p - p1) . normal`` with ``normal`` oriented along the lane's travel
direction. A track has a *definite side* per line: ``-1`` once ``d < -margin``,
``+1`` once ``d > +margin``; inside the band ``|d| <= margin`` it keeps its last
definite side. A crossing is a change of definite side (so jitter on the line
counts once, or not at all), ``-1 -> +1`` being ``forward`` and ``+1 -> -1``
``reverse`` (wrong-way). The crossing time is interpolated where ``d`` last
changed sign, not when the far margin was reached. A crossing only counts where
the ground point lies along the segment (lines are per lane).

A track's first observed position only sets its side; it is never a crossing. The
tracker reports tracks only after ``min_hits`` frames, so a restarted worker (fresh
tracker, no state) counts vehicles when they next cross, never in a burst.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from itscam.domain.registry import CountLine
from itscam.domain.speed import TrackTable

#: Slack (m) beyond a segment's ends within which a crossing still counts.
END_SLACK_M = 0.5


@dataclass(frozen=True)
class LineCrossing:
    """One counted crossing (before class and speed are attached)."""

    line_index: int
    slot: int
    direction: str  # 'forward' | 'reverse'
    ts: float


class LineCounter:
    """Vectorised hysteresis counting over all lines of one camera.

    Keeps its per-track state as columns of the shared :class:`TrackTable`:
    ``line_side`` ``(cap, L)`` int8, ``line_d`` ``(cap, L)`` last signed distance,
    ``line_zc`` ``(cap, L)`` time of the last sign change, ``line_prev_ts`` ``(cap,)``.
    """

    def __init__(self, lines: tuple[CountLine, ...], table: TrackTable) -> None:
        self.lines = lines
        self.table = table
        n_lines = len(lines)
        self.p1 = np.array([ln.p1 for ln in lines]).reshape(-1, 2)
        self.normal = np.array([ln.normal for ln in lines]).reshape(-1, 2)
        seg = np.array([ln.p2 - ln.p1 for ln in lines]).reshape(-1, 2)
        self.seg_len = np.hypot(seg[:, 0], seg[:, 1])
        self.unit = seg / np.maximum(self.seg_len, 1e-9)[:, None]
        self.offset = (self.p1 * self.normal).sum(1)
        self.along0 = (self.p1 * self.unit).sum(1)
        self.margin = np.array([ln.margin_m for ln in lines])
        self.allow_fwd = np.array(["forward" in ln.directions for ln in lines])
        self.allow_rev = np.array(["reverse" in ln.directions for ln in lines])
        table.add_column("line_side", (n_lines,), np.int8, 0)
        table.add_column("line_d", (n_lines,), np.float64, np.nan)
        table.add_column("line_zc", (n_lines,), np.float64, np.nan)
        table.add_column("line_prev_ts", (), np.float64, np.nan)

    def most_central(self, along: np.ndarray, js: np.ndarray) -> int:
        """Of lines ``js``, the one whose segment ``along`` (a track's ``(L,)`` positions
        along every line) passes nearest its middle."""
        return int(js[np.argmin(np.abs(along[js] / self.seg_len[js] - 0.5))])

    def update(self, slots: np.ndarray, xy: np.ndarray, ts: float) -> list[LineCrossing]:
        """Advance the tracks in ``slots`` to ground points ``xy`` ``(n, 2)`` at ``ts``."""
        if not len(self.lines) or not len(slots):
            return []
        tb = self.table
        d = xy @ self.normal.T - self.offset  # (n, L)
        along = xy @ self.unit.T - self.along0
        side_now = np.where(d > self.margin, 1, np.where(d < -self.margin, -1, 0)).astype(np.int8)
        prev_side = tb.line_side[slots]
        prev_d = tb.line_d[slots]
        prev_ts = tb.line_prev_ts[slots][:, None]
        # Where d changed sign since the previous frame, remember when (linear interpolation).
        flipped = np.isfinite(prev_d) & (np.sign(d) != np.sign(prev_d))
        if flipped.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.clip(prev_d / (prev_d - d), 0.0, 1.0)
            zc = prev_ts + (ts - prev_ts) * frac
            zc_all = tb.line_zc[slots]
            zc_all[flipped] = zc[flipped]
            tb.line_zc[slots] = zc_all
        crossed = (side_now != 0) & (prev_side != 0) & (side_now != prev_side)
        crossed &= (along >= -END_SLACK_M) & (along <= self.seg_len + END_SLACK_M)
        new_side = np.where(side_now != 0, side_now, prev_side)
        tb.line_side[slots] = new_side
        tb.line_d[slots] = d
        tb.line_prev_ts[slots] = ts
        if not crossed.any():
            return []
        out = []
        zc_all = tb.line_zc[slots]
        # Adjacent per-lane lines share ends (and the end slack overlaps): a vehicle on
        # the boundary crosses two of them at once. Keep the line it crossed most
        # centrally.
        multi = np.flatnonzero(crossed.sum(axis=1) > 1)
        for i in multi:
            js = np.flatnonzero(crossed[i])
            crossed[i, js[js != self.most_central(along[i], js)]] = False
        for i, j in zip(*np.nonzero(crossed), strict=True):
            fwd = side_now[i, j] > 0
            if (fwd and not self.allow_fwd[j]) or (not fwd and not self.allow_rev[j]):
                continue
            t = zc_all[i, j]
            out.append(
                LineCrossing(
                    int(j),
                    int(slots[i]),
                    "forward" if fwd else "reverse",
                    float(t) if np.isfinite(t) else ts,
                )
            )
        return out
