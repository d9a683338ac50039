"""Traffic assets: the tables the stream processors write, and the HCM statistics tiers.

The ``ingest`` group stands for the tables Faust writes (raw detections,
crossings, minute counts); materializing a partition records what arrived
and runs their quality checks. The ``traffic`` group computes the statistics
inside PostgreSQL: 15-minute HCM statistics from minute counts and crossings,
then hourly and daily rollups from the tier below. Every asset is partitioned
by UTC day; a single-run backfill computes a whole range in one statement.
"""

import warnings
from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    BetaWarning,
    Config,
    MaterializeResult,
    asset,
)
from its_platform.assets.quality import check_specs_for, evaluate_checks
from its_platform.assets.traffic.metadata import markdown_preview, table_summary, volume_speed_plot
from its_platform.partitions import DAILY, window
from its_platform.resources import PostgresResource
from pydantic import Field

from itscam.stats import sql
from itscam.stats.hcm import DEFAULT_E_T

# BackfillPolicy is "beta" in Dagster 1.13 but is the documented way to run a range as one run.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")
SINGLE_RUN = BackfillPolicy.single_run()


class StatsConfig(Config):
    """HCM parameters of the statistics tiers."""

    e_t: float = Field(
        DEFAULT_E_T, description="Passenger-car equivalent of a heavy vehicle (HCM 6: 2.0)"
    )
    min_coverage: float = Field(
        sql.DEFAULT_MIN_COVERAGE,
        description="Healthy-video share below which an interval is flagged",
    )


def _ingest(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    asset_name: str,
    table: str,
    time_col: str,
    volume_col: str | None,
) -> MaterializeResult:
    start, end = window(context)
    meta = table_summary(postgres, table, time_col, start, end, volume_col)
    checks = evaluate_checks(asset_name, postgres, start, end, datetime.now(UTC))
    return MaterializeResult(metadata=meta, check_results=checks)


@asset(
    partitions_def=DAILY,
    group_name="ingest",
    check_specs=check_specs_for("vehicle_detections"),
    backfill_policy=SINGLE_RUN,
    kinds={"postgres"},
)
def vehicle_detections(
    context: AssetExecutionContext, postgres: PostgresResource
) -> MaterializeResult:
    """Raw YOLO11 detections from the stream (1 h realtime tier): arrival counts and quality checks."""
    return _ingest(
        context, postgres, "vehicle_detections", "analytics.vehicle_detections", "capture_ts", None
    )


@asset(
    partitions_def=DAILY,
    group_name="ingest",
    check_specs=check_specs_for("crossings"),
    backfill_policy=SINGLE_RUN,
    kinds={"postgres"},
)
def crossings(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    """Counting-line crossings with calibrated speeds from the stream: arrival counts and quality checks."""
    return _ingest(context, postgres, "crossings", "analytics.crossings", "crossing_ts", None)


@asset(
    partitions_def=DAILY,
    group_name="ingest",
    check_specs=check_specs_for("lane_counts_1m"),
    backfill_policy=SINGLE_RUN,
    kinds={"postgres"},
)
def lane_counts_1m(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    """Per-lane one-minute counts by class from the stream: arrival counts, freshness and coverage checks."""
    return _ingest(
        context, postgres, "lane_counts_1m", "analytics.lane_counts_1m", "minute_ts", "total"
    )


def _materialize_tier(
    context: AssetExecutionContext,
    postgres: PostgresResource,
    asset_name: str,
    table: str,
    time_col: str,
    insert: sql.Query,
    preview_cols: str,
) -> MaterializeResult:
    start, end = window(context)
    with postgres.connection() as conn:
        conn.execute("SELECT ops.ensure_partitions(%s::regclass, %s, %s)", (table, start, end))
        conn.execute(*sql.delete_window(table, time_col, start, end))
        written = conn.execute(*insert).rowcount
    context.log.info("%s: %d rows for [%s, %s)", table, written, start, end)
    meta = table_summary(postgres, table, time_col, start, end, "volume")
    meta["rows_written"] = written
    meta.update(volume_speed_plot(postgres, table, time_col, start, end, asset_name))
    meta["preview"] = markdown_preview(
        postgres,
        f"SELECT {preview_cols} FROM {table} WHERE {time_col} >= %s AND {time_col} < %s "
        f"ORDER BY volume DESC, camera_id, lane_id",
        (start, end),
    )
    checks = evaluate_checks(asset_name, postgres, start, end, datetime.now(UTC))
    return MaterializeResult(metadata=meta, check_results=checks)


@asset(
    partitions_def=DAILY,
    group_name="traffic",
    deps=[lane_counts_1m, crossings],
    check_specs=check_specs_for("traffic_stats_15min"),
    backfill_policy=SINGLE_RUN,
    kinds={"postgres"},
)
def traffic_stats_15min(
    context: AssetExecutionContext, config: StatsConfig, postgres: PostgresResource
) -> MaterializeResult:
    """15-minute HCM statistics per camera, lane and direction: volumes, flow, pc/h/ln, speeds, density, LOS."""
    start, end = window(context)
    insert = sql.stats_15min(start, end, e_t=config.e_t, min_coverage=config.min_coverage)
    return _materialize_tier(
        context,
        postgres,
        "traffic_stats_15min",
        sql.STATS_15MIN,
        "interval_start",
        insert,
        "camera_id, lane_id, direction, interval_start, volume, flow_pc_h_ln, mean_speed_kmh, "
        "speed_p85_kmh, density_pc_mi_ln, los, heavy_pct, coverage_ok",
    )


@asset(
    partitions_def=DAILY,
    group_name="traffic",
    deps=[traffic_stats_15min],
    check_specs=check_specs_for("traffic_stats_hourly"),
    backfill_policy=SINGLE_RUN,
    kinds={"postgres"},
)
def traffic_stats_hourly(
    context: AssetExecutionContext, config: StatsConfig, postgres: PostgresResource
) -> MaterializeResult:
    """Hourly rollup of the 15-minute statistics: volumes, PHF, peak-15 flow and LOS (30-day tier)."""
    start, end = window(context)
    insert = sql.stats_hourly(start, end, min_coverage=config.min_coverage)
    return _materialize_tier(
        context,
        postgres,
        "traffic_stats_hourly",
        sql.STATS_HOURLY,
        "hour_start",
        insert,
        "camera_id, lane_id, direction, hour_start, volume, phf, peak_flow_pc_h_ln, mean_speed_kmh, "
        "density_pc_mi_ln, los, worst_15min_los",
    )


@asset(
    partitions_def=DAILY,
    group_name="traffic",
    deps=[traffic_stats_hourly],
    check_specs=check_specs_for("traffic_stats_daily"),
    backfill_policy=SINGLE_RUN,
    kinds={"postgres"},
)
def traffic_stats_daily(
    context: AssetExecutionContext, config: StatsConfig, postgres: PostgresResource
) -> MaterializeResult:
    """Daily rollup of the hourly statistics: totals, peak hour and its PHF, hours at LOS E/F (1-year tier)."""
    start, end = window(context)
    insert = sql.stats_daily(start, end, min_coverage=config.min_coverage)
    return _materialize_tier(
        context,
        postgres,
        "traffic_stats_daily",
        sql.STATS_DAILY,
        "day",
        insert,
        "camera_id, lane_id, direction, day, volume, peak_hour_start, peak_hour_volume, peak_hour_phf, "
        "mean_speed_kmh, worst_los, hours_los_e_f",
    )


INGEST_ASSETS = [vehicle_detections, crossings, lane_counts_1m]
STATS_ASSETS = [traffic_stats_15min, traffic_stats_hourly, traffic_stats_daily]
