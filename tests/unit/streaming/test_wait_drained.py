"""wait_drained: a group that stops committing is restarted; a moving one is left alone."""

from __future__ import annotations

import asyncio

from itscam.settings import Settings
from streaming.runner import wait_drained


class FakePool:
    def __init__(self) -> None:
        self.restarts = 0
        self.calls: list[str] = []

    def check(self) -> None:
        pass

    def dump_stacks(self) -> None:
        self.calls.append("dump_stacks")

    def restart_all(self) -> None:
        self.restarts += 1
        self.calls.append("restart_all")


def lags(values: list[int]):
    """A lag function that returns ``values`` one poll at a time, then the last one forever."""
    it = iter(values)
    last = {"v": values[0]}

    async def fn() -> dict[str, int]:
        last["v"] = next(it, last["v"])
        return {"itscam.frames": last["v"]}

    return fn


def test_a_stalled_group_is_restarted_and_then_drains():
    pool = FakePool()
    stuck = [30] * 12 + [0, 0]  # 12 polls without progress (0.12 s), then drained
    took = asyncio.run(
        wait_drained(Settings(), pool, poll_s=0.01, stall_s=0.05, lag_fn=lags(stuck))
    )
    assert pool.restarts >= 1 and took > 0
    # what the stalled workers waited on is in their logs before they are replaced
    assert pool.calls[:2] == ["dump_stacks", "restart_all"]


def test_a_group_that_keeps_committing_is_not_restarted():
    pool = FakePool()
    moving = [*range(30, -1, -1), 0]  # one record committed per poll
    asyncio.run(wait_drained(Settings(), pool, poll_s=0.01, stall_s=0.05, lag_fn=lags(moving)))
    assert pool.restarts == 0 and pool.calls == []
