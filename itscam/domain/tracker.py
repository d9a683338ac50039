"""A lean ByteTrack-class multi-object tracker in plain numpy.

Algorithm (Zhang et al., ByteTrack, ECCV 2022), with the per-object Kalman filter
replaced by a vectorised constant-velocity alpha-beta filter on ``(cx, cy, w, h)``
whose gains follow the least-squares schedule ``alpha_k = 2(2k-1)/(k(k+1))``,
``beta_k = 6/(k(k+1))`` down to steady-state floors. For a constant-velocity target
that schedule is what a Kalman filter with a diffuse prior converges to, at a fraction
of the cost (no per-track covariance matrices).

Per frame:
    1. predict every live track to the frame's timestamp (``dt`` in seconds, so
       dropped frames and irregular sampling are handled);
    2. match high-confidence detections to confirmed and lost tracks by IoU
       (Hungarian assignment, ``scipy.optimize.linear_sum_assignment``); with
       ``class_groups`` set, a track never takes a detection of another class group
       (small vs large vehicles) unless it overlaps its prediction by
       ``class_switch_iou`` (a car coming into view where a bus just went out of
       sight would otherwise inherit the bus's track and class);
       just-confirmed tracks (``young_hits``) still unmatched get a second chance by
       buffered IoU (C-BIoU, ``confirmed_buffer``): their velocity from two or three
       boxes can overshoot;
    3. match low-confidence detections to the confirmed tracks still unmatched and
       seen within ``low_stage_lost_s`` (recovers occluded/blurred vehicles without
       starting tracks from them);
    4. match remaining high detections to tentative (not yet confirmed) tracks, by
       IoU and then, for what is left, by buffered IoU (a tentative track has no
       velocity yet); unmatched tentative tracks are dropped. Buffers are meant for
       ``buffer_dt`` (0.1 s) between frames and widen in proportion at lower rates;
    5. start tentative tracks from the remaining high detections, except those
       overlapping a detection on a track (or a more confident new one) by more
       than ``duplicate_iou``: the detector's NMS works within a class, so a truck
       near the horizon came as a "bus" box and a "truck" box in the same place, and
       each started a track counted at the line; tracks lost for longer than
       ``max_lost_s`` are removed.

A track is *confirmed* after ``min_hits`` matched frames; only confirmed tracks get
ids in the output, so one-frame false positives never reach counting. Ids are
deterministic: ``id_base + k`` for the k-th confirmed track, where a fresh tracker
takes ``id_base = int(first_timestamp) << 20`` so ids of a restarted worker do not
collide with those issued before the restart.

Coordinates: boxes are ``xyxy`` pixels of the original frame (see
:mod:`itscam.domain.detections`); velocities are pixels per second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from itscam.domain.arrays import pack, unpack
from itscam.domain.detections import Detections
from itscam.vision.postprocess import nms

STATE_VERSION = 1

_TENTATIVE, _CONFIRMED = 0, 1


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker thresholds (the tracker fields of ``AnalysisParams``)."""

    high_conf: float = 0.5
    low_conf: float = 0.1
    #: Detections at or above this start new tracks (ByteTrack's new-track threshold).
    new_track_conf: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.4
    tentative_match_iou: float = 0.3
    #: Buffer (fraction of box size per side) of the tentative-track IoU.
    tentative_buffer: float = 1.0
    #: Buffer of the second chance of young confirmed tracks (stage 1b; 0 = off): those
    #: with at most ``young_hits`` matches, whose velocity is still rough.
    confirmed_buffer: float = 0.3
    young_hits: int = 2
    #: Frame interval (s) the buffers are meant for; longer intervals widen them in proportion.
    buffer_dt: float = 0.1
    #: Low-score detections may also extend tracks lost for up to this long (s).
    low_stage_lost_s: float = 0.35
    min_hits: int = 2
    max_lost_s: float = 1.5
    #: Class id -> group (e.g. small vs large vehicles); a confirmed track never takes a
    #: detection of another group than its last one (a car appearing where a bus just
    #: went out of sight lies inside the bus's box and would inherit its track and its
    #: class). Empty = class-agnostic, as ByteTrack.
    class_groups: tuple[int, ...] = ()
    #: ... unless it overlaps the prediction at least this much (the detector changing
    #: its mind about the same vehicle).
    class_switch_iou: float = 0.5
    #: A high detection left unmatched that overlaps a detection already on a track, or
    #: a more confident new one, more than this (IoU) starts no track: it is a second
    #: box of the same vehicle under another class (the detector's NMS works within a
    #: class). 1.0 = off.
    duplicate_iou: float = 0.7
    #: Steady-state gain floors of the alpha-beta filter (position, velocity).
    alpha_min: float = 0.7
    beta_min: float = 0.3


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` ``(N, 4)`` against every box in ``b`` ``(M, 4)`` -> ``(N, M)``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    # np.maximum, not np.clip: the same values, a fifth of the cost on small arrays.
    inter = np.maximum(ix2 - ix1, 0.0) * np.maximum(iy2 - iy1, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def _assign(iou: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Optimal assignment maximising IoU; keeps pairs with IoU >= ``thresh``.

    Returns ``(rows, cols)`` index arrays.
    """
    if iou.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    cost = 1.0 - iou
    cost[iou < thresh] = 2.0
    r, c = linear_sum_assignment(cost)
    ok = iou[r, c] >= thresh
    return r[ok], c[ok]


def _unduplicated(
    xyxy: np.ndarray, conf: np.ndarray, taken: np.ndarray, new: np.ndarray, thresh: float
) -> np.ndarray:
    """The detections of ``new`` that may start a track, in their order.

    A new detection overlapping (IoU above ``thresh``) one of ``taken`` (on a track
    this frame) or a more confident new detection is a second box of that vehicle.
    """
    if len(taken):
        new = new[~(iou_matrix(xyxy[new], xyxy[taken]) > thresh).any(axis=1)]
    if len(new) < 2:
        return new
    # Among themselves: the detector's own greedy NMS, across classes.
    return new[np.sort(nms(xyxy[new], conf[new], thresh))]


def _buffer(xyxy: np.ndarray, scale: float) -> np.ndarray:
    """Boxes ``(N, 4)`` grown on every side by ``scale`` times their width/height."""
    if scale <= 0 or not len(xyxy):
        return xyxy
    wh = np.concatenate([xyxy[:, 2:] - xyxy[:, :2]] * 2, axis=1) * scale
    return xyxy + wh * np.array([-1, -1, 1, 1])


def _xyxy_to_state(xyxy: np.ndarray) -> np.ndarray:
    out = np.empty((len(xyxy), 4), np.float64)
    out[:, :2] = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    out[:, 2:] = xyxy[:, 2:] - xyxy[:, :2]
    return out


def _state_to_xyxy(s: np.ndarray) -> np.ndarray:
    half = np.maximum(s[:, 2:], 1.0) / 2
    out = np.empty((len(s), 4), np.float64)
    out[:, :2] = s[:, :2] - half
    out[:, 2:] = s[:, :2] + half
    return out


def _without(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a`` without the entries at positions ``idx`` (``np.delete``, cheaper on small arrays)."""
    if not len(idx):
        return a
    keep = np.ones(len(a), bool)
    keep[idx] = False
    return a[keep]


class ByteTracker:
    """ByteTrack association with an alpha-beta motion model, for one camera.

    Args:
        config: thresholds.
        id_base: first track id; ``None`` derives it from the first frame's timestamp.

    Usage::

        tracker = ByteTracker(TrackerConfig(min_hits=3))
        tracked = tracker.update(detections, timestamp)   # Detections with tracker_id
    """

    def __init__(self, config: TrackerConfig | None = None, *, id_base: int | None = None) -> None:
        self.config = config or TrackerConfig()
        self.id_base = id_base
        self.next_serial = 0
        self.last_ts: float | None = None
        self._prev = -np.inf  # timestamp of the previous update
        # Struct of arrays, one row per live track (tentative, confirmed or lost).
        self.x = np.zeros((0, 4))  # cx, cy, w, h (px)
        self.v = np.zeros((0, 4))  # velocities (px/s)
        self.hits = np.zeros(0, np.int64)  # matched frames
        self.status = np.zeros(0, np.int8)  # _TENTATIVE / _CONFIRMED
        self.last_seen = np.zeros(0)  # timestamp of the last match
        self.ids = np.zeros(0, np.int64)  # -1 while tentative
        self.grp = np.zeros(0, np.int64)  # class group of the last matched detection
        self._gap = 0.0  # time since the update before the last one (see previous_boxes)

    # ------------------------------------------------------------------ public

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def confirmed_ids(self) -> np.ndarray:
        """Ids of confirmed tracks still alive (matched or lost)."""
        return self.ids[self.status == _CONFIRMED]

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Associate one frame's detections.

        Args:
            detections: the frame's detections (``tracker_id`` ignored).
            timestamp: capture time in seconds; frames not newer than the last one
                are associated without advancing the motion model.

        Returns:
            The input detections, same order, with ``tracker_id`` set: the confirmed
            track's id, or ``-1`` for detections not (yet) on a confirmed track.
        """
        cfg = self.config
        if self.id_base is None:
            self.id_base = int(timestamp) << 20
        dt = 0.0 if self.last_ts is None else max(0.0, timestamp - self.last_ts)
        self._gap = dt
        if self.last_ts is None or timestamp > self.last_ts:
            self.last_ts = timestamp
        if dt > 0 and len(self.x):
            self.x += self.v * dt
            self.x[:, 2:] = np.maximum(self.x[:, 2:], 1.0)

        n = len(detections)
        out_ids = np.full(n, -1, np.int64)
        conf = detections.confidence
        xyxy = detections.xyxy.astype(np.float64, copy=False)
        high = np.flatnonzero(conf >= cfg.high_conf)
        low = np.flatnonzero((conf >= cfg.low_conf) & (conf < cfg.high_conf))

        pred = _state_to_xyxy(self.x)
        det_for = np.full(len(self.x), -1, np.intp)  # matched detection per track

        conf_tr = np.flatnonzero(self.status == _CONFIRMED)
        tent_tr = np.flatnonzero(self.status == _TENTATIVE)
        # Stage 1: high detections vs confirmed (incl. lost) tracks.
        groups = self._groups(detections.class_id)
        r, c = _assign(
            self._gated_iou(pred[conf_tr], xyxy[high], self.grp[conf_tr], groups[high]),
            cfg.match_iou,
        )
        det_for[conf_tr[r]] = high[c]
        high_left = _without(high, c)
        # Stage 1b (C-BIoU cascade): confirmed tracks still unmatched vs the high
        # detections left, by buffered IoU. A fast small vehicle whose box shrinks or
        # grows with perspective misses its prediction at low frame rates.
        bscale = max(1.0, dt / cfg.buffer_dt) if dt > 0 else 1.0
        seen_lately = self.last_seen >= self._prev - cfg.low_stage_lost_s
        if cfg.confirmed_buffer > 0 and len(high_left):
            left = conf_tr[
                (det_for[conf_tr] < 0)
                & (self.hits[conf_tr] <= cfg.young_hits)
                & seen_lately[conf_tr]
            ]
            if len(left):
                bb = cfg.confirmed_buffer * bscale
                r, c = _assign(
                    self._gated_iou(
                        _buffer(pred[left], bb),
                        _buffer(xyxy[high_left], bb),
                        self.grp[left],
                        groups[high_left],
                    ),
                    cfg.match_iou,
                )
                det_for[left[r]] = high_left[c]
                high_left = _without(high_left, c)
        # Stage 2: low detections vs confirmed tracks matched in the previous frame or
        # lost only moments ago (`low_stage_lost_s`; ByteTrack uses only the former: a
        # low-score box rarely belongs to a vehicle that has been gone for a while, but
        # one missed frame followed by a low score is common in occlusions).
        recent = conf_tr[(det_for[conf_tr] < 0) & seen_lately[conf_tr]]
        if len(recent) and len(low):
            r, c = _assign(
                self._gated_iou(pred[recent], xyxy[low], self.grp[recent], groups[low]),
                cfg.low_match_iou,
            )
            det_for[recent[r]] = low[c]
        # Stage 3: tentative tracks vs remaining high detections. A tentative track has
        # no velocity yet, so a small fast vehicle (a motorcycle moving most of its own
        # length per frame) barely overlaps its last box: compare buffered boxes
        # (C-BIoU, Yang et al. 2023), each side widened by `tentative_buffer` x size.
        # Plain IoU first, buffered boxes only for what is left, so neighbours that
        # overlap properly are never paired through the buffer.
        r, c = _assign(iou_matrix(pred[tent_tr], xyxy[high_left]), cfg.tentative_match_iou)
        det_for[tent_tr[r]] = high_left[c]
        tent_left = _without(tent_tr, r)
        high_left = _without(high_left, c)
        b = cfg.tentative_buffer * bscale
        if b > 0 and len(tent_left) and len(high_left):
            r, c = _assign(
                iou_matrix(_buffer(pred[tent_left], b), _buffer(xyxy[high_left], b)),
                cfg.tentative_match_iou,
            )
            det_for[tent_left[r]] = high_left[c]
            high_left = _without(high_left, c)
        new_dets = high_left
        new_dets = new_dets[conf[new_dets] >= cfg.new_track_conf]
        if len(new_dets) and cfg.duplicate_iou < 1.0:
            new_dets = _unduplicated(xyxy, conf, det_for[det_for >= 0], new_dets, cfg.duplicate_iou)

        matched = np.flatnonzero(det_for >= 0)
        if len(matched):
            self._correct(matched, _xyxy_to_state(xyxy[det_for[matched]]), dt, timestamp)
            self.grp[matched] = groups[det_for[matched]]
        # Tentative tracks unmatched this frame die; confirmed ones die when lost too long.
        keep = np.ones(len(self.x), bool)
        keep[tent_tr[det_for[tent_tr] < 0]] = False
        keep &= (timestamp - self.last_seen) <= cfg.max_lost_s
        # Confirm tracks that reached min_hits.
        promote = (self.status == _TENTATIVE) & (self.hits >= cfg.min_hits) & keep
        for i in np.flatnonzero(promote):
            self.ids[i] = self.id_base + self.next_serial
            self.next_serial += 1
            self.status[i] = _CONFIRMED
        live = det_for >= 0
        confirmed_live = live & (self.status == _CONFIRMED)
        out_ids[det_for[confirmed_live]] = self.ids[confirmed_live]
        self._keep(keep)
        if len(new_dets):
            self._spawn(xyxy[new_dets], timestamp, groups[new_dets])
            if cfg.min_hits <= 1:
                k = len(new_dets)
                idx = np.arange(len(self.x) - k, len(self.x))
                for j, i in enumerate(idx):
                    self.ids[i] = self.id_base + self.next_serial
                    self.next_serial += 1
                    self.status[i] = _CONFIRMED
                    out_ids[new_dets[j]] = self.ids[i]
        self._prev = timestamp
        return detections.with_tracker_id(out_ids)

    def previous_boxes(self, ids: np.ndarray) -> tuple[np.ndarray, float]:
        """Boxes ``(n, 4)`` of confirmed tracks ``ids`` one update back, and that update's age (s).

        The motion model's estimate (state minus one step of velocity); for a track
        confirmed at its second hit (alpha = beta = 1 there) it is exactly the detection
        of its first, which the tracker saw while the track was tentative and reported no
        id for. Rows of ids not alive, not matched in the last update, or with a single
        hit are ``nan``.
        """
        out = np.full((len(ids), 4), np.nan)
        if not len(ids) or self._gap <= 0:
            return out, self._gap
        rows = {int(t): i for i, t in enumerate(self.ids.tolist()) if t >= 0}
        for k, tid in enumerate(ids.tolist()):
            i = rows.get(int(tid))
            if i is not None and self.last_seen[i] == self.last_ts and self.hits[i] >= 2:
                out[k] = _state_to_xyxy((self.x[i] - self.v[i] * self._gap)[None])[0]
        return out, self._gap

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable snapshot (restore with :meth:`from_state`)."""
        return {
            "version": STATE_VERSION,
            "id_base": self.id_base,
            "next_serial": self.next_serial,
            "last_ts": self.last_ts,
            "prev_ts": None if not np.isfinite(self._prev) else self._prev,
            # Full precision: a restored tracker must continue exactly like the
            # uninterrupted one (rounded state changed a crossing after a restart).
            "x": pack(self.x),
            "v": pack(self.v),
            "hits": pack(self.hits),
            "status": pack(self.status),
            "last_seen": pack(self.last_seen),
            "ids": pack(self.ids),
            "grp": pack(self.grp),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: TrackerConfig | None = None) -> ByteTracker:
        """Rebuild a tracker from :meth:`to_state` output."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"tracker state version {state.get('version')!r} != {STATE_VERSION}")
        t = cls(config, id_base=state["id_base"])
        t.next_serial = int(state["next_serial"])
        t.last_ts = state["last_ts"]
        if state.get("prev_ts") is not None:
            t._prev = float(state["prev_ts"])
        t.x = unpack(state["x"], np.float64).reshape(-1, 4)
        t.v = unpack(state["v"], np.float64).reshape(-1, 4)
        t.hits = unpack(state["hits"], np.int64)
        t.status = unpack(state["status"], np.int8)
        t.last_seen = unpack(state["last_seen"], np.float64)
        t.ids = unpack(state["ids"], np.int64)
        # checkpoints from before class groups: unknown group, no gating for those tracks
        t.grp = unpack(state.get("grp", [-1] * len(t.ids)), np.int64)
        return t

    # ------------------------------------------------------------------ internals

    def _groups(self, class_id: np.ndarray) -> np.ndarray:
        """Class group per detection (-1: no gating)."""
        g = self.config.class_groups
        if not g or class_id is None:
            return np.full(len(class_id) if class_id is not None else 0, -1, np.int64)
        k = len(g)
        table = np.array([*g, -1], np.int64)  # an unknown class id looks up the -1 at [k]
        cls = np.asarray(class_id, np.int64)
        return table[np.where((cls >= 0) & (cls < k), cls, k)]

    def _gated_iou(
        self, tracks: np.ndarray, dets: np.ndarray, track_grp: np.ndarray, det_grp: np.ndarray
    ) -> np.ndarray:
        """IoU, zero where the class group differs (unless IoU >= ``class_switch_iou``)."""
        iou = iou_matrix(tracks, dets)
        if iou.size:
            iou[
                (track_grp[:, None] >= 0)
                & (det_grp[None, :] >= 0)
                & (track_grp[:, None] != det_grp[None, :])
                & (iou < self.config.class_switch_iou)
            ] = 0.0
        return iou

    def _correct(self, idx: np.ndarray, z: np.ndarray, dt: float, ts: float) -> None:
        cfg = self.config
        k = (self.hits[idx] + 1).astype(np.float64)  # this is update number k (>= 2)
        alpha = np.maximum(2 * (2 * k - 1) / (k * (k + 1)), cfg.alpha_min)[:, None]
        beta = np.maximum(6 / (k * (k + 1)), cfg.beta_min)[:, None]
        r = z - self.x[idx]
        self.x[idx] += alpha * r
        # Velocity uses the time since this track's last match: after a gap the
        # residual accumulated over the whole gap.
        gap = np.maximum(ts - self.last_seen[idx], dt if dt > 0 else 1e-3)[:, None]
        self.v[idx] += beta * r / np.maximum(gap, 1e-3)
        self.hits[idx] += 1
        self.last_seen[idx] = ts

    def _keep(self, keep: np.ndarray) -> None:
        if keep.all():
            return
        self.x, self.v = self.x[keep], self.v[keep]
        self.hits, self.status = self.hits[keep], self.status[keep]
        self.last_seen, self.ids = self.last_seen[keep], self.ids[keep]
        self.grp = self.grp[keep]

    def _spawn(self, xyxy: np.ndarray, ts: float, grp: np.ndarray) -> None:
        k = len(xyxy)
        self.grp = np.concatenate([self.grp, grp.astype(np.int64)])
        self.x = np.concatenate([self.x, _xyxy_to_state(xyxy)])
        self.v = np.concatenate([self.v, np.zeros((k, 4))])
        self.hits = np.concatenate([self.hits, np.ones(k, np.int64)])
        self.status = np.concatenate([self.status, np.zeros(k, np.int8)])
        self.last_seen = np.concatenate([self.last_seen, np.full(k, ts)])
        self.ids = np.concatenate([self.ids, np.full(k, -1, np.int64)])
