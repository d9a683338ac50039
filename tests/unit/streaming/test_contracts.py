"""Frame contract (CloudEvents binary mode) and versioned records."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from itscam.domain.detections import Detections
from streaming import contracts as c
from tests.unit.streaming.factories import frame, jpeg, record

NOW = int(time.time() * 1e6)


def _decode(key, value, headers, **kw):
    return c.decode_frame(key, value, headers, now_us=NOW, **kw)


def test_frame_round_trip_keeps_every_attribute() -> None:
    f = frame("cam-7", seq=42, ts_us=NOW - 1_000_000, run_id="r1", healthy=False)
    got = _decode(*record(f))
    assert (got.camera_id, got.seq, got.capture_ts_us, got.run_id, got.healthy) == (
        "cam-7",
        42,
        NOW - 1_000_000,
        "r1",
        False,
    )
    assert got.image == f.image and (got.width, got.height) == (64, 36)


def test_frame_headers_are_cloudevents_binary_mode() -> None:
    h = dict(c.frame_headers(frame("cam-1", seq=3, ts_us=1_700_000_000_123_456)))
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_type"] == b"ai.itscam.frame.v1"
    assert h["ce_source"] == b"camera/cam-1"
    assert h["ce_time"] == b"2023-11-14T22:13:20.123456Z"
    assert h["content-type"] == b"image/jpeg"
    assert h["ce_imagebytes"] == str(len(jpeg())).encode()
    assert h["ce_id"]


def _with(headers, **changes):
    d = dict(headers)
    for k, v in changes.items():
        k = k.replace("_dash_", "-")
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return list(d.items())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda k, v, h: (k, b"", h), c.REASON_SCHEMA),
        (lambda k, v, h: (k, b"x" * (c.MAX_FRAME_BYTES + 1), h), c.REASON_OVERSIZE),
        (lambda k, v, h: (k, v, _with(h, ce_specversion=b"0.3")), c.REASON_SCHEMA),
        (lambda k, v, h: (k, v, _with(h, ce_type=b"other.type")), c.REASON_SCHEMA),
        (lambda k, v, h: (k, v, _with(h, content_dash_type=b"image/png")), c.REASON_SCHEMA),
        (lambda k, v, h: (k, v, _with(h, ce_seq=None)), c.REASON_SCHEMA),
        (lambda k, v, h: (k, v, _with(h, ce_seq=b"seven")), c.REASON_SCHEMA),
        (lambda k, v, h: (k, v, _with(h, ce_width=b"0")), c.REASON_SCHEMA),
        (lambda k, v, h: (k, v, _with(h, ce_cameraid=b"\xff\xfe")), c.REASON_SCHEMA),
        (lambda k, v, h: (b"other-cam", v, h), c.REASON_SCHEMA),
        (
            lambda k, v, h: (k, v, _with(h, ce_capturetsus=str(NOW + 3600 * 10**6).encode())),
            c.REASON_TIMESTAMP,
        ),
        (lambda k, v, h: (k, v, _with(h, ce_capturetsus=b"0")), c.REASON_TIMESTAMP),
    ],
    ids=[
        "empty",
        "oversize",
        "specversion",
        "type",
        "content-type",
        "no-seq",
        "bad-seq",
        "zero-width",
        "bad-utf8",
        "key-mismatch",
        "future",
        "epoch-zero",
    ],
)
def test_broken_frames_are_rejected_with_their_reason(mutate, reason) -> None:
    k, v, h = mutate(*record(frame("cam-a")))
    with pytest.raises(c.ContractViolation) as err:
        _decode(k, v, h)
    assert err.value.reason == reason


def test_unknown_camera_is_its_own_reason() -> None:
    with pytest.raises(c.ContractViolation) as err:
        _decode(*record(frame("cam-x", ts_us=NOW)), known_cameras={"cam-a"})
    assert err.value.reason == c.REASON_UNKNOWN_CAMERA
    assert _decode(*record(frame("cam-a", ts_us=NOW)), known_cameras={"cam-a"}).camera_id == "cam-a"


def test_end_of_stream_record_decodes_and_is_checked_like_a_frame() -> None:
    h = c.stream_end_headers("cam-a", NOW - 2_000_000, 301, "r1")
    got = _decode(b"cam-a", b"", h, known_cameras={"cam-a"})
    assert got.end and (got.camera_id, got.seq, got.capture_ts_us, got.run_id) == (
        "cam-a",
        301,
        NOW - 2_000_000,
        "r1",
    )
    assert got.image == b"" and not _decode(*record(frame("cam-a", ts_us=NOW))).end
    for key, value, known, reason in (
        (b"cam-a", b"\xff\xd8\xff", None, c.REASON_SCHEMA),  # an end record carries no image
        (b"cam-b", b"", None, c.REASON_SCHEMA),  # key is not the camera
        (b"cam-a", b"", {"cam-x"}, c.REASON_UNKNOWN_CAMERA),
    ):
        with pytest.raises(c.ContractViolation) as err:
            _decode(key, value, h, known_cameras=known)
        assert err.value.reason == reason
    # a frame (not an end record) without a value is still a violation
    k, _, fh = record(frame("cam-a", ts_us=NOW))
    with pytest.raises(c.ContractViolation, match="empty record value"):
        _decode(k, b"", fh)


def test_detections_round_trip_is_compact_and_exact_enough() -> None:
    f = frame("cam-a", seq=9, ts_us=NOW)
    dets = Detections(
        np.array([[1.04, 2.0, 30.26, 40.0], [5, 5, 6, 6]], np.float32),
        np.array([0.91234, 0.5], np.float32),
        np.array([3, 0]),
    )
    data = c.encode_detections(
        f, dets, ingest_ts_us=NOW + 5, model_version="m1", inference_ms=12.345
    )
    rec, back = c.decode_detections(data)
    assert json.loads(data)["schema"] == "itscam.detections.v1"
    assert rec["frame_seq"] == 9 and rec["capture_ts_us"] == NOW and rec["inference_ms"] == 12.35
    np.testing.assert_allclose(back.xyxy, [[1.0, 2.0, 30.3, 40.0], [5, 5, 6, 6]], atol=1e-4)
    np.testing.assert_allclose(back.confidence, [0.912, 0.5], atol=1e-6)
    assert back.class_id.tolist() == [3, 0]


def test_empty_detections_round_trip() -> None:
    data = c.encode_detections(
        frame(), Detections.empty(), ingest_ts_us=NOW, model_version="", inference_ms=0
    )
    assert len(c.decode_detections(data)[1]) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1,2]",
        b'{"schema":"itscam.detections.v0"}',
        b'{"schema":"itscam.detections.v1","boxes":[[1,2,3]]}',
    ],
)
def test_bad_detection_records_are_schema_violations(data) -> None:
    with pytest.raises(c.ContractViolation) as err:
        c.decode_detections(data)
    assert err.value.reason == c.REASON_SCHEMA


def test_encode_record_writes_times_as_microseconds_and_nan_as_null() -> None:
    from datetime import UTC, datetime

    crossing = {
        "line_id": "l1",
        "lane_id": "nb-1",
        "direction": "forward",
        "track_id": np.int64(7),
        "class_name": "car",
        "crossing_ts": datetime(2026, 1, 1, tzinfo=UTC),
        "speed_kmh": float("nan"),
        "frame_seq": 41,
        "frame_ts": 1_767_225_600.5,
    }
    fields = c.CROSSING_FIELDS + c.CROSSING_FRAME_FIELDS
    rec = json.loads(
        c.encode_record(c.SCHEMA_CROSSING, fields, crossing, camera_id="cam-a", run_id="r")
    )
    assert rec["crossing_ts_us"] == 1_767_225_600_000_000
    assert rec["frame_ts_us"] == 1_767_225_600_500_000 and rec["frame_seq"] == 41
    assert rec["speed_kmh"] is None and rec["track_id"] == 7 and rec["camera_id"] == "cam-a"


def test_dead_letter_headers_keep_the_original_and_add_the_reason() -> None:
    orig = [("ce_id", b"x"), ("content-type", b"image/jpeg")]
    h = c.dead_letter_headers(
        "oversize",
        "too big",
        topic="itscam.frames",
        partition=3,
        offset=17,
        original=orig,
        now_us=NOW,
    )
    assert h[:2] == orig
    d = dict(h)
    assert (
        d["dlq_reason"] == b"oversize" and d["dlq_offset"] == b"17" and d["dlq_partition"] == b"3"
    )


@pytest.mark.parametrize(
    ("src_fps", "fps", "seconds", "want"),
    [(25.0, 10.0, 10.0, 100), (10.0, 5.0, 6.0, 30), (10.0, 10.0, 3.0, 30), (30.0, 7.5, 4.0, 30)],
)
def test_sampler_keeps_the_analysis_rate_despite_float_epoch_times(src_fps, fps, seconds, want):
    from streaming.ingest import Sampler

    s = Sampler(fps)
    t0 = 1_795_000_000.123
    kept = sum(s.keep(t0 + i / src_fps) for i in range(round(seconds * src_fps)))
    assert kept == want
