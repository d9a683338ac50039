"""Builders of the tables the stream processors write, for platform integration tests.

Each test uses its own UTC day (far from "now") and camera ids starting with
``itest6-``, so tests never see each other's rows or anyone else's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import psycopg

from itscam.clients.postgres import copy_rows
from streaming.sinks import DETECTION_COLUMNS

LANE_COLS = [
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
    "run_id",
]
CROSS_COLS = [
    "camera_id",
    "line_id",
    "lane_id",
    "direction",
    "track_id",
    "class_name",
    "crossing_ts",
    "speed_kmh",
    "run_id",
]
DET_COLS = list(DETECTION_COLUMNS)
FRAME_COLS = [
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
]
RUN = "itest6"


def minute_row(
    camera: str,
    lane: str,
    ts: datetime,
    *,
    car: int = 2,
    motorcycle: int = 0,
    bus: int = 0,
    truck: int = 0,
    speed: float | None = 90.0,
    occupancy: float = 0.1,
    healthy_s: float = 60.0,
    total: int | None = None,
    direction: str = "forward",
) -> tuple[Any, ...]:
    tot = car + motorcycle + bus + truck if total is None else total
    n = car + motorcycle + bus + truck
    return (
        camera,
        lane,
        direction,
        ts,
        car,
        motorcycle,
        bus,
        truck,
        tot,
        speed if n else None,
        n if speed else 0,
        occupancy,
        60.0 / n if n else None,
        healthy_s,
        RUN,
    )


def clean_minutes(
    cameras: Iterable[str], lanes: Iterable[str], start: datetime, minutes: int
) -> list[tuple]:
    """Two cars a minute, one truck every fifth minute, 90 km/h, healthy video."""
    rows = []
    for cam in cameras:
        for lane in lanes:
            for m in range(minutes):
                rows.append(
                    minute_row(cam, lane, start + timedelta(minutes=m), truck=int(m % 5 == 0))
                )
    return rows


def crossings_for(minutes: list[tuple], speed_of=lambda i: 80.0 + (i % 25)) -> list[tuple]:
    """One crossing per counted vehicle, spread over its minute, speeds 80..104 km/h."""
    rows = []
    track = 0
    for r in minutes:
        camera, lane, direction, ts = r[0], r[1], r[2], r[3]
        classes = ["car"] * r[4] + ["motorcycle"] * r[5] + ["bus"] * r[6] + ["truck"] * r[7]
        for k, cls in enumerate(classes):
            track += 1
            rows.append(
                (
                    camera,
                    f"{lane}-count",
                    lane,
                    direction,
                    track,
                    cls,
                    ts + timedelta(seconds=1 + k * 50 / max(len(classes), 1)),
                    speed_of(track),
                    RUN,
                )
            )
    return rows


def ensure(conn: psycopg.Connection, table: str, start: datetime, end: datetime) -> None:
    conn.execute("SELECT ops.ensure_partitions(%s::regclass, %s, %s)", (table, start, end))


def clear_day(conn: psycopg.Connection, start: datetime, end: datetime) -> None:
    """Remove every row of the window from the tables these tests write (idempotent reruns)."""
    for table, col in (
        ("analytics.lane_counts_1m", "minute_ts"),
        ("analytics.crossings", "crossing_ts"),
        ("analytics.vehicle_detections", "capture_ts"),
        ("camera_data.frame_metadata", "capture_ts"),
        ("analytics.traffic_stats", "interval_start"),
        ("analytics.traffic_stats_hourly", "hour_start"),
        ("analytics.traffic_stats_daily", "day"),
    ):
        ensure(conn, table, start, end)
        conn.execute(f"DELETE FROM {table} WHERE {col} >= %s AND {col} < %s", (start, end))


def write(conn: psycopg.Connection, table: str, cols: list[str], rows: list[tuple]) -> None:
    if rows:
        copy_rows(conn, table, cols, rows)


def detections_for(
    camera: str,
    start: datetime,
    frames: int,
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 10.0,
) -> tuple[list[tuple], list[tuple]]:
    """Frames at ``fps`` with two in-frame boxes each; returns (frame rows, detection rows)."""
    frame_rows, det_rows = [], []
    for seq in range(frames):
        ts = start + timedelta(seconds=seq / fps)
        frame_rows.append((camera, ts, seq, ts, width, height, 20_000, "1", 12.0, 2, RUN))
        det_rows.append((camera, ts, seq, 0, 0, "car", 0.9, 10.0, 20.0, 110.0, 80.0, seq, RUN))
        det_rows.append(
            (camera, ts, seq, 1, 3, "truck", 0.7, 300.0, 100.0, 500.0, 300.0, 10_000 + seq, RUN)
        )
    return frame_rows, det_rows
