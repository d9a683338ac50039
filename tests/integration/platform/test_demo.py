"""The demo's call: statistics, checks and cost report for a window, recorded in the PostgreSQL-backed instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from its_platform.demo import materialize_for_demo

from .factories import CROSS_COLS, LANE_COLS, clean_minutes, clear_day, crossings_for, write

pytestmark = pytest.mark.integration

DAY = datetime(2025, 2, 25, tzinfo=UTC)


def test_materialize_for_demo_counts_checks(platform_services, pg) -> None:
    start = DAY + timedelta(hours=9)
    with pg.connection() as conn:
        clear_day(conn, DAY, DAY + timedelta(days=1))
        minutes = clean_minutes(["itest6-demo"], ["L1", "L2"], start, 30)
        write(conn, "analytics.lane_counts_1m", LANE_COLS, minutes)
        write(conn, "analytics.crossings", CROSS_COLS, crossings_for(minutes))
    summary = materialize_for_demo(platform_services, start, start + timedelta(minutes=30))
    assert summary["partitions"] == "2025-02-25..2025-02-25"
    assert summary["assets_materialized"] == 6 + 3  # ingest + statistics, then the cost assets
    checks = ("asset_checks_passed", "asset_checks_failed", "asset_checks_warned")
    assert sum(summary[k] for k in checks) >= 20
    # The data stop at 09:30, so the day's freshness check (WARN severity) fails;
    # nothing else does.
    assert summary["warned_checks"] == ["lane_counts_1m:lane_counts_fresh_per_camera"]
    assert summary["failed_checks"] == [] and summary["asset_checks_failed"] == 0
    assert summary["runs_succeeded"]
    # Recorded in the instance of dagster.yaml (PostgreSQL), not an ephemeral one.
    rows = pg.fetch_all("SELECT count(*) FROM runs WHERE run_id = ANY(%s)", (summary["run_ids"],))
    assert rows[0][0] == 2
