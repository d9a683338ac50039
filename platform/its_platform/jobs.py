"""Jobs: asset selections that schedules, sensors and the UI launch."""

from dagster import AssetSelection, define_asset_job

from its_platform.partitions import DAILY, MONTHLY

traffic_stats_15min_job = define_asset_job(
    "traffic_stats_15min_job",
    selection=AssetSelection.assets("lane_counts_1m", "crossings", "traffic_stats_15min"),
    partitions_def=DAILY,
    description="Minute counts and crossings checked, then today's 15-minute HCM statistics.",
)
traffic_rollup_hourly_job = define_asset_job(
    "traffic_rollup_hourly_job",
    selection=AssetSelection.assets("vehicle_detections", "traffic_stats_hourly"),
    partitions_def=DAILY,
    description="Raw detections checked before they expire, and the hourly rollup.",
)
traffic_rollup_daily_job = define_asset_job(
    "traffic_rollup_daily_job",
    selection=AssetSelection.groups("ingest", "traffic"),
    partitions_def=DAILY,
    description="Yesterday final: every tier recomputed and checked, then the daily rollup.",
)
retention_job = define_asset_job(
    "retention_job",
    selection=AssetSelection.groups("retention"),
    description="Create upcoming time partitions, drop expired ones, keep InfluxDB tiers in place.",
)
cost_report_job = define_asset_job(
    "cost_report_job",
    selection=AssetSelection.groups("cost"),
    partitions_def=MONTHLY,
    description="Ingest the month's billing export and cluster usage; report against the budget.",
)
model_update_job = define_asset_job(
    "model_update_job",
    selection=AssetSelection.groups("models"),
    description="New weights from the inbox -> export -> gates -> publish -> load in Triton -> verify.",
)
