"""streaming.ingest.Backlog: bounded ingest ahead of the workers' commits (no broker)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from itscam.settings import Settings
from streaming.ingest import Backlog


class Committed:
    """The group's committed frames, advanced by the test."""

    def __init__(self) -> None:
        self.n = 0
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        return self.n


def _backlog(limit: int, committed: Committed, **kw: float) -> Backlog:
    b = Backlog(Settings(), "g", limit, poll_s=0.01, **kw)
    b._committed = committed  # type: ignore[method-assign]
    return b


async def _send(b: Backlog, n: int) -> None:
    for _ in range(n):
        await b.room()
        b.sent += 1


async def test_ingest_runs_ahead_up_to_the_limit_then_waits_for_commits() -> None:
    c = Committed()
    b = _backlog(3, c)
    await asyncio.wait_for(_send(b, 3), 1.0)
    assert c.calls == 0  # below the limit nothing is asked
    fourth = asyncio.create_task(_send(b, 1))
    await asyncio.sleep(0.05)
    assert not fourth.done()  # 3 produced, none committed
    c.n = 1
    await asyncio.wait_for(fourth, 1.0)
    assert b.ahead() == 3 and b.waited_s > 0


async def test_a_backlog_from_before_counts_against_the_limit() -> None:
    c = Committed()
    b = _backlog(3, c)
    b._before = 2
    await asyncio.wait_for(_send(b, 1), 1.0)
    blocked = asyncio.create_task(_send(b, 1))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    c.n = 1
    await asyncio.wait_for(blocked, 1.0)


async def test_a_group_that_commits_nothing_does_not_hold_ingest_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = Committed()
    b = _backlog(2, c, stall_s=0.05)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(_send(b, 10), 2.0)
    assert b.limit == 0 and "ingest goes on" in caplog.text


async def test_limit_zero_never_waits() -> None:
    c = Committed()
    b = _backlog(0, c)
    await asyncio.wait_for(_send(b, 1000), 1.0)
    assert c.calls == 0
