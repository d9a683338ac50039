"""Time-bounded micro-batches of Faust events, acked only after the caller is done with them.

Faust's ``Stream.take_events`` reads the stream's *current* event after an
await, so under load a batch can hold the wrong event objects (a later event
twice, an earlier one never): outputs leave a camera's order and some
offsets are acked that were never processed. This is the same idea without
that race: a pump task iterates the stream's events (each event is captured
where it is yielded) into a bounded queue -- the bound is the backpressure:
when processing lags, the pump stops pulling and Faust stops fetching -- and
batches of up to ``max_n`` events are formed, waiting at most ``within``
seconds after the first one.

- :func:`event_batches` yields each batch and acks it when the loop body returns.
- :func:`pipelined_batches` overlaps batches: ``start(batch)`` begins work on
  a batch (e.g. sends it to the detector) while the previous batch is still
  being finished; ``finish(batch, handle)`` runs strictly in batch order and
  each batch is acked, in order, after its own ``finish`` returns and the
  awaitable it may return (its outputs' delivery) is done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


async def _get(queue: asyncio.Queue, timeout: float) -> tuple[bool, Any]:
    """``(True, item)`` or ``(False, None)`` after ``timeout``, never losing an item."""
    getter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait({getter}, timeout=max(0.0, timeout))
    if getter in done:
        return True, getter.result()
    getter.cancel()
    try:
        return True, await getter  # it completed while being cancelled
    except asyncio.CancelledError:
        return False, None


async def _batches(src: Any, max_n: int, within: float) -> AsyncIterator[list[Any]]:
    """Unacked lists of 1..``max_n`` events of the (noack) stream ``src``."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=max_n)

    async def pump() -> None:
        async for event in src.events():
            await queue.put(event)

    task = asyncio.ensure_future(pump())
    loop = asyncio.get_running_loop()
    try:
        while True:
            ok = False
            first = None
            while not ok:
                # A backlog is the common case under load: take it without
                # creating a getter task and a timer per event.
                try:
                    first, ok = queue.get_nowait(), True
                    break
                except asyncio.QueueEmpty:
                    pass
                if task.done():
                    task.result()  # re-raise why the stream ended
                    return
                ok, first = await _get(queue, 1.0)
            batch = [first]
            deadline = loop.time() + within
            while len(batch) < max_n:
                try:
                    batch.append(queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                ok, ev = await _get(queue, deadline - loop.time())
                if not ok:
                    break
                batch.append(ev)
            yield batch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def event_batches(stream: Any, max_n: int, within: float) -> AsyncIterator[list[Any]]:
    """Yield lists of 1..``max_n`` events of ``stream``; ack each list after the loop body."""
    src = stream.noack()
    async for batch in _batches(src, max_n, within):
        yield batch
        for ev in batch:
            await src.ack(ev)


async def pipelined_batches(
    stream: Any,
    max_n: int,
    within: float,
    *,
    start: Callable[[list[Any]], Any],
    finish: Callable[[list[Any], Any], Awaitable[Awaitable[None] | None]],
    depth: int = 2,
) -> None:
    """Run ``start``/``finish`` over micro-batches of ``stream`` with ``depth`` batches in flight.

    ``start(batch)`` is called in the pump's order and must return quickly (a
    handle, e.g. a task already running inference); ``finish(batch, handle)``
    is awaited one batch at a time in the same order. ``finish`` may return an
    awaitable (the batch's outputs being delivered): the next batch is finished
    while it completes, and the batch's events are acked after it, still in
    batch order. An awaitable with ``delivered`` and ``durable`` parts (a
    :class:`streaming.processing.Settlement`) frees the batch's slot once
    delivered and is acked once durable (a checkpoint covering it, which may
    come a while later). At most ``depth`` batches are started and not yet
    delivered (backpressure), so with ``depth=2`` the detector works on batch
    *k+1* while the outputs of batch *k* are produced and delivered. An
    exception in ``finish`` or in its awaitable ends the loop (and the agent)
    with that error; the unacked batches are processed again after a restart.
    """
    src = stream.noack()
    started: asyncio.Queue = asyncio.Queue()  # bounded by ``slots``
    slots = asyncio.Semaphore(max(1, depth))

    async def ack_after(
        prev: asyncio.Future | None, settled: Awaitable[None] | None, batch: list[Any]
    ) -> None:
        durable = None
        try:
            if settled is not None:
                delivered = getattr(settled, "delivered", None)
                if delivered is None:
                    await settled
                else:  # a Settlement: the slot is free once delivered
                    await delivered
                    durable = getattr(settled, "durable", None)
        finally:
            slots.release()
        if prev is not None:
            await prev  # acks stay in batch order
        if durable is not None:
            await durable
        for ev in batch:
            await src.ack(ev)

    async def finisher() -> None:
        acked: asyncio.Future | None = None
        try:
            while True:
                item = await started.get()
                if item is None:
                    break
                if acked is not None and acked.done():
                    acked.result()  # a delivery failed: stop with its error
                batch, handle = item
                try:
                    settled = await finish(batch, handle)
                except BaseException:
                    slots.release()
                    raise
                acked = asyncio.ensure_future(ack_after(acked, settled, batch))
        except BaseException:
            if acked is not None and not acked.done():
                acked.cancel()  # its batch stays unacked
            raise
        if acked is not None:
            await acked  # the stream ended: ack what was finished

    fin = asyncio.ensure_future(finisher())
    try:
        async for batch in _batches(src, max_n, within):
            acquire = asyncio.ensure_future(slots.acquire())
            await asyncio.wait({acquire, fin}, return_when=asyncio.FIRST_COMPLETED)
            if not acquire.done():
                acquire.cancel()
                fin.result()  # re-raise what stopped the finisher
                return
            if fin.done():
                fin.result()
                return
            started.put_nowait((batch, start(batch)))
        started.put_nowait(None)  # the stream ended: finish what was started
        await fin
    finally:
        if not fin.done():
            fin.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await fin
