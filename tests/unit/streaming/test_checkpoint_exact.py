"""An analyser resumed from its JSON checkpoint continues exactly like the uninterrupted one.

This is what makes a worker restart change no count (the worker restores the
checkpoint and replays the records after it); a lossy checkpoint (rounded
positions, velocities, sample times) changed one crossing's track id after some
restarts.
"""

from __future__ import annotations

import json

from itscam.domain.bench_analysis import synthetic_stream
from streaming.contracts import Frame, decode_detections, encode_detections
from streaming.processing import _json_default, make_analyzer


def _crossings(restart_every: int | None) -> list[tuple]:
    stream = synthetic_stream(seconds=40.0, fps=10.0)
    cam = stream.camera
    analyzer = make_analyzer(cam, "r")
    out = []
    for i, (d, ts) in enumerate(zip(stream.detections, stream.ts, strict=True)):
        if restart_every and i and i % restart_every == 0:
            blob = json.dumps(analyzer.to_state(), separators=(",", ":"), default=_json_default)
            analyzer = make_analyzer(cam, "r", json.loads(blob))
        f = Frame(cam.camera_id, round(float(ts) * 1e6), i, 640, 360, b"x", run_id="r")
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
                    float(c["crossing_ts"]),
                    c.get("speed_kmh"),
                )
            )
    return out


def test_restoring_from_the_checkpoint_every_few_frames_changes_no_crossing() -> None:
    expected = _crossings(None)
    assert len(expected) > 100
    assert _crossings(7) == expected
