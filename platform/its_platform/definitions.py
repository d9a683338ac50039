"""The code location: assets, checks, jobs, schedules, sensors and resources, assembled."""

import os

from dagster import Definitions, EnvVar

from its_platform.assets.cost import COST_ASSETS
from its_platform.assets.models import MODEL_ASSETS, model_rollback_job
from its_platform.assets.retention import RETENTION_ASSETS
from its_platform.assets.traffic import INGEST_ASSETS, STATS_ASSETS
from its_platform.jobs import (
    cost_report_job,
    model_update_job,
    retention_job,
    traffic_rollup_daily_job,
    traffic_rollup_hourly_job,
    traffic_stats_15min_job,
)
from its_platform.resources import (
    BillingSourceResource,
    InfluxResource,
    ModelRepositoryResource,
    PostgresResource,
    RedisResource,
    TritonResource,
)
from its_platform.schedules import SCHEDULES
from its_platform.sensors import SENSORS


def _env(name: str) -> EnvVar | str:
    """``EnvVar(name)`` where the environment sets it (shown as such in the UI), else the local default."""
    return EnvVar(name) if os.environ.get(name) else ""


def build_resources() -> dict[str, object]:
    return {
        "postgres": PostgresResource(dsn=_env("ITSCAM_POSTGRES_DSN")),
        "influx": InfluxResource(url=_env("ITSCAM_INFLUX_URL"), token=_env("ITSCAM_INFLUX_TOKEN")),
        "redis": RedisResource(url=_env("ITSCAM_REDIS_URL")),
        "triton": TritonResource(url=_env("ITSCAM_TRITON_URL")),
        "models": ModelRepositoryResource(repository=_env("ITSCAM_MODEL_REPOSITORY")),
        "billing": BillingSourceResource(export_dir=_env("ITSCAM_BILLING_DIR")),
    }


ALL_ASSETS = [*INGEST_ASSETS, *STATS_ASSETS, *RETENTION_ASSETS, *COST_ASSETS, *MODEL_ASSETS]

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[
        traffic_stats_15min_job,
        traffic_rollup_hourly_job,
        traffic_rollup_daily_job,
        retention_job,
        cost_report_job,
        model_update_job,
        model_rollback_job,
    ],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(),
)
