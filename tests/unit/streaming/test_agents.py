"""The Faust agents themselves, through ``agent.test_context()`` (no broker)."""

from __future__ import annotations

import asyncio
import json

import pytest

from streaming import contracts as c
from tests.unit.domain.factories import camera
from tests.unit.streaming.factories import BoxDetector, Collector, frame, record


@pytest.fixture
def wired(monkeypatch):
    from streaming import agents
    from streaming.app import app

    app.conf.store = "memory://"
    col, det = Collector(), BoxDetector()
    monkeypatch.setattr(agents.runtime, "send", col)
    monkeypatch.setattr(agents.runtime.frames, "_detector", det)
    monkeypatch.setattr(agents.runtime.frames, "cameras", {"cam-a"})
    monkeypatch.setattr(agents.runtime.analysis, "cameras", {"cam-a": camera(camera_id="cam-a")})
    monkeypatch.setattr(agents.runtime.analysis, "table", {})  # checkpoints without a changelog
    monkeypatch.setattr(agents.runtime.analysis, "state_sink", None)
    monkeypatch.setattr(agents.runtime.analysis, "live", {})
    return agents, col, det


async def test_detect_agent_emits_detections_analyses_them_and_dead_letters(wired) -> None:
    agents, col, det = wired
    async with agents.detect_vehicles.test_context() as agent:
        for i in range(5):
            k, v, h = record(frame("cam-a", seq=i))
            await agent.put(v, key=k, headers=h)
        k, v, h = record(frame("cam-unknown", seq=0))
        await agent.put(v, key=k, headers=h)
        for _ in range(100):  # the micro-batch closes at most DETECT_WITHIN after the last frame
            if len(col.sent) >= 6:
                break
            await asyncio.sleep(0.05)
    det_topic = agents.runtime.topics["detections"]
    seqs = [json.loads(v)["frame_seq"] for _, _, v, _ in col.on(det_topic)]
    assert seqs == [0, 1, 2, 3, 4]
    (dl,) = col.on(agents.runtime.topics["dead_letter"])
    assert dict(dl[3])["dlq_reason"] == c.REASON_UNKNOWN_CAMERA.encode()
    assert sum(det.calls) == 5
    # the same agent analysed them: cam-a's analyser holds the last frame's offset
    _, off, analyzer, _ = agents.runtime.analysis.live["cam-a"]
    assert off == 4 and analyzer.frames == 5


async def test_a_purge_that_fails_is_logged_and_never_raised(monkeypatch, caplog) -> None:
    from aiokafka.errors import NodeNotReadyError, PolicyViolationError

    from streaming import agents

    monkeypatch.setattr(agents, "_owned_frames_partitions", lambda: {0})
    calls = []

    def failing(exc):
        async def purge(held):
            calls.append(held)
            raise exc

        return purge

    caplog.set_level("INFO", logger=agents.log.name)
    # a broker connection not ready yet: retried at the next tick, so not a warning
    await agents._purge("frames", failing(NodeNotReadyError("node 0 not ready")), 10.0)
    # not retriable, or not Kafka's at all: a warning, and the worker goes on
    await agents._purge("frames", failing(PolicyViolationError("compact only")), 10.0)
    await agents._purge("frames", failing(RuntimeError("boom")), 10.0)
    # 0 = off: not even called
    await agents._purge("frames", failing(RuntimeError("never")), 0.0)
    assert calls == [{0}, {0}, {0}]
    levels = [(r.levelname, r.getMessage().split(" (")[0].split(":")[0]) for r in caplog.records]
    assert levels == [
        ("INFO", "frames not purged yet"),
        ("WARNING", "frames not purged"),
        ("WARNING", "frames not purged"),
    ]


async def test_an_end_of_stream_record_closes_the_cameras_last_minute(wired) -> None:
    import time

    agents, col, det = wired
    counts = agents.runtime.topics["counts_1m"]
    t0 = (int(time.time()) // 60 - 1) * 60  # last minute, so the frames pass the time check
    async with agents.detect_vehicles.test_context() as agent:
        for i in range(5):
            k, v, h = record(frame("cam-a", seq=i, ts_us=(t0 + 10 + i) * 10**6))
            await agent.put(v, key=k, headers=h)
        for _ in range(100):
            if len(col.on(agents.runtime.topics["detections"])) >= 5:
                break
            await asyncio.sleep(0.05)
        assert col.on(counts) == []  # the minute is open: more frames may come
        h = c.stream_end_headers("cam-a", (t0 + 14) * 10**6, 5, "")
        await agent.put(b"", key=b"cam-a", headers=h)
        for _ in range(100):
            if col.on(counts):
                break
            await asyncio.sleep(0.05)
    rows = [json.loads(v) for _, _, v, _ in col.on(counts)]
    assert rows and {r["minute_ts_us"] for r in rows} == {t0 * 10**6}
    assert sum(det.calls) == 5  # the end record was not sent to the detector
    assert col.on(agents.runtime.topics["dead_letter"]) == []
    _, off, analyzer, _ = agents.runtime.analysis.live["cam-a"]
    assert off == 5 and analyzer.frames == 5  # its offset is the camera's latest
