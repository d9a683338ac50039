"""Fixes to Faust's Kafka consumer: records lost around a worker's table recovery.

Found on 2026-11-28 (session 15) after a CI run's fresh worker joined, was
assigned every frames partition and then consumed nothing for 300 s (see
docs/streaming.md, "Stalled worker groups"). Reproduced on demand on the local
broker (tests/integration/streaming/test_recovery_window.py): records waiting
in a partition the group never committed on are dropped, and the partition is
never read again; and, separately, the first records of a partition can be
dropped from the streams' queues.

How (faust-streaming 0.15.3, aiokafka 0.14.0):

1. Faust hands its set of active partitions to aiokafka's
   ``Fetcher.fetched_records`` as the live object, and fetches run in the
   consumer thread. At the end of table recovery, "Done reading from
   changelog topics" pauses the changelog partitions by emptying that set in
   place; the stream partitions are resumed only after the
   ``on_rebalance_complete`` signal and the tables' recovery callbacks. A fetch
   running in that window (woken by new data, or started just before the set
   emptied) sees an empty set, which aiokafka reads as "no filter": it hands
   over the records of *every* partition and moves their positions to the end.
   Faust's ``getmany`` then skips them, without a log line, because their
   partition is not active yet.
2. "Seek stream partitions to committed offsets" then rewinds the partitions
   the group has committed on, but aiokafka's ``seek_to_committed`` seeks only
   where the committed offset is above 0: a partition with no commit keeps
   its position at the end, and its records are never read. Only a new
   assignment resets it.
3. Between its seek and its end, ``Recovery.on_recovery_completed`` calls
   ``app.flow_control.resume()``, which empties every stream's queue even
   though the flow was already running. Records the fetcher handed over in
   between (the stream partitions are active again by then) are discarded
   after Faust has moved past them: the first records of a partition go
   missing, committed on or not (seen as the first frame of a camera lost
   at a worker's start; in the reproduction, 6 runs of 30 lost their first record
   of one partition with the first and last fixes below but not the second).

The fixes: a fetch gets a snapshot of the active partitions taken when it is
asked for, and nothing when that snapshot is empty (the behaviour before
faust-streaming changed the set in place; robinhood/faust #69 had described
the hazard); while ``on_recovery_completed`` runs, fetches return nothing, so
no stream record reaches a queue before the queues are emptied; and after a
seek to committed offsets, stream partitions with no committed offset (or 0)
are sought to their beginning when the app resets to ``earliest``, which is
what a fresh assignment would do (a safety net: with the first two fixes
nothing has been read from them by then). Records read twice because of a
rewind are harmless here: the sinks are idempotent and the analyser skips
frames it has already reflected.

:func:`install` patches ``faust.transport.drivers.aiokafka.AIOKafkaConsumerThread``
and ``faust.tables.recovery.Recovery`` once per process;
:func:`streaming.app.create_app` calls it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

_STATE = {"installed": False}

#: Attribute set on a Faust app while its recovery's ``on_recovery_completed`` runs.
FINISHING = "_itscam_recovery_finishing"
#: How long a fetch asked for while recovery finishes waits before it returns nothing
#: (instead of Faust's fetcher asking again at once, in a busy loop).
FINISHING_PAUSE_S = 0.05


def install() -> None:
    """Patch Faust's aiokafka consumer thread and its table recovery (idempotent)."""
    if _STATE["installed"]:
        return
    from faust.tables.recovery import Recovery
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    Recovery.on_recovery_completed = marking_recovery_completed(  # type: ignore[method-assign]
        Recovery.on_recovery_completed
    )
    AIOKafkaConsumerThread.getmany = snapshot_getmany(  # type: ignore[method-assign]
        AIOKafkaConsumerThread.getmany
    )
    AIOKafkaConsumerThread.seek_to_committed = rewinding_seek_to_committed(  # type: ignore[method-assign]
        AIOKafkaConsumerThread.seek_to_committed
    )
    _STATE["installed"] = True


def snapshot_getmany(original):  # type: ignore[no-untyped-def]
    """Wrap ``getmany(active_partitions, timeout)``: fetch for a frozen copy of the
    active partitions as they are now, and for none when there are none (aiokafka
    would read an empty set as all partitions) or while the app's recovery is
    finishing (see :func:`marking_recovery_completed`). ``None`` (a client-only
    app) passes."""

    async def getmany(self, active_partitions, timeout):  # type: ignore[no-untyped-def]
        if active_partitions is None:
            return await original(self, None, timeout)
        if getattr(self.consumer.app, FINISHING, False):
            await asyncio.sleep(min(timeout, FINISHING_PAUSE_S))
            return {}
        snapshot = frozenset(active_partitions)
        if not snapshot:
            return {}
        return await original(self, snapshot, timeout)

    getmany.__doc__ = original.__doc__
    return getmany


def uncommitted_stream_partitions(
    committed: Mapping[Any, int | None], changelog_topics: set[str]
) -> list[Any]:
    """The partitions of ``committed`` (partition -> committed offset) that a seek
    to committed offsets leaves where they are: no commit, or 0; changelog
    partitions excepted (table recovery positions those itself)."""
    return sorted(
        (tp for tp, offset in committed.items() if not offset and tp.topic not in changelog_topics),
        key=lambda tp: (tp.topic, tp.partition),
    )


def rewinding_seek_to_committed(original):  # type: ignore[no-untyped-def]
    """Wrap ``seek_to_committed()``: afterwards seek stream partitions that have no
    committed offset to their beginning (``consumer_auto_offset_reset='earliest'``)."""

    async def seek_to_committed(self):  # type: ignore[no-untyped-def]
        committed = await original(self)
        app = self.consumer.app
        if str(app.conf.consumer_auto_offset_reset).lower() != "earliest":
            return committed
        tps = uncommitted_stream_partitions(committed, set(app.tables.changelog_topics))
        if tps:
            log.info(
                "Seek %d partition(s) with no committed offset to the beginning: %s",
                len(tps),
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in tps),
            )
            await self.seek_to_beginning(*tps)
        return committed

    seek_to_committed.__doc__ = original.__doc__
    return seek_to_committed


def marking_recovery_completed(original):  # type: ignore[no-untyped-def]
    """Wrap ``Recovery.on_recovery_completed``: mark the app as finishing its
    recovery while it runs, so that fetches hand over nothing until it has
    resumed (and so emptied) the streams' queues."""

    async def on_recovery_completed(self, generation_id=0):  # type: ignore[no-untyped-def]
        setattr(self.app, FINISHING, True)
        try:
            return await original(self, generation_id)
        finally:
            setattr(self.app, FINISHING, False)

    on_recovery_completed.__doc__ = original.__doc__
    return on_recovery_completed
