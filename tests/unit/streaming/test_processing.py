"""Frame, analysis and sink processors driven with hand-built events (no services)."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from streaming import contracts as c
from streaming.processing import (
    AnalysisProcessor,
    FrameProcessor,
    SinkProcessor,
    chunks_in_flight,
)
from tests.unit.streaming.factories import BoxDetector, Collector, events, frame, record

TOPICS = {
    n: f"itscam.{n}"
    for n in ("frames", "detections", "crossings", "counts_1m", "events", "dead_letter")
}


def _reasons(col: Collector) -> list[str]:
    return [dict(h)["dlq_reason"].decode() for _, _, _, h in col.on(TOPICS["dead_letter"])]


async def test_valid_frames_become_detection_records_in_order() -> None:
    col, det = Collector(), BoxDetector()
    proc = FrameProcessor(TOPICS, col, lambda: det, {"cam-a", "cam-b"}, sub_batch=4)
    recs = [record(frame("cam-a" if i % 2 else "cam-b", seq=i)) for i in range(10)]
    await proc.process(events(recs))
    out = col.on(TOPICS["detections"])
    assert [json.loads(v)["frame_seq"] for _, _, v, _ in out] == list(range(10))
    assert [k for _, k, _, _ in out] == [r[0] for r in recs]  # keyed by camera id
    assert det.calls == [4, 4, 2]  # micro-batch split into bounded sub-batches
    rec, dets = c.decode_detections(out[0][2])
    assert rec["model_version"] == "test-1" and len(dets) == 1


class _SlowDetector(BoxDetector):
    """Records how many sub-batches it is given at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = self.peak = 0

    async def detect(self, images: list[bytes]) -> list[Any]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.01)
        try:
            return await super().detect(images)
        finally:
            self.running -= 1


@pytest.mark.parametrize(("max_in_flight", "want"), [(16, 2), (24, 3), (4, 1)])
async def test_frames_in_flight_bound_the_sub_batches_at_the_detector(
    max_in_flight: int, want: int
) -> None:
    assert chunks_in_flight(max_in_flight, 8) == want
    col, det = Collector(), _SlowDetector()
    proc = FrameProcessor(TOPICS, col, lambda: det, {"cam-a"}, sub_batch=2, max_inflight=want)
    await proc.process(events([record(frame("cam-a", seq=i)) for i in range(16)]))
    assert det.calls == [2] * 8
    assert det.peak == want  # never more, and the bound is used
    assert len(col.on(TOPICS["detections"])) == 16


async def test_malformed_frames_go_to_dead_letter_and_the_rest_still_flow() -> None:
    col = Collector()
    proc = FrameProcessor(TOPICS, col, BoxDetector, {"cam-a"})
    good = [record(frame("cam-a", seq=i)) for i in range(3)]
    k, v, h = record(frame("cam-a", seq=99))
    bad = [
        (k, b"\xff\xd8 not really a jpeg", h),  # undecodable
        (b"cam-zz", v, record(frame("cam-zz"))[2]),  # unknown camera
        (k, v, [x for x in h if x[0] != "ce_type"]),  # schema
        (k, b"x" * (c.MAX_FRAME_BYTES + 10), h),  # oversize
        record(frame("cam-a", ts_us=int((time.time() - 30 * 86400) * 1e6))),  # too old
    ]
    await proc.process(events([good[0], *bad, *good[1:]]))
    assert len(col.on(TOPICS["detections"])) == 3
    assert sorted(_reasons(col)) == sorted(
        [
            c.REASON_UNDECODABLE,
            c.REASON_UNKNOWN_CAMERA,
            c.REASON_SCHEMA,
            c.REASON_OVERSIZE,
            c.REASON_TIMESTAMP,
        ]
    )
    (undecodable,) = [
        d
        for d in col.on(TOPICS["dead_letter"])
        if dict(d[3])["dlq_reason"] == c.REASON_UNDECODABLE.encode()
    ]
    assert undecodable[2] == bad[0][1]  # original bytes kept verbatim
    assert dict(undecodable[3])["dlq_offset"] == b"1"
    assert dict(undecodable[3])["ce_type"] == c.FRAME_TYPE.encode()  # original headers too


async def test_transient_inference_errors_are_retried_not_dead_lettered() -> None:
    col, det = Collector(), BoxDetector(fail_transient=2)
    proc = FrameProcessor(TOPICS, col, lambda: det, {"cam-a"}, retries=2)
    await proc.process(events([record(frame("cam-a", seq=i)) for i in range(3)]))
    assert len(col.on(TOPICS["detections"])) == 3 and not col.on(TOPICS["dead_letter"])
    assert det.calls == [3, 2]


class CountingAnalyzer:
    """Counts frames; emits one crossing every 3rd frame. Stands in for CameraAnalyzer."""

    def __init__(self, cam: str, state: dict[str, Any] | None = None) -> None:
        self.cam = cam
        self.n = (state or {}).get("n", 0)

    def update(self, ts: float, seq: int, dets: Any, healthy: bool) -> dict[str, Any]:
        self.n += 1
        crossings = []
        if self.n % 3 == 0:
            crossings.append(
                {
                    "line_id": "l",
                    "lane_id": "nb-1",
                    "direction": "forward",
                    "track_id": self.n,
                    "class_name": "car",
                    "crossing_ts": ts,
                    "speed_kmh": 50.0,
                }
            )
        return {"crossings": crossings, "latest": {"n": self.n}}

    def to_state(self) -> dict[str, Any]:
        return {"n": self.n}


def _analysed(evs: list[Any]) -> list[Any]:
    """Events carrying detections records -> the detect agent's (event, fields, detections)."""
    return [(ev, *c.decode_detections(ev.message.value)) for ev in evs]


def _det_events(n: int, first: int = 0) -> list[Any]:
    from itscam.domain.detections import Detections

    recs = []
    for i in range(first, first + n):
        f = frame("cam-a", seq=i, ts_us=1_700_000_000_000_000 + i * 100_000)
        recs.append(
            (
                b"cam-a",
                c.encode_detections(
                    f, Detections.empty(), ingest_ts_us=0, model_version="", inference_ms=0
                ),
                [],
            )
        )
    return _analysed(events(recs, topic=TOPICS["frames"], partition=5, first_offset=first))


def _counting(send: Any, table: Any, **kw: Any) -> AnalysisProcessor:
    """An analysis processor for camera cam-a with :class:`CountingAnalyzer` analysers."""
    return AnalysisProcessor(
        TOPICS,
        send,
        {"cam-a": object()},
        table,
        analyzer_factory=lambda cfg, run, st: CountingAnalyzer("cam-a", st),
        **kw,
    )


async def test_analysis_checkpoint_resumes_without_double_processing() -> None:
    table: dict[bytes, bytes] = {}
    col = Collector()
    a1 = _counting(col, table)
    await (await a1.analyse(_det_events(7)))  # durable: the checkpoint is in the table
    # A new worker (no memory) takes over; the broker redelivers offsets 4..9.
    a2 = _counting(col, table)
    await a2.analyse(_det_events(6, first=4))
    assert a2.skipped == 3 and a2.frames == 3
    ids = [json.loads(v)["track_id"] for _, _, v, _ in col.on(TOPICS["crossings"])]
    assert ids == [3, 6, 9]  # same as one uninterrupted run of 10 frames


async def test_the_detect_agent_analyses_what_it_inferred_and_checkpoints_frame_offsets() -> None:
    # One hop: frames -> detections records (for the sink) and, in the same batch,
    # the analyser's outputs; the checkpoint names the frame's partition and offset.
    seen: list[Any] = []

    class Recording(CountingAnalyzer):
        def update(self, ts, seq, dets, healthy):
            seen.append((seq, dets))
            return super().update(ts, seq, dets, healthy)

    col, table = Collector(), {}
    analysis = AnalysisProcessor(
        TOPICS,
        col,
        {"cam-a": object()},
        table,
        analyzer_factory=lambda cfg, run, st: Recording("cam-a", st),
    )
    proc = FrameProcessor(TOPICS, col, BoxDetector, {"cam-a"}, analysis=analysis)
    k, _, h = record(frame("cam-a", seq=99))
    recs = [record(frame("cam-a", seq=i)) for i in range(6)]
    await proc.process(
        events(
            [*recs[:3], (k, b"not a jpeg", h), *recs[3:]],
            topic=TOPICS["frames"],
            partition=2,
            first_offset=10,
        )
    )
    assert len(col.on(TOPICS["detections"])) == 6 and _reasons(col) == [c.REASON_UNDECODABLE]
    assert analysis.frames == 6 and len(col.on(TOPICS["crossings"])) == 2
    part, off, _ = c_ckpt(table[b"cam-a"])
    assert (part, off) == (2, 16)  # the last frame's offset on the frames topic
    # what the analyser saw is what the detections record carries (rounded as on the wire)
    for (seq, dets), (_, _, value, _) in zip(seen, col.on(TOPICS["detections"]), strict=True):
        rec, back = c.decode_detections(value)
        assert seq == rec["frame_seq"]
        assert np.array_equal(dets.xyxy, back.xyxy) and np.array_equal(
            dets.confidence, back.confidence
        )


def _n(blob: bytes) -> int:
    """The counting analyser's frame count in a checkpoint."""
    return json.loads(blob[blob.rindex(b'{"n":') :])["n"]


def c_ckpt(blob: bytes) -> tuple[int, int, int]:
    from streaming.processing import _CKPT

    return _CKPT.unpack_from(blob)


class ChangelogTable(dict):
    """A table whose checkpoint writes are delivered only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.futures: list[asyncio.Future] = []
        self.sent: list[bytes] = []

    def keep(self, key: bytes, value: bytes) -> None:
        self[key] = value

    def send(self, key: bytes, value: bytes, partition: int) -> asyncio.Future:
        self.sent.append(value)
        fut = asyncio.get_running_loop().create_future()
        self.futures.append(fut)
        return fut


class OffsetTable(dict):
    """A table whose changelog writes are delivered at once, at the next offset of
    their partition (what Faust's delivery future reports)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: dict[int, list[bytes]] = {}

    def keep(self, key: bytes, value: bytes) -> None:
        self[key] = value

    def send(self, key: bytes, value: bytes, partition: int) -> asyncio.Future:
        log = self.log.setdefault(partition, [])
        log.append(key)
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(SimpleNamespace(offset=len(log) - 1))
        return fut


def _foreign_checkpoint(partition: int) -> bytes:
    """A checkpoint another worker wrote (restored into this worker's table)."""
    from streaming.processing import _CKPT

    run = b"other-run"
    return _CKPT.pack(partition, 99, len(run)) + run + b"{}"


async def test_the_changelog_is_purged_only_below_every_cameras_latest_checkpoint() -> None:
    table = OffsetTable()
    a = _counting(Collector(), table)  # a checkpoint after every batch
    await (await a.analyse(_det_events(3)))
    await (await a.analyse(_det_events(3, first=3)))
    assert table.log == {5: [b"cam-a", b"cam-a"]}
    assert a.superseded_below({5}) == {5: 1}  # the first checkpoint is superseded
    assert a.superseded_below({4}) == {}  # a partition this worker does not hold
    # Another worker's camera in the same partition: where its checkpoint lies is
    # unknown here, so nothing may be deleted there.
    table[b"cam-b"] = _foreign_checkpoint(5)
    assert a.superseded_below({5}) == {}


async def test_an_idle_cameras_checkpoint_is_written_again_so_the_purge_can_pass_it() -> None:
    table = OffsetTable()
    table[b"cam-b"] = foreign = _foreign_checkpoint(5)
    a = _counting(Collector(), table, carry_after_s=60.0)
    await (await a.analyse(_det_events(3)))
    # cam-b's checkpoint went to the changelog again, after cam-a's, unchanged
    assert table.log == {5: [b"cam-a", b"cam-b"]} and table[b"cam-b"] == foreign
    assert a.superseded_below({5}) == {5: 0}
    await (await a.analyse(_det_events(3, first=3)))  # within 60 s: not again
    assert table.log == {5: [b"cam-a", b"cam-b", b"cam-a"]}
    assert a.superseded_below({5}) == {5: 1}  # cam-b's (1) and cam-a's (2) stay
    # and cam-a goes on from its own checkpoint, untouched by the carrying
    assert a.frames == 6 and a.skipped == 0


async def test_a_batch_is_done_only_once_its_checkpoint_is_delivered() -> None:
    # The batch's events are acked when analyse() returns; Faust then commits their
    # offsets. If the checkpoint were still in the producer's buffer, a kill there
    # would restore an older checkpoint and skip the frames in between.
    table = ChangelogTable()
    a = _counting(Collector(), table)
    delivered = await a.analyse(_det_events(3))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(table.futures) == 1 and not delivered.done()
    table.futures[0].set_result(None)
    await asyncio.wait_for(delivered, 1.0)


async def test_checkpoints_reach_the_changelog_in_batch_order_after_their_outputs() -> None:
    # The next batch is analysed while the last one's outputs are still being
    # delivered; its checkpoint must not overtake the older one on the changelog
    # (the last value there is what a restart restores).
    gate: list[asyncio.Future] = []

    async def slow_send(topic, key, value, headers=None):
        fut = asyncio.get_running_loop().create_future()
        gate.append(fut)
        return fut

    table = ChangelogTable()
    a = _counting(slow_send, table)
    first = await a.analyse(_det_events(3))  # one crossing: its delivery is held
    second = await a.analyse(_det_events(3, first=3))  # one more crossing, also held
    assert b"cam-a" not in table  # the table only ever holds durable checkpoints
    for _ in range(20):
        await asyncio.sleep(0)
    assert table.sent == [] and len(gate) == 2  # no checkpoint before its outputs
    gate[1].set_result(None)  # the second batch's output arrives first
    for _ in range(20):
        await asyncio.sleep(0)
    assert table.sent == []  # still behind the first batch
    gate[0].set_result(None)
    for _ in range(20):
        await asyncio.sleep(0)
    assert [b[-7:] for b in table.sent] == [b'{"n":3}']
    table.futures[0].set_result(None)
    await asyncio.wait_for(first, 1.0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert [b[-7:] for b in table.sent] == [b'{"n":3}', b'{"n":6}']
    assert table[b"cam-a"].endswith(b'{"n":3}')
    table.futures[1].set_result(None)
    await asyncio.wait_for(second, 1.0)
    assert table[b"cam-a"].endswith(b'{"n":6}')


async def test_after_a_failed_delivery_the_analyser_restarts_from_its_last_durable_checkpoint() -> (
    None
):
    # The agent stops on the failure and is restarted in the same worker; the broker
    # redelivers the unacked batch. The processor must neither inherit the old error
    # nor go on from an analyser that already counted the frames whose outputs were
    # lost (its checkpoint would say they were done, and the replay would skip them).
    fail = [True]
    crossings: list[int] = []

    async def send(topic, key, value, headers=None):
        fut = asyncio.get_running_loop().create_future()
        if fail[0]:
            fut.set_exception(ConnectionError("broker gone"))
        else:
            crossings.append(json.loads(value)["track_id"])
            fut.set_result(None)
        return fut

    table = ChangelogTable()
    a = _counting(send, table)
    first = await a.analyse(_det_events(3))  # one crossing, its delivery fails
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(first, 1.0)
    assert table.sent == []  # no checkpoint after outputs that were not delivered
    fail[0] = False
    second = await a.analyse(_det_events(6))  # offsets 0..5 again
    for _ in range(20):
        await asyncio.sleep(0)
    table.futures[0].set_result(None)
    await asyncio.wait_for(second, 1.0)
    assert [b[-7:] for b in table.sent] == [b'{"n":6}'] and crossings == [3, 6]


async def test_cameras_are_checkpointed_once_per_interval_and_their_batches_settle_then() -> None:
    table = ChangelogTable()
    a = _counting(
        Collector(),
        table,
        checkpoint_every_s=0.3,
        checkpoint_idle_s=60.0,  # the interval decides here
    )
    settled = [await a.analyse(_det_events(2, first=2 * i)) for i in range(5)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert [_n(b) for b in table.sent] == [2]  # the first batch, then none
    table.futures[0].set_result(None)
    await asyncio.wait_for(settled[0], 1.0)
    assert all(s.delivered.done() for s in settled)  # outputs go out at once
    assert not any(s.done() for s in settled[1:])  # not acked before a checkpoint
    await asyncio.sleep(0.4)
    assert [_n(b) for b in table.sent] == [2, 10]  # one checkpoint for the next 4 batches
    table.futures[1].set_result(None)
    await asyncio.wait_for(asyncio.gather(*settled), 1.0)
    assert c_ckpt(table[b"cam-a"])[:2] == (5, 9)
    await asyncio.sleep(0.35)  # the interval has passed: the next batch checkpoints at once
    now = await a.analyse(_det_events(1, first=10))
    for _ in range(20):
        await asyncio.sleep(0)
    assert [_n(b) for b in table.sent] == [2, 10, 11]
    table.futures[2].set_result(None)
    await asyncio.wait_for(now, 1.0)


async def test_a_quiet_stream_is_checkpointed_without_waiting_for_the_interval() -> None:
    table = ChangelogTable()
    a = _counting(
        Collector(),
        table,
        checkpoint_every_s=600.0,
        checkpoint_idle_s=0.05,
    )
    first_batch = await a.analyse(_det_events(2))  # the first checkpoint is taken at once
    for _ in range(20):
        await asyncio.sleep(0)
    table.futures[0].set_result(None)
    await asyncio.wait_for(first_batch, 1.0)
    first = [await a.analyse(_det_events(2, first=2 + 2 * i)) for i in range(3)]
    while len(table.sent) < 2:  # the batches stopped: checkpointed after 0.05 s
        await asyncio.sleep(0.01)
    table.futures[1].set_result(None)
    await asyncio.wait_for(asyncio.gather(*first), 5.0)
    assert [_n(b) for b in table.sent] == [2, 8]


async def test_a_restored_analyser_goes_on_from_memory_while_its_checkpoint_is_in_flight() -> None:
    # A worker that took the camera over restored its checkpoint; its next batch
    # came before its own first checkpoint was durable. It restored the old one
    # again and analysed on from there (seen in the kill test: other track ids).
    table = ChangelogTable()
    a1 = _counting(Collector(), table)
    first = await a1.analyse(_det_events(4))
    for _ in range(20):
        await asyncio.sleep(0)
    table.futures[0].set_result(None)
    await asyncio.wait_for(first, 1.0)
    a2 = _counting(Collector(), table)
    b1 = await a2.analyse(_det_events(2, first=4))  # restored at n = 4, on to 6
    b2 = await a2.analyse(_det_events(2, first=6))  # the checkpoint of b1 not yet durable
    for _ in range(3):  # each checkpoint is sent after the one before is delivered
        for _ in range(20):
            await asyncio.sleep(0)
        for f in table.futures:
            if not f.done():
                f.set_result(None)
    await asyncio.wait_for(asyncio.gather(b1, b2), 1.0)
    assert [_n(b) for b in table.sent] == [4, 6, 8]


async def test_a_camera_another_worker_moved_on_is_restored_not_continued_from_memory() -> None:
    # Partition moved to another worker and back: that worker's checkpoint is newer
    # than what this one holds in memory.
    table: dict[bytes, bytes] = {}
    a1 = _counting(Collector(), table)
    a2 = _counting(Collector(), table)
    await (await a1.analyse(_det_events(4)))
    await (await a1.analyse(_det_events(2, first=4)))  # from memory: no restore
    await (await a2.analyse(_det_events(4, first=6)))  # restored (n = 6), on to n = 10
    await (await a1.analyse(_det_events(2, first=10)))
    assert table[b"cam-a"].endswith(b'{"n":12}') and a1.skipped == 0


async def test_analysis_failure_is_dead_lettered_and_later_frames_continue() -> None:
    class Flaky(CountingAnalyzer):
        def update(self, ts, seq, dets, healthy):
            if seq == 1:
                raise FloatingPointError("boom")
            return super().update(ts, seq, dets, healthy)

    col = Collector()
    a = AnalysisProcessor(
        TOPICS,
        col,
        {"cam-a": object()},
        {},
        analyzer_factory=lambda cfg, run, st: Flaky("cam-a", st),
    )
    await a.analyse(_det_events(4))
    assert _reasons(col) == [c.REASON_ANALYSIS] and a.frames == 3


async def test_a_camera_gone_from_the_registry_is_dead_lettered_by_the_analyser() -> None:
    col = Collector()
    a = AnalysisProcessor(TOPICS, col, {}, {}, analyzer_factory=lambda *a: None)
    await a.analyse(_det_events(2))
    assert _reasons(col) == [c.REASON_UNKNOWN_CAMERA] * 2


class MemoryPg:
    """Collects what would be written; fails the first ``fail`` times (to test retry)."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.batches: list[dict[str, Any]] = []

    def write(self, batches):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("server closed the connection")
        self.batches.append(batches)
        return {t: len(rows) for t, (_, rows, _) in batches.items()}


async def test_detection_sink_writes_frames_and_boxes_and_retries_on_db_errors() -> None:
    from itscam.domain.detections import Detections

    pg = MemoryPg(fail=2)
    sink = SinkProcessor(TOPICS, Collector(), pg, max_backoff_s=0.01)
    f = frame("cam-a", seq=3, run_id="r9")
    dets = Detections(
        np.array([[1, 2, 3, 4], [5, 6, 7, 8]]), np.array([0.5, 0.6]), np.array([0, 2])
    )
    value = c.encode_detections(
        f, dets, ingest_ts_us=f.capture_ts_us, model_version="m", inference_ms=3.0
    )
    await sink.process_detections(events([(b"cam-a", value, [])], topic=TOPICS["detections"]))
    (batch,) = pg.batches
    (_, frames, _) = batch["camera_data.frame_metadata"]
    (_, boxes, _) = batch["analytics.vehicle_detections"]
    assert frames[0][9] == 2 and frames[0][10] == "r9"
    assert [b[3] for b in boxes] == [0, 1] and boxes[1][5] == "bus"
    assert sink.rows["analytics.vehicle_detections"] == 2
    assert sink.retrying == 0  # the outage is over


async def test_sink_says_it_is_retrying_while_the_database_is_down() -> None:
    # The stall watchdog leaves a worker alone while it waits for PostgreSQL.
    import asyncio

    pg = MemoryPg(fail=10**6)
    sink = SinkProcessor(TOPICS, Collector(), pg, max_backoff_s=0.01)
    rec = c.encode_record(
        c.SCHEMA_CROSSING,
        c.CROSSING_FIELDS,
        {
            "line_id": "l",
            "lane_id": "a",
            "direction": "forward",
            "track_id": 4,
            "class_name": "car",
            "crossing_ts": 1.7e9,
            "speed_kmh": None,
        },
        camera_id="cam-a",
        run_id="r",
    )
    task = asyncio.ensure_future(
        sink.process_analytics(events([(b"cam-a", rec, [])], topic=TOPICS["crossings"]))
    )
    await asyncio.sleep(0.1)
    assert sink.retrying == 1 and not task.done()
    pg.fail = 0
    await asyncio.wait_for(task, 5)
    assert sink.retrying == 0 and len(pg.batches) == 1


async def test_analytics_sink_routes_by_topic_and_merges_event_updates() -> None:
    pg = MemoryPg()
    sink = SinkProcessor(TOPICS, Collector(), pg)
    ev_open = c.encode_record(
        c.SCHEMA_EVENT,
        c.EVENT_FIELDS,
        {
            "event_id": "e1",
            "event_type": "wrong_way",
            "severity": "critical",
            "start_ts": 1.7e9,
            "end_ts": None,
        },
        camera_id="cam-a",
        run_id="r",
    )
    ev_close = c.encode_record(
        c.SCHEMA_EVENT,
        c.EVENT_FIELDS,
        {
            "event_id": "e1",
            "event_type": "wrong_way",
            "severity": "critical",
            "start_ts": 1.7e9,
            "end_ts": 1.7e9 + 5,
        },
        camera_id="cam-a",
        run_id="r",
    )
    crossing = c.encode_record(
        c.SCHEMA_CROSSING,
        c.CROSSING_FIELDS,
        {
            "line_id": "l",
            "lane_id": "a",
            "direction": "reverse",
            "track_id": 4,
            "class_name": "car",
            "crossing_ts": 1.7e9,
            "speed_kmh": None,
        },
        camera_id="cam-a",
        run_id="r",
    )
    evs = events([(b"cam-a", crossing, [])], topic=TOPICS["crossings"]) + events(
        [(b"cam-a", ev_close, []), (b"cam-a", ev_open, []), (b"cam-a", b"{}", [])],
        topic=TOPICS["events"],
    )
    col = Collector()
    sink.send = col
    await sink.process_analytics(evs)
    (batch,) = pg.batches
    assert len(batch["analytics.crossings"][1]) == 1
    from streaming.sinks import merge_events

    merged = merge_events(batch["analytics.events"][1])
    assert len(merged) == 1 and merged[0][5] is not None  # the end time survives the reopen
    assert _reasons(col) == [c.REASON_SCHEMA]


async def test_tick_advances_only_live_owned_quiet_cameras() -> None:
    flushed: list[float] = []

    class Flushing(CountingAnalyzer):
        def flush(self, ts: float) -> dict[str, Any]:
            flushed.append(ts)
            return {
                "events": [
                    {
                        "event_id": "off",
                        "event_type": "camera_offline",
                        "severity": "warning",
                        "start_ts": ts - 10,
                        "end_ts": None,
                    }
                ]
            }

    col, table = Collector(), {}
    a = AnalysisProcessor(
        TOPICS,
        col,
        {"cam-a": object()},
        table,
        analyzer_factory=lambda cfg, run, st: Flushing("cam-a", st),
    )
    now = 1_700_000_000.0 + 100  # _det_events' capture clock
    await a.analyse(_det_events(3))
    run = a.seen["cam-a"][2]
    a.seen["cam-a"] = (now - 15.0, now - 15.0, run)  # a live camera, quiet for 15 s
    assert await a.tick(now, owns=lambda p: False) == 0  # partition moved away: hands off
    assert await a.tick(now, owns=lambda p: p == 5) == 1
    assert flushed == [now]
    assert [json.loads(v)["event_type"] for _, _, v, _ in col.on(TOPICS["events"])] == [
        "camera_offline"
    ]
    a.seen["cam-a"] = (now - 15.0, now - 3600.0, run)  # a replay: its frames tell the time
    assert await a.tick(now, owns=lambda p: True) == 0


async def test_heartbeats_become_latest_ingest_state() -> None:
    class States:
        def __init__(self) -> None:
            self.put_calls: list[dict] = []

        def put(self, states: dict) -> None:
            self.put_calls.append(states)

    states, col = States(), Collector()
    sink = SinkProcessor(TOPICS, col, MemoryPg())
    beats = [
        c.encode_health("cam-a", 1, "ok", fps=9.8, frames_sent=10, last_capture_ts_us=5),
        c.encode_health("cam-a", 2, "ended", fps=0.0, frames_sent=12, last_capture_ts_us=7),
        b"not json",
    ]
    await sink.process_health(
        events([(b"cam-a", b, []) for b in beats], topic="itscam.camera_health"), states
    )
    (latest,) = states.put_calls
    assert latest["cam-a"]["ingest_status"] == "ended" and latest["cam-a"]["ingest_frames"] == 12
    assert _reasons(col) == [c.REASON_SCHEMA]


async def test_a_new_run_of_a_camera_does_not_inherit_the_old_runs_state() -> None:
    from itscam.domain.detections import Detections

    table: dict[bytes, bytes] = {}
    col = Collector()
    a = _counting(col, table)
    await a.analyse(_det_events(4))  # run "" (no run id): n = 4
    recs = []
    for i in range(3):
        f = frame("cam-a", seq=i, ts_us=1_800_000_000_000_000 + i * 100_000, run_id="run-2")
        recs.append(
            (
                b"cam-a",
                c.encode_detections(
                    f, Detections.empty(), ingest_ts_us=0, model_version="", inference_ms=0
                ),
                [],
            )
        )
    b = _counting(col, table)
    await b.analyse(_analysed(events(recs, topic=TOPICS["frames"], partition=5, first_offset=4)))
    assert b.live["cam-a"][2].n == 3  # fresh for run-2, not 4 + 3
