"""A minimal Faust worker for test_recovery_window.py (not a test module).

One stream topic of 4 partitions, one table whose changelog has entries (so
the worker recovers it at start), and a table recovery callback that makes
the window between "Done reading from changelog topics" and the stream
partitions' resumption last ``SLOW_S`` seconds, with ``WAKES`` new records
arriving in another partition inside it, 0.1 s apart from the window's start
(``streaming.consumer_fixes`` explains the window). The worker counts the distinct records it consumes per partition
and, once it has ``EXPECT`` of them or ``WAIT_S`` seconds after start have
passed, prints ``RESULT {"partition": count, ...}`` and exits.

Environment: RUN (names the app, its group and topic), BROKER (host:port),
FIXES (1: install ``streaming.consumer_fixes`` as the product does).
Run: ``python -m tests.integration.streaming.recovery_window_app worker``.
"""

from __future__ import annotations

import asyncio
import json
import os

import faust

RUN = os.environ["RUN"]
if os.environ.get("FIXES") == "1":
    from streaming import consumer_fixes

    consumer_fixes.install()

app = faust.App(
    f"recovery-window-{RUN}",
    broker=f"kafka://{os.environ['BROKER']}",
    store="memory://",
    topic_partitions=4,
    topic_replication_factor=1,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    table_standby_replicas=0,
    worker_redirect_stdouts=False,
    datadir=os.environ.get("DATADIR", f"/tmp/recovery-window-{RUN}"),
)
stream_topic = app.topic(
    f"recovery-window-{RUN}",
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=4,
)
table = app.Table("t", key_type=bytes, value_type=bytes, partitions=4)
#: partition -> offsets consumed (a record read twice, as a rewind may cause, counts once)
seen: dict[int, set[int]] = {}
dup = [0]
EXPECT = int(os.environ.get("EXPECT", "0"))


WAKES = int(os.environ.get("WAKES", "10"))
_tasks: list[asyncio.Future] = []


async def _send_wakes() -> None:
    # new data in a partition with nothing buffered wakes a fetch in flight
    for i in range(WAKES):
        await stream_topic.send(key=b"wake", value=b"w%d" % i, partition=3)
        await asyncio.sleep(0.1)


@app.on_rebalance_complete.connect
async def wake_fetches(sender, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """Sent right after recovery has emptied the active set: the window's start."""
    _tasks.append(asyncio.ensure_future(_send_wakes()))


@table.on_recover
async def slow_recovery_callback() -> None:
    """Holds the window open: the stream partitions resume after this returns."""
    await asyncio.sleep(float(os.environ.get("SLOW_S", "3")))


@app.agent(stream_topic)
async def consume(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        offsets = seen.setdefault(event.message.partition, set())
        if event.message.offset in offsets:
            dup[0] += 1
        offsets.add(event.message.offset)
        if EXPECT and sum(map(len, seen.values())) >= EXPECT:
            _report()


def _report() -> None:
    print("OFFSETS " + json.dumps({str(k): sorted(v) for k, v in sorted(seen.items())}), flush=True)
    print(f"DUPLICATES {dup[0]}", flush=True)
    print("RESULT " + json.dumps({str(k): len(v) for k, v in sorted(seen.items())}), flush=True)
    os._exit(0)


@app.task
async def deadline() -> None:
    await asyncio.sleep(float(os.environ.get("WAIT_S", "25")))
    _report()


if __name__ == "__main__":
    app.main()
