"""Time-bounded micro-batches of Faust events, acked only after the caller is done with them.

Faust's ``Stream.take_events`` reads the stream's *current* event after an
await, so under load a batch can hold the wrong event objects (a later event
twice, an earlier one never): outputs leave a camera's order and some
offsets are acked that were never processed. This is the same idea without
that race: a pump task iterates the stream's events (each event is captured
where it is yielded) into a bounded queue -- the bound is the backpressure:
when processing lags, the pump stops pulling and Faust stops fetching -- and
:func:`event_batches` yields up to ``max_n`` events, waiting at most ``within``
seconds after the first one, and acks them when the loop body returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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


async def event_batches(stream: Any, max_n: int, within: float) -> AsyncIterator[list[Any]]:
    """Yield lists of 1..``max_n`` events of ``stream``; ack each list after the loop body."""
    src = stream.noack()
    queue: asyncio.Queue = asyncio.Queue(maxsize=max_n)

    async def pump() -> None:
        async for event in src.events():
            await queue.put(event)

    task = asyncio.ensure_future(pump())
    loop = asyncio.get_running_loop()
    try:
        while True:
            ok = False
            while not ok:
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
            for ev in batch:
                await src.ack(ev)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
