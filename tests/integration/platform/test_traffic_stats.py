"""Traffic statistics against the real local PostgreSQL: worked example, checks, blocking, backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dagster import materialize
from its_platform.assets.quality import evaluate_checks
from its_platform.assets.traffic import (
    INGEST_ASSETS,
    STATS_ASSETS,
    crossings,
    lane_counts_1m,
    traffic_stats_15min,
)

from itscam.quality.suites import CHECKS
from itscam.stats import hcm, sql

from .factories import (
    CROSS_COLS,
    DET_COLS,
    FRAME_COLS,
    LANE_COLS,
    clean_minutes,
    clear_day,
    crossings_for,
    detections_for,
    minute_row,
    write,
)

pytestmark = pytest.mark.integration

DAY = datetime(2025, 2, 3, tzinfo=UTC)
DEFECT_DAY = datetime(2025, 2, 5, tzinfo=UTC)
BLOCK_DAY = datetime(2025, 2, 6, tzinfo=UTC)
ONE_DAY = timedelta(days=1)


def _clean_day(pg, day: datetime) -> None:
    """Two cameras x two lanes, every minute of the day; camera a lane 1 hour 08 is the worked example."""
    with pg.connection() as conn:
        clear_day(conn, day, day + ONE_DAY)
        minutes = clean_minutes(["itest6-a", "itest6-b"], ["L1", "L2"], day, 1440)
        example = {}
        for m in range(60):
            ts = day + timedelta(hours=8, minutes=m)
            quarter = m // 15
            # quarters: 30 cars | 30 cars + 15 trucks | 45 cars | 2 cars x 15
            car = (2, 2, 3, 2)[quarter]
            truck = (0, 1, 0, 0)[quarter]
            example[ts] = minute_row(
                "itest6-a", "L1", ts, car=car, truck=truck, speed=(90.0, 60.0, 90.0, 100.0)[quarter]
            )
        minutes = [
            example.get(r[3], r) if (r[0], r[1]) == ("itest6-a", "L1") else r for r in minutes
        ]
        write(conn, "analytics.lane_counts_1m", LANE_COLS, minutes)
        write(conn, "analytics.crossings", CROSS_COLS, crossings_for(minutes))
        frames, dets = detections_for("itest6-a", day + timedelta(hours=23, minutes=59), 100)
        write(conn, "camera_data.frame_metadata", FRAME_COLS, frames)
        write(conn, "analytics.vehicle_detections", DET_COLS, dets)


@pytest.fixture(scope="module")
def clean_run(pg):
    _clean_day(pg, DAY)
    result = materialize(
        INGEST_ASSETS + STATS_ASSETS,
        partition_key=DAY.strftime("%Y-%m-%d"),
        resources={"postgres": pg},
        raise_on_error=False,
    )
    return result


def test_every_check_passes_on_clean_data(clean_run) -> None:
    assert clean_run.success
    evaluations = {e.check_name: e for e in clean_run.get_asset_check_evaluations()}
    expected = {c.name for c in CHECKS}
    assert expected <= set(evaluations)
    failed = {n: e.metadata for n, e in evaluations.items() if n in expected and not e.passed}
    assert not failed
    mats = {
        m.asset_key.to_user_string(): m.materialization.metadata
        for m in clean_run.get_asset_materialization_events()
    }
    assert mats["lane_counts_1m"]["cameras_covered"].value >= 2
    assert mats["traffic_stats_15min"]["row_count"].value >= 2 * 2 * 96
    assert mats["traffic_stats_15min"]["plot"].value.startswith(
        "![traffic_stats_15min](data:image/png;base64,"
    )
    assert "| camera_id |" in mats["traffic_stats_15min"]["preview"].value


def test_fifteen_minute_statistics_match_the_hcm_worked_example(clean_run, pg) -> None:
    rows = pg.fetch_all(
        "SELECT interval_start, volume, truck, flow_veh_h_ln, f_hv, flow_pc_h_ln, mean_speed_kmh, density_pc_mi_ln, "
        "los, heavy_pct, speed_p85_kmh, coverage_ok FROM analytics.traffic_stats "
        "WHERE camera_id = 'itest6-a' AND lane_id = 'L1' AND interval_start >= %s AND interval_start < %s "
        "ORDER BY interval_start",
        (DAY + timedelta(hours=8), DAY + timedelta(hours=9)),
    )
    assert [r[1] for r in rows] == [30, 45, 45, 30]
    second = rows[1]
    assert second[2] == 15
    assert second[3] == 180.0  # 45 vehicles in 15 min
    f_hv = hcm.heavy_vehicle_factor(15 / 45)  # 1 / (1 + 1/3) = 0.75
    assert second[4] == pytest.approx(0.75)
    assert second[5] == pytest.approx(hcm.pc_flow_rate(180.0, f_hv))  # 240 pc/h/ln
    assert second[6] == pytest.approx(60.0)
    density = hcm.density_pc_mi_ln(240.0, 60.0)  # 240 / 37.28 mi/h = 6.44 pc/mi/ln
    assert second[7] == pytest.approx(density)
    assert second[8] == hcm.level_of_service(density) == "A"
    assert second[9] == pytest.approx(100 / 3)
    speeds = [
        r[0]
        for r in pg.fetch_all(
            "SELECT speed_kmh FROM analytics.crossings WHERE camera_id = 'itest6-a' AND lane_id = 'L1' "
            "AND crossing_ts >= %s AND crossing_ts < %s",
            (DAY + timedelta(hours=8, minutes=15), DAY + timedelta(hours=8, minutes=30)),
        )
    ]
    assert second[10] == pytest.approx(hcm.percentile(speeds, 0.85))
    assert all(r[11] for r in rows)


def test_hourly_rollup_phf_and_daily_rollup(clean_run, pg) -> None:
    ((volume, peak, phf, los, intervals),) = pg.fetch_all(
        "SELECT volume, peak_15min_volume, phf, los, intervals FROM analytics.traffic_stats_hourly "
        "WHERE camera_id = 'itest6-a' AND lane_id = 'L1' AND hour_start = %s",
        (DAY + timedelta(hours=8),),
    )
    assert (volume, peak, intervals) == (150, 45, 4)
    assert phf == pytest.approx(hcm.peak_hour_factor([30, 45, 45, 30])) == pytest.approx(150 / 180)
    assert los in "ABCDEF"
    ((day_volume, hours, peak_hour),) = pg.fetch_all(
        "SELECT volume, hours, peak_hour_start FROM analytics.traffic_stats_daily "
        "WHERE camera_id = 'itest6-a' AND lane_id = 'L1' AND day = %s",
        (DAY,),
    )
    ((minutes_total,),) = pg.fetch_all(
        "SELECT sum(total) FROM analytics.lane_counts_1m WHERE camera_id = 'itest6-a' AND lane_id = 'L1' "
        "AND minute_ts >= %s AND minute_ts < %s",
        (DAY, DAY + ONE_DAY),
    )
    assert day_volume == minutes_total
    assert hours == 24
    assert peak_hour == DAY + timedelta(hours=8)


def _baseline(pg, start: datetime) -> None:
    with pg.connection() as conn:
        clear_day(conn, start.replace(hour=0), start.replace(hour=0) + ONE_DAY)
        minutes = clean_minutes(["itest6-q"], ["L1"], start, 60)
        write(conn, "analytics.lane_counts_1m", LANE_COLS, minutes)
        write(conn, "analytics.crossings", CROSS_COLS, crossings_for(minutes))
        frames, dets = detections_for("itest6-q", start, 50)
        write(conn, "camera_data.frame_metadata", FRAME_COLS, frames)
        write(conn, "analytics.vehicle_detections", DET_COLS, dets)


def _tiers(pg, start: datetime, end: datetime) -> None:
    with pg.connection() as conn:
        for table, col, builder in (
            (sql.STATS_15MIN, "interval_start", sql.stats_15min),
            (sql.STATS_HOURLY, "hour_start", sql.stats_hourly),
            (sql.STATS_DAILY, "day", sql.stats_daily),
        ):
            conn.execute(*sql.delete_window(table, col, start, end))
            conn.execute(*builder(start, end))


H = DEFECT_DAY + timedelta(hours=10)
A = "itest6-q"
DEFECTS = {
    # check name: (SQL applied after the tiers are computed, window is the hour (True) or the day (False))
    "lane_counts_total_equals_classes": (
        f"UPDATE analytics.lane_counts_1m SET total = total + 1 WHERE camera_id = '{A}' AND minute_ts = '{H + timedelta(minutes=7)}'",
        True,
    ),
    "lane_counts_nonnegative": (
        f"UPDATE analytics.lane_counts_1m SET car = -1, total = total - 3 WHERE camera_id = '{A}' AND minute_ts = '{H + timedelta(minutes=8)}'",
        True,
    ),
    "lane_counts_speed_in_range": (
        f"UPDATE analytics.lane_counts_1m SET mean_speed_kmh = 400 WHERE camera_id = '{A}' AND minute_ts = '{H + timedelta(minutes=9)}'",
        True,
    ),
    "lane_counts_fresh_per_camera": (
        f"DELETE FROM analytics.lane_counts_1m WHERE camera_id = '{A}' AND minute_ts >= '{H + timedelta(minutes=40)}'",
        True,
    ),
    "lane_counts_coverage_gaps": (
        f"DELETE FROM analytics.lane_counts_1m WHERE camera_id = '{A}' AND minute_ts >= '{H + timedelta(minutes=20)}' AND minute_ts < '{H + timedelta(minutes=30)}'",
        True,
    ),
    "crossings_speed_in_range": (
        f"UPDATE analytics.crossings SET speed_kmh = -5 WHERE camera_id = '{A}' AND track_id = 3",
        True,
    ),
    "crossings_speed_present": (
        f"UPDATE analytics.crossings SET speed_kmh = NULL WHERE camera_id = '{A}' AND track_id % 2 = 0",
        True,
    ),
    "crossings_class_in_set": (
        f"UPDATE analytics.crossings SET class_name = 'bicycle' WHERE camera_id = '{A}' AND track_id = 4",
        True,
    ),
    "detections_class_in_set": (
        f"UPDATE analytics.vehicle_detections SET class_name = 'bicycle' WHERE camera_id = '{A}' AND frame_seq = 3 AND det_idx = 0",
        True,
    ),
    "detections_confidence_in_range": (
        f"UPDATE analytics.vehicle_detections SET confidence = 1.5 WHERE camera_id = '{A}' AND frame_seq = 4 AND det_idx = 0",
        True,
    ),
    "detections_boxes_inside_frame": (
        f"UPDATE analytics.vehicle_detections SET x2 = 700 WHERE camera_id = '{A}' AND frame_seq = 5 AND det_idx = 1",
        True,
    ),
    "detections_timestamps_monotonic": (
        f"UPDATE analytics.vehicle_detections SET capture_ts = capture_ts - interval '3 seconds' WHERE camera_id = '{A}' AND frame_seq = 40",
        True,
    ),
    "traffic_stats_conserve_minute_counts": (
        f"UPDATE analytics.lane_counts_1m SET car = car + 3, total = total + 3 WHERE camera_id = '{A}' AND minute_ts = '{H + timedelta(minutes=2)}'",
        False,
    ),
    "traffic_stats_f_hv_in_range": (
        f"UPDATE analytics.traffic_stats SET f_hv = 1.5 WHERE camera_id = '{A}' AND interval_start = '{H}'",
        False,
    ),
    "traffic_stats_los_known": (
        f"UPDATE analytics.traffic_stats SET los = NULL, density_pc_mi_ln = NULL WHERE camera_id = '{A}'",
        False,
    ),
    "traffic_stats_coverage": (
        f"UPDATE analytics.traffic_stats SET coverage_ok = false WHERE camera_id = '{A}' AND interval_start <= '{H + timedelta(minutes=15)}'",
        False,
    ),
    "hourly_conserves_15min_counts": (
        f"UPDATE analytics.traffic_stats SET volume = volume + 5 WHERE camera_id = '{A}' AND interval_start = '{H + timedelta(minutes=30)}'",
        False,
    ),
    "hourly_phf_in_range": (
        f"UPDATE analytics.traffic_stats_hourly SET phf = 1.2 WHERE camera_id = '{A}'",
        False,
    ),
    "daily_conserves_hourly_counts": (
        f"UPDATE analytics.traffic_stats_hourly SET volume = volume - 1 WHERE camera_id = '{A}'",
        False,
    ),
}


def test_every_quality_check_has_a_defect_test() -> None:
    assert set(DEFECTS) == {c.name for c in CHECKS}


@pytest.mark.parametrize("check_name", sorted(DEFECTS))
def test_check_passes_on_clean_data_and_fails_with_the_defect(pg, check_name: str) -> None:
    check = next(c for c in CHECKS if c.name == check_name)
    statement, hour_window = DEFECTS[check_name]
    _baseline(pg, H)
    _tiers(pg, DEFECT_DAY, DEFECT_DAY + ONE_DAY)
    start, end = (H, H + timedelta(hours=1)) if hour_window else (DEFECT_DAY, DEFECT_DAY + ONE_DAY)
    before = {r.check_name: r for r in evaluate_checks(check.asset, pg, start, end, end)}
    assert before[check_name].passed, before[check_name].metadata
    with pg.connection() as conn:
        assert conn.execute(statement).rowcount > 0
    after = {r.check_name: r for r in evaluate_checks(check.asset, pg, start, end, end)}
    result = after[check_name]
    assert not result.passed
    assert result.metadata["failing_count"].value >= 1
    examples = result.metadata["examples"].value
    if check.frame not in ("lane_gaps",) and check.expectation.kwargs.get("mostly") is None:
        assert examples and examples[0].get("camera_id") == A


def test_blocking_check_failure_stops_the_statistics(pg) -> None:
    _baseline(pg, BLOCK_DAY + timedelta(hours=10))
    with pg.connection() as conn:
        conn.execute(
            "UPDATE analytics.lane_counts_1m SET total = total + 1 WHERE camera_id = %s AND minute_ts = %s",
            (A, BLOCK_DAY + timedelta(hours=10, minutes=5)),
        )
    result = materialize(
        [lane_counts_1m, crossings, traffic_stats_15min],
        partition_key=BLOCK_DAY.strftime("%Y-%m-%d"),
        resources={"postgres": pg},
        raise_on_error=False,
    )
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert "lane_counts_total_equals_classes" in failed
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "traffic_stats_15min" not in materialized
    assert not pg.fetch_all(
        "SELECT 1 FROM analytics.traffic_stats WHERE camera_id = %s AND interval_start >= %s "
        "AND interval_start < %s",
        (A, BLOCK_DAY, BLOCK_DAY + ONE_DAY),
    )


def test_a_week_backfills_as_one_run(pg) -> None:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    first = datetime(2025, 2, 10, tzinfo=UTC)
    with pg.connection() as conn:
        clear_day(conn, first, first + 7 * ONE_DAY)
        rows = []
        for d in range(7):
            rows += clean_minutes(
                ["itest6-w"], ["L1"], first + d * ONE_DAY + timedelta(hours=12), 30
            )
        write(conn, "analytics.lane_counts_1m", LANE_COLS, rows)
    result = materialize(
        STATS_ASSETS,
        resources={"postgres": pg},
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2025-02-10",
            ASSET_PARTITION_RANGE_END_TAG: "2025-02-16",
        },
    )
    assert result.success
    per_day = pg.fetch_all(
        "SELECT day, volume FROM analytics.traffic_stats_daily WHERE camera_id = 'itest6-w' "
        "ORDER BY day"
    )
    assert [d for d, _ in per_day] == [first + i * ONE_DAY for i in range(7)]
    assert {v for _, v in per_day} == {sum(r[8] for r in rows[:30])}
