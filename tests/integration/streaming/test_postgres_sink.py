"""PostgresSink on the real PostgreSQL: the 1-minute lane rows' natural key."""

from __future__ import annotations

import uuid

import pytest

from itscam.settings import Settings
from streaming.sinks import COUNTS_COLUMNS, PostgresSink, counts_row
from tests.integration.streaming.conftest import count

pytestmark = pytest.mark.integration

TABLE = "analytics.lane_counts_1m"


def _minute(cam: str, minute_ts: float, total: int, run_id: str) -> tuple:
    return counts_row(
        {
            "camera_id": cam,
            "lane_id": "L1",
            "direction": "forward",
            "minute_ts_us": round(minute_ts * 1e6),
            "car": total,
            "total": total,
            "mean_speed_kmh": 50.0,
            "speed_count": total,
            "occupancy": 0.1,
            "healthy_s": 60.0,
            "run_id": run_id,
        }
    )


def test_a_later_run_over_the_same_minutes_replaces_them_and_a_replay_changes_nothing(
    services: Settings,
) -> None:
    settings = services
    cam = f"minutes-{uuid.uuid4().hex[:6]}"
    t0 = 1_795_000_000.0 - 1_795_000_000.0 % 60
    sink = PostgresSink(settings)
    tcol = COUNTS_COLUMNS.index("minute_ts")

    def write(rows: list[tuple]) -> None:
        sink.write({TABLE: (COUNTS_COLUMNS, rows, tcol)})

    def totals() -> list[tuple[str, int]]:
        from itscam.clients.postgres import connect

        with connect(settings) as conn:
            got = conn.execute(
                f"SELECT run_id, total FROM {TABLE} WHERE camera_id = %s ORDER BY minute_ts",
                (cam,),
            ).fetchall()
        return [(r, t) for r, t in got]

    try:
        write([_minute(cam, t0, 5, "run-a"), _minute(cam, t0 + 60, 7, "run-a")])
        # a replay after a crash: the same rows again, one of them twice in one batch
        write([_minute(cam, t0, 5, "run-a"), _minute(cam, t0, 5, "run-a")])
        assert totals() == [("run-a", 5), ("run-a", 7)]
        # a later run (a backfill) over the first minute: its row replaces the old one
        write([_minute(cam, t0, 9, "run-b")])
        assert totals() == [("run-b", 9), ("run-a", 7)]
        sql = f"SELECT count(*) FROM {TABLE} WHERE camera_id = %s"
        assert count(settings, sql, cam) == 2
    finally:
        sink.close()
