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
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.settings import Settings
from streaming import metrics
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
#: A lane's minute is one row: the latest write of it wins (a replay writes the same
#: values; a later run over the same clock minutes, a backfill, replaces them).
COUNTS_KEY = ("camera_id", "lane_id", "direction", "minute_ts")


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


def last_per_key(rows: Iterable[tuple], columns: Sequence[str], key: Sequence[str]) -> list[tuple]:
    """The last row of each ``key`` value, in first-seen order (ON CONFLICT DO UPDATE
    cannot touch one row twice in a statement: a replayed minute can share a batch with
    its first write)."""
    idx = [columns.index(k) for k in key]
    by_key: dict[tuple, tuple] = {}
    for r in rows:
        by_key[tuple(r[i] for i in idx)] = r
    return list(by_key.values())


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
                elif table == "analytics.lane_counts_1m":
                    rows = last_per_key(rows, columns, COUNTS_KEY)
                    written[table] = copy_rows(
                        conn, table, columns, rows, conflict="update", key=COUNTS_KEY
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


class RetryGate:
    """When to try a best-effort service again after it failed: after ``first_s``,
    doubling up to ``max_s`` while it keeps failing; at once again after a success."""

    def __init__(self, what: str, first_s: float = 1.0, max_s: float = 30.0) -> None:
        self.what, self.first_s, self.max_s = what, first_s, max_s
        self.pause_s = first_s
        self.failing = False
        self._until = 0.0

    def open(self) -> bool:
        return time.monotonic() >= self._until

    def failed(self, exc: Exception, kept: str) -> None:
        log.warning("%s failed (%s); %s, next try in %.0f s", self.what, exc, kept, self.pause_s)
        self.failing = True
        self._until = time.monotonic() + self.pause_s
        self.pause_s = min(self.pause_s * 2, self.max_s)

    def succeeded(self, done: str) -> None:
        if self.failing:
            log.info("%s works again: %s", self.what, done)
        self.failing = False
        self.pause_s = self.first_s


class _BestEffort:
    """A sink whose writes never hold the stream up: callers only queue, and one
    flush at a time runs in a background thread (``background=False``: in the
    caller's, for tests). What a failed flush did not write stays queued for
    the next one after the retry pause (a write or :meth:`poke` starts it).
    Queued data is in memory only: a worker that exits during an outage loses
    it (these are metrics and dashboard state; counts live in PostgreSQL)."""

    def __init__(self, retry: RetryGate, background: bool) -> None:
        self.retry = retry
        self._lock = threading.Lock()
        self._flushing = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sink") if background else None

    #: What is queued (a subclass's deque or dict).
    _pending: Sized

    def _has_pending(self) -> bool:
        return bool(self._pending)

    def _flush(self) -> str:
        """Write what is queued; returns what was done (raises on a failure, with
        what it did not write still queued)."""
        raise NotImplementedError

    def _kept(self) -> str:
        """What is queued, for the log."""
        raise NotImplementedError

    def poke(self) -> None:
        """Start a flush unless one runs, nothing is queued, or the retry pause is on.

        Every write calls it, and so does the worker's timer, so what an outage held
        back goes out once the service is back even when no new write comes.
        """
        with self._lock:
            if self._flushing or not self._has_pending() or not self.retry.open():
                return
            self._flushing = True
        if self._pool is None:
            self._flush_once()
        else:
            self._pool.submit(self._flush_once)

    def _flush_once(self) -> None:
        try:
            done = self._flush()
        except Exception as exc:  # a best-effort write must never stop the stream
            self.retry.failed(exc, f"{self._kept()} kept")
        else:
            self.retry.succeeded(done)
        finally:
            with self._lock:
                self._flushing = False


class MetricsSink(_BestEffort):
    """InfluxDB metrics that never block the stream and outlast an InfluxDB outage.

    While InfluxDB does not answer, points are kept in memory (at most
    ``max_points``; beyond that the oldest are dropped and counted in
    ``itscam_metric_points_dropped_total``) and written, in order, once the retry
    pause is over (1 s, doubling to 30 s). A point is identified by measurement,
    tags and time, so one written twice (a request that failed after InfluxDB
    stored part of it) changes nothing.
    """

    #: Points per write request.
    CHUNK = 5000

    def __init__(
        self,
        settings: Settings,
        *,
        max_points: int = 100_000,
        client: Any = None,
        retry: RetryGate | None = None,
        background: bool = True,
    ) -> None:
        super().__init__(retry or RetryGate("InfluxDB write"), background)
        self.settings = settings
        self.max_points = max_points
        self._client = client
        self._pending: deque[Any] = deque()
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Points queued for the next write."""
        return len(self._pending)

    def write(self, points: list[Any]) -> None:
        """Queue ``points`` (never blocks on InfluxDB) and start a flush if none runs."""
        with self._lock:
            self._pending.extend(points)
            over = len(self._pending) - self.max_points
            # A running flush owns the head of the queue; the oldest go once it is done.
            if over > 0 and not self._flushing:
                for _ in range(over):
                    self._pending.popleft()
                self.dropped += over
                metrics.METRIC_POINTS_DROPPED.inc(over)
        self.poke()

    def _kept(self) -> str:
        return f"{len(self._pending)} points"

    def _flush(self) -> str:
        if self._client is None:
            from itscam.clients.influx import InfluxClient

            self._client = InfluxClient(self.settings, retries=1)
        written = 0
        while True:
            with self._lock:
                chunk = [self._pending[i] for i in range(min(self.CHUNK, len(self._pending)))]
            if not chunk:
                return f"{written} points written"
            self._client.write(chunk)  # a failure leaves the chunk queued
            with self._lock:
                for _ in chunk:
                    self._pending.popleft()
            written += len(chunk)


class StateSink(_BestEffort):
    """Latest analysis state per camera in Redis, outlasting a Redis outage.

    What Redis did not take is merged into the camera's queued state (later
    fields win) and written once the retry pause is over: a camera's latest
    state is never lost while the worker runs, and memory is bounded by the
    number of cameras.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Any = None,
        retry: RetryGate | None = None,
        background: bool = True,
    ) -> None:
        super().__init__(retry or RetryGate("Redis write"), background)
        self.settings = settings
        self._store = store
        self._pending: dict[str, dict[str, Any]] = {}

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        """Camera states queued for the next write."""
        with self._lock:
            return {cam: dict(st) for cam, st in self._pending.items()}

    def put(self, states: dict[str, dict[str, Any]]) -> None:
        """Queue the cameras' latest state (never blocks on Redis) and start a flush."""
        with self._lock:
            for cam, state in states.items():
                self._pending.setdefault(cam, {}).update(state)
        self.poke()

    def _kept(self) -> str:
        return f"the latest state of {len(self._pending)} cameras"

    def _flush(self) -> str:
        with self._lock:
            batch, self._pending = self._pending, {}
        done = 0
        try:
            if self._store is None:
                from itscam.clients.redis import StateStore

                self._store = StateStore(self.settings)
            for cam, state in batch.items():
                self._store.put_camera_state(cam, state)
                done += 1
        except Exception:
            with self._lock:  # what was not written goes back, under anything newer
                for cam, state in list(batch.items())[done:]:
                    self._pending[cam] = {**state, **self._pending.get(cam, {})}
            raise
        return f"{done} cameras' state written"
