"""The baseline of ``itscam bench pipeline``: a naive one-record-at-a-time JSON Faust agent.

It does the same work as the real pipeline per frame -- decode, detect (the
same precomputed detections), track/analyse, write frame metadata and
detections to PostgreSQL, produce crossings -- the way a first version is
usually written: a Faust ``Record`` with the JSON codec (base64 image),
``async for record in stream`` with an await per record and an INSERT
transaction per frame. Run with ``python -m streaming.naive worker``.
Benchmark-only; nothing else uses it.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import faust

from streaming.app import create_app

NAIVE_APP_ID = "itscam-naive-bench"
app = create_app(app_id=NAIVE_APP_ID)
settings = app.itscam_settings  # type: ignore[attr-defined]


class FrameRecord(faust.Record, serializer="json"):
    camera_id: str
    capture_ts: float
    seq: int
    width: int
    height: int
    image_b64: str
    run_id: str


naive_frames_topic = app.topic(
    settings.topic("bench_naive"), value_type=FrameRecord, partitions=settings.kafka_partitions
)
naive_crossings_topic = app.topic(
    settings.topic("bench_naive_crossings"), partitions=settings.kafka_partitions
)

_state: dict[str, Any] = {}


def _insert(conn: Any, rec: FrameRecord, image_bytes: int, dets: Any) -> None:
    from datetime import UTC, datetime

    ts = datetime.fromtimestamp(rec.capture_ts, UTC)
    conn.execute(
        "INSERT INTO camera_data.frame_metadata (camera_id, capture_ts, frame_seq, width, height,"
        " image_bytes, num_detections, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (rec.camera_id, ts, rec.seq, rec.width, rec.height, image_bytes, len(dets), rec.run_id),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO analytics.vehicle_detections (camera_id, capture_ts, frame_seq, det_idx,"
            " class_id, class_name, confidence, x1, y1, x2, y2, run_id) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [
                (rec.camera_id, ts, rec.seq, i, int(k), "car", float(c), *map(float, b), rec.run_id)
                for i, (b, c, k) in enumerate(
                    zip(dets.xyxy, dets.confidence, dets.class_id, strict=True)
                )
            ],
        )
    conn.commit()


@app.agent(naive_frames_topic)
async def naive_process(stream):  # type: ignore[no-untyped-def]
    from itscam.clients.postgres import connect
    from streaming.cameras import CameraDirectory
    from streaming.precomputed import PrecomputedDetector
    from streaming.processing import make_analyzer

    detector = PrecomputedDetector(Path(os.environ["ITSCAM_PRECOMPUTED_DETECTIONS"]))
    cameras = CameraDirectory(settings)
    conn = connect(settings)
    async for rec in stream:
        image = base64.b64decode(rec.image_b64)
        dets = (await detector.detect([image]))[0]
        analyzer = _state.get(rec.camera_id)
        if analyzer is None:
            analyzer = _state[rec.camera_id] = make_analyzer(cameras.get(rec.camera_id), rec.run_id)
        out = analyzer.update(rec.capture_ts, rec.seq, dets, True)
        await asyncio.to_thread(_insert, conn, rec, len(image), dets)
        for c in out.crossings:
            await naive_crossings_topic.send(key=rec.camera_id, value={k: v for k, v in c.items()})


if __name__ == "__main__":
    app.main()
