"""ProgressWatchdog: a worker whose partitions' offsets stand still under lag is stalled."""

from __future__ import annotations

import pytest

from itscam.errors import ConfigError
from itscam.settings import Settings
from streaming.watchdog import ProgressWatchdog

A, B = ("frames", 0), ("detections", 0)


def test_offsets_standing_still_while_records_wait_count_as_stalled():
    w = ProgressWatchdog(stall_s=60)
    assert w.observe(0, {A: 10, B: 5}, {A: 20, B: 5}) == 0.0  # first look: the clock starts
    assert w.observe(30, {A: 10, B: 5}, {A: 25, B: 5}) == 30.0
    s = w.observe(75, {A: 10, B: 5}, {A: 25, B: 5})
    assert s == 75.0 and w.stalled(s)


def test_any_committed_offset_moving_resets_the_clock():
    w = ProgressWatchdog(stall_s=60)
    w.observe(0, {A: 10, B: 5}, {A: 20, B: 9})
    w.observe(50, {A: 10, B: 5}, {A: 20, B: 9})
    assert w.observe(100, {A: 10, B: 6}, {A: 20, B: 9}) == 0.0
    assert w.observe(140, {A: 10, B: 6}, {A: 20, B: 9}) == 40.0


def test_an_idle_worker_with_nothing_to_do_is_never_stalled():
    w = ProgressWatchdog(stall_s=60)
    for t in range(0, 1000, 15):
        assert w.observe(t, {A: 20, B: 9}, {A: 20, B: 9}) == 0.0
    # no committed offset yet and an empty log: nothing waits either
    assert w.observe(1000, {}, {A: 0}) == 0.0


def test_a_rebalance_gives_the_new_partitions_a_full_period():
    w = ProgressWatchdog(stall_s=60)
    w.observe(0, {A: 10}, {A: 20})
    w.observe(50, {A: 10}, {A: 20})
    assert w.observe(55, {A: 10, B: 0}, {A: 20, B: 7}) == 0.0  # B newly assigned
    assert w.observe(100, {A: 10, B: 0}, {A: 20, B: 7}) == 45.0


def test_zero_disables_it():
    w = ProgressWatchdog(stall_s=0)
    w.observe(0, {A: 1}, {A: 9})
    assert not w.stalled(w.observe(10_000, {A: 1}, {A: 9}))


def test_a_bad_stall_setting_fails_at_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("ITSCAM_STALL_EXIT_S", "-5")
    with pytest.raises((ConfigError, ValueError), match="stall_exit_s"):
        Settings()


def test_a_stall_is_diagnosed_once_after_a_minute_and_again_after_recovery():
    w = ProgressWatchdog(stall_s=600)
    assert not w.diagnose(0.0)
    assert not w.diagnose(45.0)
    assert w.diagnose(60.0)
    assert not w.diagnose(75.0) and not w.diagnose(590.0)  # once per stall
    assert not w.diagnose(0.0)  # offsets moved: the stall is over
    assert w.diagnose(61.0)  # a new stall is logged again


def test_a_short_exit_threshold_is_diagnosed_before_the_exit():
    w = ProgressWatchdog(stall_s=40)
    assert not w.diagnose(15.0)
    assert w.diagnose(20.0) and not w.stalled(20.0)


def _tp(topic: str, partition: int):
    from aiokafka.structs import TopicPartition

    return TopicPartition(topic, partition)


def test_the_consumer_state_names_each_partition_of_the_topics_asked_for():
    from types import SimpleNamespace

    from streaming.watchdog import consumer_state

    f0, f1, f2, other = _tp("frames", 0), _tp("frames", 1), _tp("frames", 2), _tp("events", 0)
    f3, f4 = _tp("frames", 3), _tp("frames", 4)
    states = {
        f2: SimpleNamespace(_position=4, highwater=4, paused=False, awaiting_reset=False),
        # read to the end but never committed: fetched records Faust never processed
        f3: SimpleNamespace(_position=6, highwater=6, paused=False, awaiting_reset=False),
        # nothing ever written
        f4: SimpleNamespace(_position=0, highwater=0, paused=False, awaiting_reset=False),
        f0: SimpleNamespace(_position=7, highwater=9, paused=False, awaiting_reset=False),
        f1: SimpleNamespace(_position=None, highwater=None, paused=False, awaiting_reset=True),
        other: SimpleNamespace(_position=0, highwater=0, paused=False, awaiting_reset=False),
    }
    assignment = SimpleNamespace(tps=set(states), state_value=states.__getitem__)
    fetcher = SimpleNamespace(
        _subscriptions=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)),
        _records={f0: object()},
        _in_flight={1},
        _pending_tasks={object()},
        _fetch_task=None,
    )
    consumer = SimpleNamespace(
        flow_active=True,
        _active_partitions={f0, f2, f3, f4},
        _paused_partitions={f1},
        _committed_offset={f0: 5, f2: 4},
        _thread=SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher)),
    )
    out = consumer_state(SimpleNamespace(consumer=consumer), {"frames"})
    assert out["flow_active"] is True and out["faust_paused"] == ["frames[1]"]
    # frames[2] is caught up and committed, frames[4] empty: counted, not listed;
    # events not asked for
    assert set(out["partitions"]) == {"frames[0]", "frames[1]", "frames[3]"}
    assert out["caught_up_partitions"] == 2
    assert out["partitions"]["frames[3]"]["committed"] is None
    assert out["partitions"]["frames[0]"] == {
        "position": 7,
        "highwater": 9,
        "committed": 5,
        "paused": False,
        "awaiting_reset": False,
        "records_waiting": True,
        "faust_active": True,
    }
    assert out["partitions"]["frames[1]"]["awaiting_reset"] is True
    assert out["partitions"]["frames[1]"]["faust_active"] is False
    assert out["in_flight_nodes"] == [1] and out["pending_fetch_tasks"] == 1


def test_a_consumer_that_cannot_be_read_is_reported_not_raised():
    from types import SimpleNamespace

    from streaming.watchdog import consumer_state

    out = consumer_state(SimpleNamespace(consumer=None), {"frames"})
    assert "faust_error" in out and "aiokafka_error" in out
