"""Per-track world-plane history and calibrated speed.

Each confirmed track keeps a ring buffer of its last :data:`HISTORY` ground points:
the bottom-centre of its box (where the vehicle meets the road) mapped through the
camera's image -> world homography to road-plane metres. Speed is the slope of a
robust straight-line fit of position against time over the last
``speed_window_s`` seconds: least squares, then one Cauchy-reweighted pass so a
single jittered or clipped box does not drag the estimate. Everything is vectorised
over tracks; a frame with 40 tracks costs one pass of numpy over ``(40, HISTORY)``.

Units: metres, seconds; :func:`to_kmh` converts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from itscam.domain.arrays import pack, unpack

#: Samples kept per track: 1.6 s at 10 fps, 0.53 s at 30 fps (the speed window is capped by it).
HISTORY = 16
#: Minimum samples and time span for a speed estimate.
MIN_SAMPLES = 3
MIN_SPAN_S = 0.25
#: Scale (m) of the Cauchy weights of the robust pass; residuals well under it count fully.
ROBUST_SCALE_M = 0.4
N_CLASSES = 4


def to_kmh(mps: np.ndarray | float) -> np.ndarray | float:
    return mps * 3.6


class TrackTable:
    """Struct-of-arrays store of live tracks, keyed by tracker id.

    Rows ("slots") are reused after eviction. Other analysis modules keep per-track
    columns in arrays indexed by the same slots (see :meth:`add_column`).
    """

    def __init__(self, capacity: int = 64) -> None:
        self.slot_of: dict[int, int] = {}
        self.free: list[int] = []
        self.cap = 0
        self.track_id = np.zeros(0, np.int64)
        self.t = np.zeros((0, HISTORY))
        self.xy = np.zeros((0, HISTORY, 2))
        self.n = np.zeros(0, np.int64)  # samples written (ring index = n % HISTORY)
        self.first_ts = np.zeros(0)
        self.last_ts = np.zeros(0)
        self.votes = np.zeros((0, N_CLASSES))
        self.alive = np.zeros(0, bool)
        self._columns: dict[str, tuple[Any, Any]] = {}
        self._grow(capacity)

    def __getattr__(self, name: str) -> np.ndarray:
        # Columns registered with add_column are set as instance attributes; this only
        # runs for names never registered (and tells type checkers columns are arrays).
        raise AttributeError(f"TrackTable has no column {name!r}")

    # ------------------------------------------------------------------ slots

    def add_column(self, name: str, shape: tuple[int, ...], dtype: Any, fill: Any) -> np.ndarray:
        """Register a per-track array ``(cap, *shape)`` reset to ``fill`` for new tracks."""
        arr = np.full((self.cap, *shape), fill, dtype)
        self._columns[name] = (shape, fill)
        setattr(self, name, arr)
        return arr

    def _grow(self, new_cap: int) -> None:
        old = self.cap
        extra = new_cap - old

        def pad(a: np.ndarray, fill: Any = 0) -> np.ndarray:
            return np.concatenate([a, np.full((extra, *a.shape[1:]), fill, a.dtype)])

        self.track_id = pad(self.track_id, -1)
        self.t, self.xy, self.n = pad(self.t), pad(self.xy), pad(self.n)
        self.first_ts, self.last_ts = pad(self.first_ts), pad(self.last_ts)
        self.votes, self.alive = pad(self.votes), pad(self.alive, False)
        for name, (_, fill) in self._columns.items():
            setattr(self, name, pad(getattr(self, name), fill))
        self.free.extend(range(new_cap - 1, old - 1, -1))
        self.cap = new_cap

    def slots_for(self, ids: np.ndarray, ts: float) -> tuple[np.ndarray, np.ndarray]:
        """Slots of ``ids`` (allocating rows for new ones). Returns ``(slots, is_new)``."""
        slots = np.empty(len(ids), np.intp)
        is_new = np.zeros(len(ids), bool)
        get = self.slot_of.get
        for i, tid in enumerate(ids.tolist()):
            s = get(tid)
            if s is None:
                if not self.free:
                    self._grow(max(2 * self.cap, 16))
                s = self.free.pop()
                self.slot_of[tid] = s
                self._reset(s, tid, ts)
                is_new[i] = True
            slots[i] = s
        return slots, is_new

    def _reset(self, s: int, tid: int, ts: float) -> None:
        self.track_id[s] = tid
        self.n[s] = 0
        self.t[s] = -np.inf
        self.first_ts[s] = ts
        self.last_ts[s] = ts
        self.votes[s] = 0
        self.alive[s] = True
        for name, (_, fill) in self._columns.items():
            getattr(self, name)[s] = fill

    def evict(self, older_than: float) -> np.ndarray:
        """Free slots of tracks last seen before ``older_than``; returns the freed slots."""
        gone = np.flatnonzero(self.alive & (self.last_ts < older_than))
        for s in gone.tolist():
            del self.slot_of[int(self.track_id[s])]
            self.alive[s] = False
            self.free.append(s)
        return gone

    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    # ------------------------------------------------------------------ observations

    def observe(
        self,
        slots: np.ndarray,
        ts: float,
        xy: np.ndarray,
        class_id: np.ndarray,
        confidence: np.ndarray,
    ) -> None:
        """Append one ground point per slot: ``xy`` ``(n, 2)`` metres at time ``ts``."""
        k = self.n[slots] % HISTORY
        self.t[slots, k] = ts
        self.xy[slots, k] = xy
        self.n[slots] += 1
        self.last_ts[slots] = ts
        self.votes[slots, np.minimum(np.maximum(class_id, 0), N_CLASSES - 1)] += confidence

    def latest_xy(self, slots: np.ndarray) -> np.ndarray:
        return self.xy[slots, (self.n[slots] - 1) % HISTORY]

    def coarse_velocity(self, slots: np.ndarray) -> np.ndarray:
        """Velocity ``(n, 2)`` m/s from the oldest to the newest sample (0 with one sample).

        A motion prior for tracks too young for :meth:`velocity` (e.g. to predict where
        a two-frame fragment lost behind another vehicle reappears); not a speed
        measurement.
        """
        n = self.n[slots]
        last = (n - 1) % HISTORY
        first = np.where(n > HISTORY, n % HISTORY, 0)
        dt = self.t[slots, last] - self.t[slots, first]
        dxy = self.xy[slots, last] - self.xy[slots, first]
        with np.errstate(divide="ignore", invalid="ignore"):
            v = dxy / dt[:, None]
        return np.where((n >= 2)[:, None] & (dt > 0)[:, None] & np.isfinite(v), v, 0.0)

    def majority_class(self, slots: np.ndarray) -> np.ndarray:
        """``(n,)`` class ids by confidence-weighted vote over each track's life."""
        return np.argmax(self.votes[slots], axis=1)

    def velocity(self, slots: np.ndarray, now: float, window_s: float) -> np.ndarray:
        """Robust world velocity ``(n, 2)`` m/s over ``[now - window_s, now]``.

        Rows with fewer than :data:`MIN_SAMPLES` samples or a span under
        :data:`MIN_SPAN_S` are ``nan``.
        """
        return robust_velocity(self.t[slots], self.xy[slots], now, window_s)

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        live = self.live_slots()
        # Full precision throughout (packed float64): a restored table must continue
        # exactly like the uninterrupted one (rounded state changed a crossing after a
        # restart).
        return {
            "track_id": pack(self.track_id[live]),
            "t": pack(self.t[live]),
            "xy": pack(self.xy[live]),
            "n": pack(self.n[live]),
            "first_ts": pack(self.first_ts[live]),
            "last_ts": pack(self.last_ts[live]),
            "votes": pack(self.votes[live]),
            "columns": {name: pack(getattr(self, name)[live]) for name in self._columns},
        }

    def load_state(self, st: dict[str, Any]) -> None:
        ids = unpack(st["track_id"], np.int64)
        if not len(ids):
            return
        slots, _ = self.slots_for(ids, 0.0)
        if "t" in st:
            t = unpack(st["t"], np.float64)
            self.t[slots] = np.where(t <= -1e15, -np.inf, t)  # lists wrote -inf as -1e15
        else:  # checkpoints written before the state became lossless
            t = np.asarray(st["t_ms"], np.float64)
            self.t[slots] = np.where(t <= -1e15, -np.inf, st["t_base"] + t / 1000.0)
        self.xy[slots] = unpack(st["xy"], np.float64).reshape(-1, HISTORY, 2)
        self.n[slots] = unpack(st["n"], self.n.dtype)
        self.first_ts[slots] = unpack(st["first_ts"], np.float64)
        self.last_ts[slots] = unpack(st["last_ts"], np.float64)
        self.votes[slots] = unpack(st["votes"], np.float64).reshape(-1, N_CLASSES)
        for name, vals in st.get("columns", {}).items():
            if name in self._columns:
                arr = getattr(self, name)
                if isinstance(vals, dict):
                    arr[slots] = unpack(vals, arr.dtype).reshape(arr[slots].shape)
                    continue
                a = np.asarray(vals, dtype=object)  # a list: None for NaN
                if arr.dtype.kind == "f":
                    a = np.where(a == None, np.nan, a)  # noqa: E711 (elementwise)
                arr[slots] = a.astype(arr.dtype).reshape(arr[slots].shape)


def robust_velocity(t: np.ndarray, xy: np.ndarray, now: float, window_s: float) -> np.ndarray:
    """Robust velocity ``(n, 2)`` m/s of sample rows ``t`` ``(n, k)`` (s; ``-inf`` =
    empty) and ``xy`` ``(n, k, 2)`` over ``[now - window_s, now]``: least squares,
    then one Cauchy-reweighted pass. Rows with fewer than :data:`MIN_SAMPLES`
    samples or a span under :data:`MIN_SPAN_S` are ``nan``."""
    w = (t >= now - window_s - 1e-9).astype(np.float64)
    cnt = w.sum(1)
    tt = np.where(w > 0, t - now, 0.0)
    v, centre_t, centre_xy = _wls(tt, xy, w)
    pred = centre_xy[:, None, :] + v[:, None, :] * (tt - centre_t[:, None])[..., None]
    r2 = ((xy - pred) ** 2).sum(-1)
    w2 = w / (1.0 + r2 / ROBUST_SCALE_M**2)
    v, _, _ = _wls(tt, xy, w2)
    span = np.where(w > 0, tt, np.inf).min(1)
    ok = (cnt >= MIN_SAMPLES) & (-span >= MIN_SPAN_S)
    v[~ok] = np.nan
    return v


def _wls(t: np.ndarray, xy: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares line per row: returns ``(v (n,2), t_mean (n,), xy_mean (n,2))``."""
    sw = np.maximum(w.sum(1), 1e-12)
    tm = (w * t).sum(1) / sw
    xm = (w[..., None] * xy).sum(1) / sw[:, None]
    dt = t - tm[:, None]
    var = (w * dt * dt).sum(1)
    cov = (w[..., None] * dt[..., None] * (xy - xm[:, None, :])).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = cov / var[:, None]
    return v, tm, xm
