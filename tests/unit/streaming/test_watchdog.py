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
