"""Sinks: PostgreSQL (binary COPY, idempotent), InfluxDB metrics, Redis latest state.

Row builders are pure functions of decoded records (unit-tested without
services). :class:`PostgresSink` writes one micro-batch per transaction
through :func:`itscam.clients.postgres.copy_rows` (COPY into a staging table,
then ``INSERT ... ON CONFLICT``), creating the time partitions the batch
spans first. The agent acks its Kafka records only after this returns, so
offsets are committed only after the database commit; a replay after a
crash re-inserts rows that already exist and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.settings import Settings
from streaming.contracts import COUNTS_FIELDS, CROSSING_FIELDS, EVENT_FIELDS, us_to_datetime

log = logging.getLogger(__name__)

FRAME_COLUMNS = (
    "camera_id",
    "capture_ts",
    "frame_seq",
    "ingest_ts",
    "width",
    "height",
    "image_bytes",
    "model_version",
    "inference_ms",
    "num_detections",
    "run_id",
)
DETECTION_COLUMNS = (
    "camera_id",
    "capture_ts",
    "frame_seq",
    "det_idx",
    "class_id",
    "class_name",
    "confidence",
    "x1",
    "y1",
    "x2",
    "y2",
    "track_id",
    "run_id",
)
# The analytics tables hold their record's fields (streaming.contracts), then the run.
CROSSING_COLUMNS = (*CROSSING_FIELDS, "run_id")
COUNTS_COLUMNS = (*COUNTS_FIELDS, "run_id")
EVENT_COLUMNS = (*EVENT_FIELDS, "run_id")
EVENT_KEY = ("event_id",)


def _cls_name(k: int) -> str:
    return VEHICLE_CLASSES[k] if 0 <= k < len(VEHICLE_CLASSES) else f"class_{k}"


def frame_row(rec: dict[str, Any]) -> tuple:
    """A ``camera_data.frame_metadata`` row from a decoded detections record."""
    return (
        rec["camera_id"],
        us_to_datetime(rec["capture_ts_us"]),
        rec["frame_seq"],
        us_to_datetime(rec["ingest_ts_us"]) if rec.get("ingest_ts_us") else None,
        rec.get("width"),
        rec.get("height"),
        rec.get("image_bytes"),
        rec.get("model_version"),
        rec.get("inference_ms"),
        len(rec["boxes"]),
        rec.get("run_id") or None,
    )


def detection_rows(rec: dict[str, Any]) -> list[tuple]:
    """``analytics.vehicle_detections`` rows of one frame (``det_idx`` = index in ``boxes``).

    ``track_id`` stays NULL: tracks are an analysis output (crossings, events),
    and raw detections are the short-lived tier.
    """
    cam, ts, seq, run = (
        rec["camera_id"],
        us_to_datetime(rec["capture_ts_us"]),
        rec["frame_seq"],
        rec.get("run_id") or None,
    )
    return [
        (
            cam,
            ts,
            seq,
            i,
            int(b[5]),
            _cls_name(int(b[5])),
            float(b[4]),
            float(b[0]),
            float(b[1]),
            float(b[2]),
            float(b[3]),
            None,
            run,
        )
        for i, b in enumerate(rec["boxes"])
    ]


def _ts(rec: dict[str, Any], name: str) -> datetime | None:
    v = rec.get(name + "_us")
    return None if v is None else us_to_datetime(v)


def crossing_row(rec: dict[str, Any]) -> tuple:
    return (
        rec["camera_id"],
        rec["line_id"],
        rec["lane_id"],
        rec["direction"],
        int(rec["track_id"]),
        rec["class_name"],
        _ts(rec, "crossing_ts"),
        rec.get("speed_kmh"),
        rec.get("run_id") or None,
    )


def counts_row(rec: dict[str, Any]) -> tuple:
    return (
        rec["camera_id"],
        rec["lane_id"],
        rec["direction"],
        _ts(rec, "minute_ts"),
        int(rec.get("car") or 0),
        int(rec.get("motorcycle") or 0),
        int(rec.get("bus") or 0),
        int(rec.get("truck") or 0),
        int(rec.get("total") or 0),
        rec.get("mean_speed_kmh"),
        int(rec.get("speed_count") or 0),
        float(rec.get("occupancy") or 0.0),
        rec.get("mean_headway_s"),
        float(rec.get("healthy_s", 60.0)),
        rec.get("run_id") or None,
    )


def event_row(rec: dict[str, Any]) -> tuple:
    return (
        rec["event_id"],
        rec["camera_id"],
        rec["event_type"],
        rec["severity"],
        _ts(rec, "start_ts"),
        _ts(rec, "end_ts"),
        rec.get("lane_id"),
        rec.get("zone_id"),
        json.dumps(rec.get("evidence") or {}),
        rec.get("run_id") or None,
    )


def merge_events(rows: Iterable[tuple]) -> list[tuple]:
    """One row per event id, the latest update winning, but an end time never lost.

    An event is produced when it opens and again when it closes; both may
    land in one batch (ON CONFLICT cannot touch one row twice in a statement).
    """
    by_id: dict[str, tuple] = {}
    for r in rows:
        prev = by_id.get(r[0])
        if prev is not None and r[5] is None and prev[5] is not None:
            r = (*r[:5], prev[5], *r[6:])
        by_id[r[0]] = r
    return list(by_id.values())


def time_span(rows: Sequence[tuple], col: int) -> tuple[datetime, datetime] | None:
    ts = [r[col] for r in rows if r[col] is not None]
    return (min(ts), max(ts)) if ts else None


class PostgresSink:
    """Writes micro-batches to PostgreSQL; one connection, one transaction per batch."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: Any = None
        # Several agents write through this sink from worker threads. One
        # psycopg connection is one transaction at a time: without this lock a
        # commit from one agent lands in the middle of another's batch (and
        # ON COMMIT DELETE ROWS empties its staging table), losing rows.
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        from itscam.clients.postgres import connect

        if self._conn is None or self._conn.closed:
            self._conn = connect(self.settings)
        return self._conn

    def write(
        self, batches: Mapping[str, tuple[Sequence[str], list[tuple], int | None]]
    ) -> dict[str, int]:
        """Write ``{table: (columns, rows, time column index)}`` in one transaction.

        Returns new rows per table. On a connection error the transaction is
        rolled back, the connection dropped and the error re-raised (the
        caller retries the same batch: the write is idempotent).
        """
        with self._lock:
            return self._write_locked(batches)

    def _write_locked(
        self, batches: Mapping[str, tuple[Sequence[str], list[tuple], int | None]]
    ) -> dict[str, int]:
        from itscam.clients.postgres import copy_rows, ensure_partitions

        conn = self._connection()
        written: dict[str, int] = {}
        try:
            for table, (columns, rows, tcol) in batches.items():
                if not rows:
                    continue
                if tcol is not None:
                    span = time_span(rows, tcol)
                    if span is not None:
                        ensure_partitions(conn, table, span[0], span[1])
                if table == "analytics.events":
                    rows = merge_events(rows)
                    written[table] = copy_rows(
                        conn, table, columns, rows, conflict="update", key=EVENT_KEY
                    )
                else:
                    written[table] = copy_rows(conn, table, columns, rows)
            conn.commit()
        except Exception:
            with contextlib.suppress(Exception):  # the connection itself may be gone
                conn.rollback()
            with contextlib.suppress(Exception):
                conn.close()
            self._conn = None
            raise
        return written

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def camera_metrics(records: Iterable[dict[str, Any]]) -> list[Any]:
    """InfluxDB points per camera for one micro-batch of detections records.

    Measurement ``camera_stream``: tags ``camera_id``; fields ``frames``,
    ``fps`` (frames / capture-time span), ``inference_ms`` (mean),
    ``detections``, ``vehicles_per_frame``; timestamp = last capture time.
    """
    from itscam.clients.influx import point

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["camera_id"]].append(r)
    pts = []
    for cam, recs in groups.items():
        ts = [r["capture_ts_us"] for r in recs]
        span_s = (max(ts) - min(ts)) / 1e6
        ndet = sum(len(r["boxes"]) for r in recs)
        fields = {
            "frames": len(recs),
            "fps": (len(recs) - 1) / span_s if span_s > 0 else 0.0,
            "inference_ms": sum(float(r.get("inference_ms") or 0) for r in recs) / len(recs),
            "detections": ndet,
            "vehicles_per_frame": ndet / len(recs),
        }
        pts.append(point("camera_stream", {"camera_id": cam}, fields, max(ts) * 1000))
    return pts


class MetricsSink:
    """InfluxDB writer that never blocks the stream on a metrics outage (logs and drops)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._down_until = 0.0

    def write(self, points: list[Any]) -> None:
        if not points or time.monotonic() < self._down_until:
            return
        try:
            if self._client is None:
                from itscam.clients.influx import InfluxClient

                self._client = InfluxClient(self.settings, retries=1)
            self._client.write(points)
        except Exception as exc:  # metrics are best effort; counts live in PostgreSQL
            log.warning("InfluxDB write failed (%s); metrics paused for 30 s", exc)
            self._down_until = time.monotonic() + 30.0


class StateSink:
    """Latest analysis state per camera in Redis (best effort, like metrics)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Any = None
        self._down_until = 0.0

    def put(self, states: dict[str, dict[str, Any]]) -> None:
        if not states or time.monotonic() < self._down_until:
            return
        try:
            if self._store is None:
                from itscam.clients.redis import StateStore

                self._store = StateStore(self.settings)
            for cam, state in states.items():
                self._store.put_camera_state(cam, state)
        except Exception as exc:
            log.warning("Redis write failed (%s); state updates paused for 30 s", exc)
            self._down_until = time.monotonic() + 30.0
