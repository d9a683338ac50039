"""A stream worker that has stopped consuming exits, so its supervisor restarts it.

Seen twice on the development broker (docs/streaming.md, "Stalled worker
groups"): a worker that kept running, kept its partitions (or had left the
group), and never consumed again. Its ``/metrics`` still answered, so a
liveness probe on it passed. This watchdog looks at what matters instead: the
committed offsets of the partitions assigned to this worker. When records wait
on them (end offset beyond the committed one) and none of those commits has
moved for ``stall_s``, the worker is stuck: it logs why and exits with
:data:`EXIT_STALLED`; Kubernetes (or :class:`streaming.runner.WorkerPool`)
starts it again, and the new worker carries on from the committed offsets (the
sinks are idempotent and the analyser checkpoints are keyed by offset, as the
kill/restart test checks).

A worker that is knowingly waiting (its PostgreSQL writes are being retried
through an outage) does not exit: restarting would not help, and the records
are kept uncommitted until the database is back.

The decision is a pure function of what :meth:`ProgressWatchdog.observe` is
given, so it is unit-tested without a broker; the worker's timer feeds it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Exit status of a worker that stopped itself because it was stalled.
EXIT_STALLED = 70


class ProgressWatchdog:
    """Seconds since this worker's committed offsets last moved while records waited.

    Args:
        stall_s: how long offsets may stand still under lag (0 or less: never stalled).
    """

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._last: dict[Any, int] = {}
        self._progress = 0.0  # last time offsets moved, the assignment changed or nothing waited

    def observe(self, now: float, committed: Mapping[Any, int], ends: Mapping[Any, int]) -> float:
        """Feed one look at the assigned partitions; returns seconds stalled (0 = moving).

        Args:
            now: a monotonic clock, seconds.
            committed: committed offset per assigned partition (missing or < 0: none).
            ends: log end offset per assigned partition.
        """
        moved = False
        waiting = False
        current: dict[Any, int] = {}
        for tp, end in ends.items():
            done = committed.get(tp, -1)
            done = done if done is not None and done >= 0 else 0
            current[tp] = done
            if self._last.get(tp, done) != done:
                moved = True
            if end > done:
                waiting = True
        # A partition newly assigned (rebalance) is not progress by itself, but it
        # restarts the clock: the new owner gets a full stall_s to start on it.
        if moved or not waiting or set(current) != set(self._last):
            self._progress = now
        self._last = current
        return now - self._progress if waiting else 0.0

    def stalled(self, stalled_for: float) -> bool:
        return self.stall_s > 0 and math.isfinite(stalled_for) and stalled_for >= self.stall_s
