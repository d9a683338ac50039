"""Zones on the road plane: occupancy, queue length, membership.

All geometry is in road-plane metres. A vehicle is represented by its ground point
(bottom-centre of the box, mapped through the homography) and a nominal length per
class along the lane direction, because a box's bottom edge marks only the nearest
end of the vehicle.
"""

from __future__ import annotations

import numpy as np

#: Nominal vehicle length (m) per class id of VEHICLE_CLASSES (car, motorcycle, bus, truck).
CLASS_LENGTH_M = np.array([4.5, 2.2, 12.0, 10.0])
#: Nominal vehicle width (m) per class id.
CLASS_WIDTH_M = np.array([1.8, 0.8, 2.55, 2.5])
#: ``(class, 2)``: length and width per class.
CLASS_SIZE_M = np.stack([CLASS_LENGTH_M, CLASS_WIDTH_M], axis=1)
#: Queue: stopped vehicles further apart than this (m) break the queue.
QUEUE_GAP_M = 12.0


def points_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: which of ``pts`` ``(N, 2)`` lie inside ``poly`` ``(K, 2)`` (crossing number)."""
    if len(pts) == 0:
        return np.zeros(0, bool)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = poly[:, 0][None], poly[:, 1][None]
    x2, y2 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    straddle = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return (np.count_nonzero(straddle & (x < xc), axis=1) % 2) == 1


class PolygonSet:
    """Several polygons with precomputed edges, for one vectorised containment test.

    Args:
        polygons: list of ``(K_i, 2)`` arrays (world metres).
    """

    def __init__(self, polygons: list[np.ndarray]) -> None:
        self.n = len(polygons)
        e1 = [np.asarray(p, np.float64) for p in polygons]
        e2 = [np.roll(p, -1, axis=0) for p in e1]
        self.owner = (
            np.concatenate([np.full(len(p), i) for i, p in enumerate(e1)])
            if e1
            else np.zeros(0, np.intp)
        )
        a = np.concatenate(e1) if e1 else np.zeros((0, 2))
        b = np.concatenate(e2) if e2 else np.zeros((0, 2))
        self.x1, self.y1 = a[:, 0], a[:, 1]
        self.y2 = b[:, 1]
        dy = b[:, 1] - a[:, 1]
        # Slope dx/dy; horizontal edges never straddle, their slope is unused.
        self.slope = np.where(dy != 0, (b[:, 0] - a[:, 0]) / np.where(dy != 0, dy, 1.0), 0.0)
        self.onehot = (self.owner[:, None] == np.arange(self.n)[None]).astype(np.int64)

    def contains(self, pts: np.ndarray) -> np.ndarray:
        """``(N, P)`` bool: point ``i`` inside polygon ``j`` (crossing number)."""
        if len(pts) == 0 or self.n == 0:
            return np.zeros((len(pts), self.n), bool)
        x, y = pts[:, 0:1], pts[:, 1:2]
        straddle = (self.y1 > y) != (self.y2 > y)
        xc = self.x1 + (y - self.y1) * self.slope
        hits = (straddle & (x < xc)).astype(np.int64) @ self.onehot
        return (hits & 1).astype(bool)


def queue_length(s: np.ndarray, stopped: np.ndarray, length: np.ndarray, stop_s: float) -> float:
    """Metres of queue upstream of ``stop_s`` along a lane.

    Args:
        s: ``(N,)`` arc length of each vehicle in the queue zone along the lane (m).
        stopped: ``(N,)`` bool, vehicle below the stopped-speed threshold.
        length: ``(N,)`` nominal vehicle lengths (m).
        stop_s: arc length of the stop line (downstream end of the zone).

    Returns:
        Distance from the stop line to the back of the last stopped vehicle of the
        chain that starts at the stop line (gaps <= :data:`QUEUE_GAP_M`), 0 if none.
    """
    if not np.any(stopped):
        return 0.0
    ss = np.sort(s[stopped])[::-1]
    ln = length[stopped][np.argsort(s[stopped])[::-1]]
    front = stop_s
    back = None
    for si, li in zip(ss.tolist(), ln.tolist(), strict=True):
        if front - (si + li / 2) > QUEUE_GAP_M:
            break
        back = si - li / 2
        front = back
    return 0.0 if back is None else float(max(0.0, stop_s - back))
