"""streaming.consumer_fixes without a broker: what the wrapped consumer-thread methods ask for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition

from streaming import consumer_fixes


def _thread_of(app: object) -> SimpleNamespace:
    return SimpleNamespace(consumer=SimpleNamespace(app=app))


def test_a_fetch_gets_the_active_partitions_as_they_were_when_it_was_asked_for():
    active = {TopicPartition("frames", 0), TopicPartition("frames-changelog", 0)}
    got = {}

    async def original(self, partitions, timeout):
        await asyncio.sleep(0)
        active.clear()  # recovery pauses everything while the fetch is in flight
        await asyncio.sleep(0)
        got["partitions"] = set(partitions)
        return {"records": 1}

    wrapped = consumer_fixes.snapshot_getmany(original)
    out = asyncio.run(wrapped(_thread_of(SimpleNamespace()), active, 1.0))
    assert out == {"records": 1}
    assert got["partitions"] == {TopicPartition("frames", 0), TopicPartition("frames-changelog", 0)}


def test_no_active_partitions_fetch_nothing_instead_of_everything():
    calls = []

    async def original(self, partitions, timeout):
        calls.append(partitions)
        return {"everything": 1}

    wrapped = consumer_fixes.snapshot_getmany(original)
    thread = _thread_of(SimpleNamespace())
    assert asyncio.run(wrapped(thread, set(), 1.0)) == {}
    assert calls == []
    # a client-only app passes None: all partitions, as before
    assert asyncio.run(wrapped(thread, None, 1.0)) == {"everything": 1}
    assert calls == [None]


def test_while_recovery_finishes_fetches_hand_over_nothing():
    calls = []
    app = SimpleNamespace()

    async def original(self, partitions, timeout):
        calls.append(partitions)
        return {"records": 1}

    async def on_recovery_completed(self, generation_id=0):
        # inside: a fetch gets nothing, even with partitions active
        assert await fetch({TopicPartition("frames", 0)}) == {}
        return "done"

    getmany = consumer_fixes.snapshot_getmany(original)
    completed = consumer_fixes.marking_recovery_completed(on_recovery_completed)

    async def fetch(active):
        return await getmany(_thread_of(app), active, 1.0)

    recovery = SimpleNamespace(app=app)
    assert asyncio.run(completed(recovery, 3)) == "done"
    assert calls == []
    # and once it has returned, fetches go through again
    assert asyncio.run(fetch({TopicPartition("frames", 0)})) == {"records": 1}
    assert calls == [frozenset({TopicPartition("frames", 0)})]


def test_uncommitted_stream_partitions_are_those_without_a_commit_or_at_zero():
    tp = TopicPartition
    committed = {
        tp("frames", 0): None,
        tp("frames", 1): 0,
        tp("frames", 2): 17,
        tp("app-analyzer_state-changelog", 0): None,
    }
    out = consumer_fixes.uncommitted_stream_partitions(committed, {"app-analyzer_state-changelog"})
    assert out == [tp("frames", 0), tp("frames", 1)]


def _thread(reset: str, changelogs: set[str], committed: dict) -> SimpleNamespace:
    sought: list = []

    async def seek_to_beginning(*partitions):
        sought.extend(partitions)

    app = SimpleNamespace(
        conf=SimpleNamespace(consumer_auto_offset_reset=reset),
        tables=SimpleNamespace(changelog_topics=changelogs),
    )
    return SimpleNamespace(
        consumer=SimpleNamespace(app=app), seek_to_beginning=seek_to_beginning, sought=sought
    )


def test_a_seek_to_committed_offsets_also_rewinds_partitions_never_committed_on():
    tp = TopicPartition
    committed = {tp("frames", 0): None, tp("frames", 1): 40, tp("t-changelog", 0): None}

    async def original(self):
        return dict(committed)

    wrapped = consumer_fixes.rewinding_seek_to_committed(original)
    thread = _thread("earliest", {"t-changelog"}, committed)
    assert asyncio.run(wrapped(thread)) == committed  # Faust still gets the committed offsets
    assert thread.sought == [tp("frames", 0)]
    # an app that resets to the latest offset is left as aiokafka leaves it
    thread = _thread("latest", {"t-changelog"}, committed)
    asyncio.run(wrapped(thread))
    assert thread.sought == []


def test_the_product_app_installs_the_fixes():
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    import streaming.app  # noqa: F401  (creating the app installs them)

    assert AIOKafkaConsumerThread.getmany.__qualname__.startswith("snapshot_getmany")
    assert AIOKafkaConsumerThread.seek_to_committed.__qualname__.startswith(
        "rewinding_seek_to_committed"
    )
    from faust.tables.recovery import Recovery

    assert Recovery.on_recovery_completed.__qualname__.startswith("marking_recovery_completed")
