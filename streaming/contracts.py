"""Versioned message contracts of every topic (documented in ``docs/contracts.md``).

Frames are public: any Kafka client (a camera gateway from another vendor,
``kcat``) can produce them without our code. They follow the CloudEvents 1.0
Kafka protocol binding in *binary* content mode: the JPEG bytes are the record
value, the CloudEvents attributes are ``ce_*`` headers, ``content-type`` is
``image/jpeg`` and the record key is the camera id (per-camera order).

Every derived record (detections, crossings, 1-minute counts, events, camera
health) is one compact JSON object with a ``schema`` field naming its version,
e.g. ``"itscam.detections.v1"``. Times are integer microseconds since the Unix
epoch (UTC) in fields ending ``_us``: exact, compact and language-neutral.

Dead letters keep the original record verbatim (same value bytes, same
headers) and add ``dlq_*`` headers with the reason.

This module is plain Python: no Faust, no Kafka client, so ingest, agents,
sinks, tests and other tools share it.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from itscam.domain.detections import VEHICLE_CLASSES, Detections
from itscam.errors import DataError

# --- frames (CloudEvents, binary mode) ------------------------------------------

SPEC_VERSION = "1.0"
FRAME_TYPE = "ai.itscam.frame.v1"
#: An empty record after a camera's last frame: its source (a file, a simulation) ran out.
STREAM_END_TYPE = "ai.itscam.stream_end.v1"
FRAME_CONTENT_TYPE = "image/jpeg"
#: Kafka's (and the development broker's) default message size limit.
MAX_FRAME_BYTES = 1_000_000
#: A frame captured more than this far in the future (clock skew) is rejected.
MAX_FUTURE_S = 600.0
#: A frame older than this is rejected: it falls outside every hot partition.
MAX_AGE_S = 7 * 86_400.0

SCHEMA_DETECTIONS = "itscam.detections.v1"
SCHEMA_CROSSING = "itscam.crossing.v1"
SCHEMA_COUNTS_1M = "itscam.counts_1m.v1"
SCHEMA_EVENT = "itscam.event.v1"
SCHEMA_CAMERA_HEALTH = "itscam.camera_health.v1"
SCHEMA_DEAD_LETTER = "itscam.dead_letter.v1"

#: Reasons a record goes to the dead-letter topic (header ``dlq_reason``).
REASON_SCHEMA = "schema_violation"
REASON_UNDECODABLE = "undecodable_image"
REASON_UNKNOWN_CAMERA = "unknown_camera"
REASON_OVERSIZE = "oversize"
REASON_TIMESTAMP = "timestamp_out_of_range"
REASON_INFERENCE = "inference_failed"
REASON_ANALYSIS = "analysis_failed"
DEAD_LETTER_REASONS = (
    REASON_SCHEMA,
    REASON_UNDECODABLE,
    REASON_UNKNOWN_CAMERA,
    REASON_OVERSIZE,
    REASON_TIMESTAMP,
    REASON_INFERENCE,
    REASON_ANALYSIS,
)


class ContractViolation(DataError):
    """A record breaks its topic's contract; ``reason`` is one of :data:`DEAD_LETTER_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


Headers = Sequence[tuple[str, bytes]]


def us_to_datetime(us: int) -> datetime:
    """Microseconds since the epoch -> aware UTC datetime."""
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


def datetime_to_us(ts: datetime | float | int) -> int:
    """Aware datetime (or epoch seconds as a float) -> integer microseconds since the epoch."""
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError("naive datetime: every time in this system is UTC and tz-aware")
        return round(ts.timestamp() * 1e6)
    return round(float(ts) * 1e6)


def _rfc3339(us: int) -> str:
    return us_to_datetime(us).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Frame:
    """One camera frame as carried on the frames topic.

    Attributes:
        camera_id: registry id of the camera (also the record key).
        capture_ts_us: capture time, microseconds since the epoch (UTC).
        seq: per-camera frame sequence number (monotonic within a stream).
        width, height: image size in pixels.
        image: the JPEG bytes (the record value).
        event_id: CloudEvents ``id`` (unique per frame; producers choose it).
        run_id: optional run tag that flows into every row the frame produces.
        healthy: the source's own health verdict (False for e.g. a frozen feed).
        end: an end-of-stream record (no image): the camera's source ran out after
            the frame of ``seq - 1`` captured at ``capture_ts_us``.
    """

    camera_id: str
    capture_ts_us: int
    seq: int
    width: int
    height: int
    image: bytes
    event_id: str = ""
    run_id: str = ""
    healthy: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    end: bool = False


def frame_headers(frame: Frame) -> list[tuple[str, bytes]]:
    """CloudEvents binary-mode headers of ``frame`` (all values UTF-8 strings)."""
    event_id = frame.event_id or f"{frame.camera_id}/{frame.seq}/{uuid.uuid4().hex[:12]}"
    attrs = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id,
        "ce_source": f"camera/{frame.camera_id}",
        "ce_type": FRAME_TYPE,
        "ce_time": _rfc3339(frame.capture_ts_us),
        "ce_cameraid": frame.camera_id,
        "ce_capturetsus": str(frame.capture_ts_us),
        "ce_seq": str(frame.seq),
        "ce_width": str(frame.width),
        "ce_height": str(frame.height),
        "ce_imagebytes": str(len(frame.image)),
        "content-type": FRAME_CONTENT_TYPE,
    }
    if frame.run_id:
        attrs["ce_runid"] = frame.run_id
    if not frame.healthy:
        attrs["ce_healthy"] = "0"
    return [(k, v.encode()) for k, v in attrs.items()]


def stream_end_headers(
    camera_id: str, last_capture_ts_us: int, next_seq: int, run_id: str = ""
) -> list[tuple[str, bytes]]:
    """Headers of the end-of-stream record of ``camera_id`` (value: empty bytes).

    Sent on the frames topic after the camera's last frame (same key, so the same
    partition, after it): the analyser then closes the minute of that frame instead
    of leaving it open for frames that will never come.
    """
    attrs = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": f"{camera_id}/{run_id or 'live'}/end/{next_seq}",
        "ce_source": f"camera/{camera_id}",
        "ce_type": STREAM_END_TYPE,
        "ce_time": _rfc3339(last_capture_ts_us),
        "ce_cameraid": camera_id,
        "ce_capturetsus": str(last_capture_ts_us),
        "ce_seq": str(next_seq),
    }
    if run_id:
        attrs["ce_runid"] = run_id
    return [(k, v.encode()) for k, v in attrs.items()]


def headers_dict(headers: Headers | Mapping[str, bytes] | None) -> dict[str, str]:
    """Kafka headers (list of pairs or a mapping) -> ``{name: str}``; bad UTF-8 is a violation."""
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for k, v in items:
        try:
            out[k] = v.decode() if isinstance(v, bytes | bytearray) else str(v)
        except UnicodeDecodeError:
            raise ContractViolation(REASON_SCHEMA, f"header {k!r} is not UTF-8") from None
    return out


def _int_attr(h: Mapping[str, str], name: str) -> int:
    if name not in h:
        raise ContractViolation(REASON_SCHEMA, f"missing header {name}")
    try:
        return int(h[name])
    except ValueError:
        raise ContractViolation(
            REASON_SCHEMA, f"header {name}={h[name]!r} is not an integer"
        ) from None


def decode_frame(
    key: bytes | None,
    value: bytes | None,
    headers: Headers | Mapping[str, bytes] | None,
    *,
    now_us: int,
    known_cameras: Iterable[str] | None = None,
    max_bytes: int = MAX_FRAME_BYTES,
    max_future_s: float = MAX_FUTURE_S,
    max_age_s: float = MAX_AGE_S,
) -> Frame:
    """Validate one frames-topic record and return it as a :class:`Frame`.

    Checks, in order: size, CloudEvents attributes, key == camera id, camera
    known to the registry (when ``known_cameras`` is given), capture time within
    ``[now - max_age_s, now + max_future_s]``. The image bytes are not decoded
    here (that happens batched in the detector); a JPEG that fails to decode is
    reported as :data:`REASON_UNDECODABLE` there.

    Raises:
        ContractViolation: with the dead-letter reason and a human detail.
    """
    if value is not None and len(value) > max_bytes:
        raise ContractViolation(REASON_OVERSIZE, f"{len(value)} bytes > limit {max_bytes}")
    h = headers_dict(headers)
    if h.get("ce_specversion") != SPEC_VERSION:
        raise ContractViolation(
            REASON_SCHEMA, f"ce_specversion={h.get('ce_specversion')!r}, expected '1.0'"
        )
    end = h.get("ce_type") == STREAM_END_TYPE
    if end and value:
        raise ContractViolation(REASON_SCHEMA, "an end-of-stream record must have no value")
    if not end and (value is None or len(value) == 0):
        raise ContractViolation(REASON_SCHEMA, "empty record value (expected JPEG bytes)")
    if end:  # no image: the image attributes are not required
        h = {"content-type": FRAME_CONTENT_TYPE, "ce_width": "1", "ce_height": "1", **h}
    elif h.get("ce_type") != FRAME_TYPE:
        raise ContractViolation(
            REASON_SCHEMA, f"ce_type={h.get('ce_type')!r}, expected {FRAME_TYPE!r}"
        )
    ctype = h.get("content-type", h.get("ce_datacontenttype", ""))
    if ctype.split(";")[0].strip().lower() != FRAME_CONTENT_TYPE:
        raise ContractViolation(
            REASON_SCHEMA, f"content-type={ctype!r}, expected {FRAME_CONTENT_TYPE!r}"
        )
    camera_id = h.get("ce_cameraid", "")
    if not camera_id or not h.get("ce_id"):
        raise ContractViolation(REASON_SCHEMA, "missing ce_cameraid or ce_id")
    key_s = key.decode(errors="replace") if isinstance(key, bytes | bytearray) else key
    if key_s != camera_id:
        raise ContractViolation(REASON_SCHEMA, f"record key {key_s!r} != ce_cameraid {camera_id!r}")
    ts_us = _int_attr(h, "ce_capturetsus")
    seq = _int_attr(h, "ce_seq")
    width = _int_attr(h, "ce_width")
    height = _int_attr(h, "ce_height")
    if width <= 0 or height <= 0 or seq < 0:
        raise ContractViolation(REASON_SCHEMA, f"bad size {width}x{height} or seq {seq}")
    if known_cameras is not None and camera_id not in known_cameras:
        raise ContractViolation(
            REASON_UNKNOWN_CAMERA, f"camera {camera_id!r} is not in the registry"
        )
    if not now_us - max_age_s * 1e6 <= ts_us <= now_us + max_future_s * 1e6:
        raise ContractViolation(
            REASON_TIMESTAMP,
            f"capture time {_rfc3339(ts_us) if abs(ts_us) < 2**62 else ts_us} is outside "
            f"[now - {max_age_s:.0f} s, now + {max_future_s:.0f} s]",
        )
    return Frame(
        camera_id=camera_id,
        capture_ts_us=ts_us,
        seq=seq,
        width=0 if end else width,
        height=0 if end else height,
        image=bytes(value or b""),
        event_id=h["ce_id"],
        run_id=h.get("ce_runid", ""),
        healthy=h.get("ce_healthy", "1") != "0",
        end=end,
    )


# --- derived records (compact JSON with a schema field) --------------------------


def dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def loads(data: bytes, schema: str) -> dict[str, Any]:
    """Parse a derived record and check its ``schema`` field."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractViolation(REASON_SCHEMA, f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("schema") != schema:
        got = obj.get("schema") if isinstance(obj, dict) else type(obj).__name__
        raise ContractViolation(REASON_SCHEMA, f"schema={got!r}, expected {schema!r}")
    return obj


def as_recorded(dets: Detections) -> Detections:
    """``dets`` as a detections record carries them (boxes to 0.1 px, confidence to 1e-3).

    The detect agent analyses these, so the analyser sees exactly what the
    detection sink stores and what :func:`decode_detections` gives back.
    """
    return Detections(
        np.round(dets.xyxy.astype(np.float64), 1),
        np.round(dets.confidence.astype(np.float64), 3),
        dets.class_id,
    )


def encode_detections(
    frame: Frame, dets: Detections, *, ingest_ts_us: int, model_version: str, inference_ms: float
) -> bytes:
    """Detections of one frame: ``boxes`` is ``[[x1, y1, x2, y2, confidence, class_id], ...]``.

    Boxes are original-frame pixels rounded to 0.1 px, confidence to 1e-3.
    """
    xyxy = np.round(dets.xyxy.astype(np.float64), 1).tolist()
    conf = np.round(dets.confidence.astype(np.float64), 3).tolist()
    boxes = [[*b, c, k] for b, c, k in zip(xyxy, conf, dets.class_id.tolist(), strict=True)]
    return dumps(
        {
            "schema": SCHEMA_DETECTIONS,
            "camera_id": frame.camera_id,
            "capture_ts_us": frame.capture_ts_us,
            "frame_seq": frame.seq,
            "run_id": frame.run_id,
            "ingest_ts_us": ingest_ts_us,
            "width": frame.width,
            "height": frame.height,
            "image_bytes": len(frame.image),
            "healthy": frame.healthy,
            "model_version": model_version,
            "inference_ms": round(float(inference_ms), 2),
            "boxes": boxes,
        }
    )


def decode_detections(data: bytes) -> tuple[dict[str, Any], Detections]:
    """Parse a detections record -> (its fields, :class:`Detections` of shape ``(N, 4)``)."""
    rec = loads(data, SCHEMA_DETECTIONS)
    try:
        arr = np.asarray(rec["boxes"], dtype=np.float64).reshape(-1, 6)
        dets = Detections(arr[:, :4], arr[:, 4], arr[:, 5].astype(np.int32))
        for k in ("camera_id", "capture_ts_us", "frame_seq"):
            rec[k]
    except (KeyError, ValueError, TypeError) as exc:
        raise ContractViolation(REASON_SCHEMA, f"bad detections record: {exc!r}") from None
    return rec, dets


def _plain(v: Any) -> Any:
    """JSON-safe scalar: datetimes -> microseconds, numpy -> Python, NaN -> None."""
    if isinstance(v, datetime):
        return datetime_to_us(v)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_plain(x) for x in v]
    return v


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


CROSSING_FIELDS = (
    "camera_id",
    "line_id",
    "lane_id",
    "direction",
    "track_id",
    "class_name",
    "crossing_ts",
    "speed_kmh",
)
#: Evidence on each crossing record (not columns of ``analytics.crossings``):
#: the frame whose analysis emitted the record, once the vehicle's class settled
#: (``itscam.domain.analyzer.CLASS_SETTLE_S``, 1 s after the crossing was found).
#: Frame to event latency is measured from ``frame_ts``; ``crossing_ts`` precedes
#: it by that second plus up to one frame interval, or by seconds more for a hidden
#: crossing (extrapolated back).
CROSSING_FRAME_FIELDS = ("frame_seq", "frame_ts")
COUNTS_FIELDS = (
    "camera_id",
    "lane_id",
    "direction",
    "minute_ts",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "total",
    "mean_speed_kmh",
    "speed_count",
    "occupancy",
    "mean_headway_s",
    "healthy_s",
)
EVENT_FIELDS = (
    "event_id",
    "camera_id",
    "event_type",
    "severity",
    "start_ts",
    "end_ts",
    "lane_id",
    "zone_id",
    "evidence",
)


def encode_record(
    schema: str, fields: Sequence[str], obj: Any, *, camera_id: str, run_id: str
) -> bytes:
    """Encode a domain output (dataclass or mapping) as a versioned record.

    Time fields (``*_ts``) are written as ``<name>_us`` integer microseconds.
    """
    out: dict[str, Any] = {"schema": schema}
    for name in fields:
        v = _get(obj, name)
        if name == "camera_id":
            v = v or camera_id
        if name.endswith("_ts"):
            out[name + "_us"] = None if v is None else datetime_to_us(v)
        else:
            out[name] = _plain(v)
    out["run_id"] = run_id
    return dumps(out)


def encode_health(
    camera_id: str,
    ts_us: int,
    status: str,
    *,
    fps: float,
    frames_sent: int,
    last_capture_ts_us: int | None,
    run_id: str = "",
) -> bytes:
    """Camera heartbeat: ``status`` is ``ok`` | ``degraded`` | ``offline`` | ``ended``."""
    return dumps(
        {
            "schema": SCHEMA_CAMERA_HEALTH,
            "camera_id": camera_id,
            "ts_us": ts_us,
            "status": status,
            "fps": round(fps, 2),
            "frames_sent": frames_sent,
            "last_capture_ts_us": last_capture_ts_us,
            "run_id": run_id,
        }
    )


def dead_letter_headers(
    reason: str,
    detail: str,
    *,
    topic: str,
    partition: int,
    offset: int,
    original: Headers | Mapping[str, bytes] | None,
    now_us: int,
) -> list[tuple[str, bytes]]:
    """Original headers verbatim, then the ``dlq_*`` headers naming the reason and the origin."""
    items = list(original.items() if isinstance(original, Mapping) else (original or []))
    items = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in items]
    items += [
        ("dlq_schema", SCHEMA_DEAD_LETTER.encode()),
        ("dlq_reason", reason.encode()),
        ("dlq_detail", detail[:1000].encode()),
        ("dlq_topic", topic.encode()),
        ("dlq_partition", str(partition).encode()),
        ("dlq_offset", str(offset).encode()),
        ("dlq_ts_us", str(now_us).encode()),
    ]
    return items


def class_name(class_id: int) -> str:
    return (
        VEHICLE_CLASSES[class_id] if 0 <= class_id < len(VEHICLE_CLASSES) else f"class_{class_id}"
    )
