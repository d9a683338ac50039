"""Fixtures of the stream integration tests: a precomputed-detections stream and helpers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from itscam.domain.registry import parse_camera
from itscam.settings import Settings


@dataclass
class NullStream:
    """~40-vehicle synthetic frames: JPEG bytes (unique), detections, capture times."""

    camera: Any
    jpegs: list[bytes]
    detections: list[Any]
    ts: list[float]
    path: Path

    def camera_as(self, camera_id: str) -> Any:
        return parse_camera({**self.camera.raw, "camera_id": camera_id})


@pytest.fixture(scope="session")
def null_stream(services: Settings, tmp_path_factory: pytest.TempPathFactory) -> NullStream:
    import cv2
    import numpy as np

    from itscam.bench.pipeline import unique_jpeg
    from itscam.domain.bench_analysis import synthetic_stream
    from streaming.precomputed import save

    stream = synthetic_stream(seconds=40.0, fps=10.0)
    base = cv2.imencode(".jpg", np.full((360, 640, 3), 90, np.uint8))[1].tobytes()
    jpegs = [unique_jpeg(base, i) for i in range(len(stream.detections))]
    path = tmp_path_factory.mktemp("null") / "precomputed.npz"
    save(path, zip(jpegs, stream.detections, strict=True))
    shift = time.time() - 300.0 - float(stream.ts[-1])
    return NullStream(
        stream.camera, jpegs, list(stream.detections), [float(t) + shift for t in stream.ts], path
    )


def produce(settings: Settings, records: list[tuple[bytes | None, bytes, list]]) -> None:
    """Produce raw (key, value, headers) records to the frames topic, in order."""

    async def go() -> None:
        from itscam.clients.kafka import ensure_topics, start_producer

        await ensure_topics(settings)
        producer = await start_producer(settings)
        try:
            futs = [
                await producer.send(settings.topic("frames"), key=k, value=v, headers=h)
                for k, v, h in records
            ]
            await asyncio.gather(*futs)
        finally:
            await producer.stop()

    asyncio.run(go())


def expected_crossings(stream: NullStream, camera: Any, run_id: str) -> list[tuple]:
    """What an uninterrupted analyser gives on the same (wire-rounded) detections."""
    from streaming.contracts import Frame, decode_detections, encode_detections
    from streaming.processing import make_analyzer

    analyzer = make_analyzer(camera, run_id)
    out = []
    for i, (d, ts) in enumerate(zip(stream.detections, stream.ts, strict=True)):
        f = Frame(camera.camera_id, round(ts * 1e6), i, 640, 360, b"x", run_id=run_id)
        rec, dets = decode_detections(
            encode_detections(f, d, ingest_ts_us=0, model_version="", inference_ms=0)
        )
        for c in analyzer.update(rec["capture_ts_us"] / 1e6, i, dets, True).crossings:
            out.append(
                (
                    c["line_id"],
                    c["direction"],
                    int(c["track_id"]),
                    c["class_name"],
                    round(float(c["crossing_ts"]), 3),
                )
            )
    return sorted(out)


def pipeline_crossings(settings: Settings, run_id: str) -> list[tuple]:
    from itscam.clients.postgres import connect

    with connect(settings, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT line_id, direction, track_id, class_name, extract(epoch FROM crossing_ts)::float8"
            " FROM analytics.crossings WHERE run_id = %s",
            (run_id,),
        ).fetchall()
    return sorted((a, b, int(c), d, round(e, 3)) for a, b, c, d, e in rows)


def count(settings: Settings, sql: str, *args: Any) -> int:
    from itscam.clients.postgres import connect

    with connect(settings, autocommit=True) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def assert_same_crossings(got: list[tuple], want: list[tuple]) -> None:
    """Same crossings (line, direction, track, class), times equal to the millisecond."""
    g4, w4 = [g[:4] for g in got], [w[:4] for w in want]
    missing = sorted(set(w4) - set(g4))
    extra = sorted(set(g4) - set(w4))
    assert g4 == w4, f"{len(got)} vs {len(want)}; missing {missing[:5]}; extra {extra[:5]}"
    assert all(abs(g[4] - w[4]) <= 0.0015 for g, w in zip(got, want, strict=True))
