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
Since the cause of those stalls is not known, a stalled worker first logs, once,
what its consumer believes (:func:`consumer_state`), a minute in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Exit status of a worker that stopped itself because it was stalled.
EXIT_STALLED = 70
#: A stall this long (or half the exit threshold, if that is shorter) logs what the
#: consumer believes, once per stall, before the worker gives up and exits.
DIAGNOSE_AFTER_S = 60.0


class ProgressWatchdog:
    """Seconds since this worker's committed offsets last moved while records waited.

    Args:
        stall_s: how long offsets may stand still under lag (0 or less: never stalled).
    """

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._diagnosed = False  # the current stall's consumer state was logged
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

    def diagnose(self, stalled_for: float) -> bool:
        """Whether to log the consumer's state now: once per stall, after
        :data:`DIAGNOSE_AFTER_S` (or half of ``stall_s``, if shorter)."""
        if not (math.isfinite(stalled_for) and stalled_for > 0):
            self._diagnosed = False
            return False
        after = min(DIAGNOSE_AFTER_S, self.stall_s / 2) if self.stall_s > 0 else DIAGNOSE_AFTER_S
        if self._diagnosed or stalled_for < after:
            return False
        self._diagnosed = True
        return True

    def stalled(self, stalled_for: float) -> bool:
        return self.stall_s > 0 and math.isfinite(stalled_for) and stalled_for >= self.stall_s


def consumer_state(app: Any, topics: set[str]) -> dict[str, Any]:
    """What a stalled worker's consumer believes, for the log (best effort, read-only).

    Faust's flow and paused/active partitions, and aiokafka's fetcher: per
    assigned partition of ``topics`` that is not simply caught up (read to its
    highwater and committed there), its position, highwater, the offset Faust
    last committed, pause and reset state, and whether fetched records wait for
    Faust to take them; nodes with a request in flight, the fetcher's pending tasks
    and whether its background task has ended. Private attributes of both
    libraries, read without locking from the worker's loop (the aiokafka
    consumer runs in Faust's consumer thread): a snapshot for a person to read,
    never an input to a decision. Whatever cannot be read is reported as such
    instead of raising.
    """
    out: dict[str, Any] = {}
    consumer: Any = getattr(app, "consumer", None)
    active: Any = None
    try:
        out["flow_active"] = bool(consumer.flow_active)
        active = consumer._active_partitions
        out["faust_active_count"] = None if active is None else len(active)
        paused = consumer._paused_partitions
        out["faust_paused"] = sorted(
            f"{tp.topic}[{tp.partition}]" for tp in paused if tp.topic in topics
        )
    except Exception as exc:  # diagnostics never raise
        out["faust_error"] = repr(exc)
    try:
        committed = dict(getattr(consumer, "_committed_offset", None) or {})
    except Exception:  # diagnostics never raise
        committed = {}
    try:
        aio = consumer._thread._consumer
        fetcher = aio._fetcher
        assignment = fetcher._subscriptions.subscription.assignment
        parts: dict[str, Any] = {}
        idle = 0
        for tp in sorted(assignment.tps, key=lambda t: (t.topic, t.partition)):
            if tp.topic not in topics:
                continue
            st = assignment.state_value(tp)
            row = {
                "position": st._position,
                "highwater": st.highwater,
                "committed": committed.get(tp),
                "paused": st.paused,
                "awaiting_reset": st.awaiting_reset,
                "records_waiting": tp in fetcher._records,
                "faust_active": active is None or tp in active,
            }
            if (
                row["position"] == row["highwater"]
                # read up to the end and committed there (or nothing ever written): a
                # position at the end with the commit behind is records fetched and
                # never processed, as streaming.consumer_fixes describes
                and (row["committed"] == row["position"] or not row["highwater"])
                and row["faust_active"]
                and not (row["paused"] or row["awaiting_reset"] or row["records_waiting"])
            ):
                idle += 1  # caught up and fetchable: nothing to tell
                continue
            parts[f"{tp.topic}[{tp.partition}]"] = row
        out["partitions"] = parts
        out["caught_up_partitions"] = idle
        out["in_flight_nodes"] = sorted(fetcher._in_flight)
        out["pending_fetch_tasks"] = len(fetcher._pending_tasks)
        task = getattr(fetcher, "_fetch_task", None)
        out["fetch_task_done"] = None if task is None else task.done()
    except Exception as exc:  # diagnostics never raise
        out["aiokafka_error"] = repr(exc)
    return out
