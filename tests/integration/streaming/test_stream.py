"""The stream processors on the real broker and PostgreSQL (and Triton for the detector path)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import pytest

from itscam.settings import Settings
from streaming import contracts as c
from streaming.cameras import register_cameras
from streaming.runner import STALL_RESTART_S, WorkerPool, run_counts, wait_drained
from tests.integration.streaming.conftest import (
    assert_same_crossings,
    count,
    expected_crossings,
    pipeline_crossings,
    produce,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _frames(stream, camera_id: str, run_id: str) -> list[tuple[bytes, bytes, list]]:
    out = []
    for i, (jpeg, ts) in enumerate(zip(stream.jpegs, stream.ts, strict=True)):
        f = c.Frame(
            camera_id, round(ts * 1e6), i, 640, 360, jpeg, event_id=f"{run_id}/{i}", run_id=run_id
        )
        out.append((camera_id.encode(), jpeg, c.frame_headers(f)))
    return out


def _malformed(camera_id: str, n: int) -> tuple[list[tuple[bytes | None, bytes, list]], Counter]:
    """``n`` broken records of every kind the contract names, and the reasons expected."""
    now = time.time()
    good = c.Frame(camera_id, round((now - 60) * 1e6), 0, 640, 360, b"\xff\xd8\xff garbage")
    h = c.frame_headers(good)
    jpeg = b"\xff\xd8\xff"  # a JPEG start marker, then nothing a decoder accepts

    def at(ts: float, cam: str = camera_id) -> list:
        return c.frame_headers(c.Frame(cam, round(ts * 1e6), 1, 640, 360, jpeg))

    kinds = [
        ("undecodable_image", lambda i: (camera_id.encode(), jpeg + bytes([i % 251]) * 64, h)),
        ("schema_violation", lambda i: (camera_id.encode(), b'{"not": "a frame"}', [])),
        (
            "schema_violation",
            lambda i: (camera_id.encode(), jpeg, [x for x in h if x[0] != "ce_seq"]),
        ),
        ("unknown_camera", lambda i: (b"no-such-cam", jpeg, at(now, "no-such-cam"))),
        ("timestamp_out_of_range", lambda i: (camera_id.encode(), jpeg, at(now + 3 * 86400))),
    ]
    oversize = ("oversize", lambda i: (camera_id.encode(), jpeg + b"\0" * 1_010_000, h))
    recs, reasons = [], Counter()
    for i in range(n):
        # Oversize records are 1 MB each: one in 200 is enough to prove the path.
        reason, make = oversize if i % 200 == 0 else kinds[i % len(kinds)]
        recs.append(make(i))
        reasons[reason] += 1
    return recs, reasons


async def _dead_letters_since(settings: Settings, offsets: dict) -> list[dict]:
    from aiokafka import AIOKafkaConsumer

    from itscam.clients.kafka import end_offsets

    ends = await end_offsets(settings, [settings.topic("dead_letter")])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    out = []
    try:
        consumer.assign(list(ends))
        for tp in ends:
            consumer.seek(tp, offsets.get(tp, 0))
        want = sum(e - offsets.get(tp, 0) for tp, e in ends.items())
        while len(out) < want:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                break
            for msgs in batch.values():
                out += [dict(m.headers) | {"value_len": len(m.value or b"")} for m in msgs]
    finally:
        await consumer.stop()
    return out


def test_1000_malformed_messages_are_dead_lettered_and_counts_are_unaffected(services, null_stream):
    from itscam.clients.kafka import end_offsets, skip_to_end
    from streaming.app import APP_ID
    from streaming.runner import CONSUMED

    settings = services
    cam = f"dl-{uuid.uuid4().hex[:6]}"
    camera = null_stream.camera_as(cam)
    register_cameras(settings, [camera])
    run_id = f"it-dl-{uuid.uuid4().hex[:6]}"
    good = _frames(null_stream, cam, run_id)
    bad, reasons = _malformed(cam, 1000)
    mixed, step = [], max(1, len(bad) // len(good) + 1)
    for i, g in enumerate(good):
        mixed += [*bad[i * step : (i + 1) * step], g]
    mixed += bad[len(good) * step :]
    assert len(mixed) == len(good) + 1000
    # Records an earlier run left unconsumed in the state directory (a worker killed
    # before its commit) would be dead-lettered too; this test counts only its own.
    asyncio.run(skip_to_end(settings, APP_ID, [settings.topic(t) for t in CONSUMED]))
    dl_before = asyncio.run(end_offsets(settings, [settings.topic("dead_letter")]))
    produce(settings, mixed)
    with WorkerPool(
        settings, 1, extra_env={"ITSCAM_PRECOMPUTED_DETECTIONS": str(null_stream.path)}
    ) as pool:
        asyncio.run(wait_drained(settings, pool, timeout_s=600))
    dead = asyncio.run(_dead_letters_since(settings, dl_before))
    # At least once: the stream's last record was now and then handed to the agent a
    # second time a second or two later (seen before and after the checkpoint
    # interval), so its dead letter came twice. A dead letter names its original
    # (topic, partition, offset), so a reader dedupes on that; every original is here.
    by_origin = {(d["dlq_topic"], d["dlq_partition"], d["dlq_offset"]): d for d in dead}
    assert len(dead) - len(by_origin) <= 1
    assert Counter(d["dlq_reason"].decode() for d in by_origin.values()) == reasons
    assert all(d["dlq_detail"] and d["dlq_offset"] for d in by_origin.values())
    counts = run_counts(settings, run_id)
    assert counts["frames_inferred"] == len(good)
    assert_same_crossings(
        pipeline_crossings(settings, run_id), expected_crossings(null_stream, camera, run_id)
    )


async def _frames_purged(settings: Settings, timeout_s: float) -> tuple[dict, dict]:
    """(log-start, committed offset) per frames partition, once they agree or at timeout."""
    from aiokafka import AIOKafkaConsumer

    from itscam.clients.kafka import group_offsets
    from streaming.app import APP_ID

    topic = settings.topic("frames")
    t_end = time.monotonic() + timeout_s
    while True:
        committed, ends = await group_offsets(settings, APP_ID, [topic])
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
        await consumer.start()
        try:
            starts = dict(await consumer.beginning_offsets(list(ends)))
        finally:
            await consumer.stop()
        if starts == committed or time.monotonic() > t_end:
            return starts, committed
        await asyncio.sleep(0.5)


async def _changelog_start(settings) -> int:
    """Records deleted from the start of the analyser changelog, all partitions."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streaming.app import APP_ID

    topic = f"{APP_ID}-analyzer_state-changelog"
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum((await consumer.beginning_offsets(tps)).values()) if tps else 0
    finally:
        await consumer.stop()


def _wait_for_rows(settings, pool, sql: str, run_id: str, want: int) -> None:
    """Until ``sql`` counts ``want`` rows of the run, supervised by ``wait_drained``.

    A fresh worker that never fetched was seen twice in CI (docs/streaming.md,
    "Stalled worker groups"; its cause, a Faust race, is fixed by
    streaming.consumer_fixes since, and this stays a safety net): ``wait_drained``
    restarts a pool that makes no progress for ``STALL_RESTART_S``, with the workers'
    stacks written to their logs first. Counts must still come out exact: that
    restart is one more kill for the test to survive.
    """

    async def rows_to_go() -> dict[str, int]:
        return {"rows": max(0, want - count(settings, sql, run_id))}

    asyncio.run(
        wait_drained(
            settings, pool, timeout_s=2 * STALL_RESTART_S + 180, poll_s=0.1, lag_fn=rows_to_go
        )
    )


def test_killing_the_worker_mid_run_changes_no_count(services, null_stream):
    settings = services
    cam = f"kill-{uuid.uuid4().hex[:6]}"
    camera = null_stream.camera_as(cam)
    register_cameras(settings, [camera])
    run_id = f"it-kill-{uuid.uuid4().hex[:6]}"
    frames = _frames(null_stream, cam, run_id)
    n = len(null_stream.jpegs)
    # Half the frames first, killed once a quarter is done (the null worker is fast
    # enough to finish all of them between two polls): the kill lands mid-run, with
    # frames analysed but not yet covered by a durable checkpoint.
    produce(settings, frames[: n // 2])
    env = {
        "ITSCAM_PRECOMPUTED_DETECTIONS": str(null_stream.path),
        "ITSCAM_FRAMES_PURGE_S": "0.5",
        # superseded checkpoints purged (and earlier tests' cameras carried) meanwhile:
        # the restarted worker restores from a changelog whose start has moved on
        "ITSCAM_CHECKPOINT_PURGE_S": "0.5",
    }
    with WorkerPool(settings, 1, extra_env=env) as pool:
        sql = "SELECT count(*) FROM camera_data.frame_metadata WHERE run_id = %s"
        _wait_for_rows(settings, pool, sql, run_id, n // 4)
        done_at_kill = count(settings, sql, run_id)
        pool.restart(0)  # SIGKILL, then a fresh worker in its place
        produce(settings, frames[n // 2 :])
        asyncio.run(wait_drained(settings, pool, timeout_s=600))
        # The worker deletes what its group has committed from the frames topic
        # (ITSCAM_FRAMES_PURGE_S), the frames read again after the kill included.
        starts, committed = asyncio.run(_frames_purged(settings, timeout_s=15.0))
        changelog_start = asyncio.run(_changelog_start(settings))
    assert done_at_kill < n
    assert changelog_start > 0  # superseded checkpoints were deleted
    assert starts == committed and sum(starts.values()) >= n
    assert count(settings, sql, run_id) == n
    got = pipeline_crossings(settings, run_id)
    print("kill run", run_id, "killed after", done_at_kill)
    assert len(got) > 20
    assert_same_crossings(got, expected_crossings(null_stream, camera, run_id))


def test_run_pipeline_with_the_real_detector_end_to_end(services, triton):
    from itscam.ingest.sources import SimulatorSource
    from streaming.runner import run_pipeline

    settings = triton
    # After every minute this camera already has rows for: a camera's minute is one
    # row (its key has no run id), so a run over minutes an earlier one wrote (the
    # demo test's, or this test's a minute ago) would keep that run's rows.
    last = count(
        settings,
        "SELECT coalesce(extract(epoch FROM max(minute_ts)), 0)"
        " FROM analytics.lane_counts_1m WHERE camera_id = %s",
        "sim-highway-s",
    )
    start = max(time.time() - 120, last + 60)
    src = SimulatorSource("highway", fps=5.0, duration_s=6.0, start_ts=start)
    run_id = f"it-e2e-{uuid.uuid4().hex[:6]}"
    out = run_pipeline(settings, [src], None, run_id)
    assert out["frames_ingested"] == 30
    assert out["frames_inferred"] == out["frames_ingested"], json.dumps(out)
    rows = count(
        settings, "SELECT count(*) FROM analytics.vehicle_detections WHERE run_id = %s", run_id
    )
    assert out["detections"] == rows
    meta = count(
        settings,
        "SELECT count(*) FROM camera_data.frame_metadata WHERE run_id = %s"
        " AND model_version IS NOT NULL",
        run_id,
    )
    assert meta == 30
    # The source's end-of-stream record closed its last minute: every crossing of the
    # run is in a minute row (without it the minute of the last frame stayed open).
    crossings = count(
        settings, "SELECT count(*) FROM analytics.crossings WHERE run_id = %s", run_id
    )
    minute_rows = count(
        settings, "SELECT count(*) FROM analytics.lane_counts_1m WHERE run_id = %s", run_id
    )
    in_minutes = count(
        settings,
        "SELECT coalesce(sum(total), 0) FROM analytics.lane_counts_1m WHERE run_id = %s",
        run_id,
    )
    assert minute_rows >= 6 and in_minutes == crossings  # six lanes, one minute or two
    json.dumps(out)


def test_a_worker_writes_its_threads_and_tasks_to_its_log_when_asked(services):
    """What a stalled pool waited on is in its logs before a restart replaces it."""
    settings = services
    with WorkerPool(settings, 1) as pool:
        log_path = pool.logs[0]

        def since(offset: int) -> str:  # the log after ``offset`` bytes
            return log_path.read_bytes()[offset:].decode(errors="replace")

        start = log_path.stat().st_size
        t0 = time.monotonic()
        while "Worker]: Ready" not in since(start):
            assert time.monotonic() - t0 < 120, "worker did not start"
            pool.check()
            time.sleep(0.2)
        ready = log_path.stat().st_size
        pool.dump_stacks(wait_s=0.5)
        t0 = time.monotonic()
        size = -1
        # written a thread at a time: until the log stops growing
        while (now := log_path.stat().st_size) != size or now == ready:
            assert time.monotonic() - t0 < 30, "no stack dump in the worker log"
            size = now
            time.sleep(1.0)
        dump = since(ready)
    assert "THREAD MainThread" in dump and "TASKS" in dump
    # the consumer thread's loop too, where a fetch that never returns would show
    assert dump.count("THREAD ") >= 2
