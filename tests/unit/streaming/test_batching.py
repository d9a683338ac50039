"""Micro-batching of Faust events (``streaming.batching``) on a stand-in stream (no broker)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streaming.batching import event_batches, pipelined_batches


class FakeStream:
    """``noack()``, ``events()`` and ``ack(event)`` of a Faust stream over ``n`` integers."""

    def __init__(self, n: int, gap_s: float = 0.0) -> None:
        self.n, self.gap_s = n, gap_s
        self.acked: list[int] = []

    def noack(self) -> FakeStream:
        return self

    async def events(self):  # type: ignore[no-untyped-def]
        for i in range(self.n):
            if self.gap_s:
                await asyncio.sleep(self.gap_s)
            yield i

    async def ack(self, event: int) -> None:
        self.acked.append(event)


async def test_event_batches_ack_each_batch_after_the_loop_body() -> None:
    s = FakeStream(10)
    seen: list[list[int]] = []
    async for batch in event_batches(s, 4, within=0.05):
        assert s.acked == [e for b in seen for e in b]  # nothing of this batch acked yet
        seen.append(batch)
        if sum(map(len, seen)) == 10:
            break
    assert [e for b in seen for e in b] == list(range(10))
    assert all(1 <= len(b) <= 4 for b in seen)


async def test_pipelined_batches_overlap_start_and_finish_in_order_and_ack_after_finish() -> None:
    s = FakeStream(40)
    log: list[tuple[str, int]] = []
    in_flight, most = 0, 0

    def start(batch: list[int]) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        log.append(("start", batch[0]))
        return asyncio.ensure_future(asyncio.sleep(0.01, result=list(batch)))

    async def finish(batch: list[int], handle: Any) -> None:
        nonlocal in_flight
        assert await handle == batch
        assert not set(batch) & set(s.acked)  # acked only after its finish returns
        await asyncio.sleep(0.01)
        log.append(("finish", batch[0]))
        in_flight -= 1

    await asyncio.wait_for(pipelined_batches(s, 4, 0.05, start=start, finish=finish, depth=2), 10)
    assert s.acked == list(range(40))  # every event, in order
    finished = [b for what, b in log if what == "finish"]
    assert finished == sorted(finished)
    assert most == 2  # the next batch was started before the previous one finished
    first_finish = log.index(("finish", 0))
    assert ("start", finished[1]) in log[:first_finish]


async def test_pipelined_batches_stop_on_a_finish_error_without_acking_the_batch() -> None:
    s = FakeStream(20)

    async def finish(batch: list[int], handle: Any) -> None:
        if 8 in batch:
            raise RuntimeError("sink down")

    with pytest.raises(RuntimeError, match="sink down"):
        await asyncio.wait_for(
            pipelined_batches(s, 4, 0.05, start=lambda b: None, finish=finish), 10
        )
    assert 8 not in s.acked and s.acked == list(range(len(s.acked)))


async def test_depth_one_is_one_batch_at_a_time() -> None:
    s = FakeStream(12, gap_s=0.001)
    active = 0

    def start(batch: list[int]) -> None:
        nonlocal active
        active += 1
        assert active == 1

    async def finish(batch: list[int], handle: Any) -> None:
        nonlocal active
        await asyncio.sleep(0.005)
        active -= 1

    await asyncio.wait_for(pipelined_batches(s, 4, 0.05, start=start, finish=finish, depth=1), 10)
    assert s.acked == list(range(12))


async def test_a_batch_is_acked_after_its_delivery_in_order_while_the_next_one_is_finished() -> (
    None
):
    s = FakeStream(8)
    deliveries: dict[int, asyncio.Future] = {}
    finished: list[int] = []

    async def finish(batch: list[int], handle: Any) -> Any:
        finished.append(batch[0])
        deliveries[batch[0]] = asyncio.get_running_loop().create_future()
        return deliveries[batch[0]]

    run = asyncio.ensure_future(
        pipelined_batches(s, 4, 0.05, start=lambda b: None, finish=finish, depth=2)
    )
    while len(finished) < 2:
        await asyncio.sleep(0.005)
    assert s.acked == []  # both finished, neither delivered
    deliveries[4].set_result(None)  # the second batch's delivery completes first
    await asyncio.sleep(0.02)
    assert s.acked == []  # acks keep batch order
    deliveries[0].set_result(None)
    await asyncio.wait_for(run, 5)
    assert s.acked == list(range(8))


async def test_a_failed_delivery_stops_the_loop_and_its_batch_stays_unacked() -> None:
    s = FakeStream(20)

    async def failing() -> None:
        raise ConnectionError("broker gone")

    async def finish(batch: list[int], handle: Any) -> Any:
        return failing() if 8 in batch else None

    with pytest.raises(ConnectionError, match="broker gone"):
        await asyncio.wait_for(
            pipelined_batches(s, 4, 0.05, start=lambda b: None, finish=finish), 10
        )
    assert 8 not in s.acked and s.acked == list(range(len(s.acked)))


class Settled:
    """A finish result with separate ``delivered`` and ``durable`` parts (a Settlement)."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.delivered = loop.create_future()
        self.delivered.set_result(None)
        self.durable = loop.create_future()

    def __await__(self):  # type: ignore[no-untyped-def]
        return self.durable.__await__()


async def test_a_delivered_batch_frees_its_slot_and_is_acked_once_durable() -> None:
    # Checkpoints come every couple of seconds: batches keep flowing (depth bounds
    # what is undelivered), their acks wait for durability, in order.
    s = FakeStream(24)
    results: list[Settled] = []

    async def finish(batch: list[int], handle: Any) -> Any:
        results.append(Settled())
        return results[-1]

    run = asyncio.ensure_future(
        pipelined_batches(s, 4, 0.01, start=lambda b: None, finish=finish, depth=2)
    )
    while len(results) < 6:
        await asyncio.sleep(0.005)
    assert s.acked == []  # six batches finished (depth 2), none durable
    results[1].durable.set_result(None)
    await asyncio.sleep(0.02)
    assert s.acked == []  # in order: the first is not durable yet
    results[0].durable.set_result(None)
    await asyncio.sleep(0.02)
    assert s.acked == list(range(8))
    for r in results[2:]:
        r.durable.set_result(None)
    await asyncio.wait_for(run, 5)
    assert s.acked == list(range(24))
