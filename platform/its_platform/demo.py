"""What ``itscam demo`` asks of the platform: statistics, checks and the cost report for a run.

:func:`materialize_for_demo` runs in process against the configured services.
Runs are recorded in the Dagster instance of ``dagster.yaml`` (PostgreSQL, so
they show in the UI started by ``make dagster``) when that instance can be
opened, else in an ephemeral one.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import AssetCheckSeverity, DagsterInstance, materialize
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from its_platform.assets.cost import COST_ASSETS
from its_platform.assets.traffic import INGEST_ASSETS, STATS_ASSETS
from its_platform.resources import BillingSourceResource, PostgresResource
from itscam.settings import Settings


def _days(start: datetime, end: datetime) -> tuple[str, str]:
    last = end - timedelta(microseconds=1)
    return start.astimezone(UTC).strftime("%Y-%m-%d"), max(start, last).astimezone(UTC).strftime(
        "%Y-%m-%d"
    )


def _instance(
    settings: Settings, persist: bool
) -> contextlib.AbstractContextManager[DagsterInstance]:
    if persist:
        from its_platform.dev import dagster_env

        try:
            for key, value in dagster_env(settings).items():
                if key.startswith("DAGSTER_") or key == "GX_ANALYTICS_ENABLED":
                    os.environ.setdefault(key, value)
            return DagsterInstance.get()
        except Exception:  # an unreachable or unmigrated instance must not stop the demo
            pass
    return DagsterInstance.ephemeral()


#: The demo prints its own summary; keep Dagster's console logger to warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialize_for_demo(
    settings: Settings, start: datetime, end: datetime, *, persist: bool = True
) -> dict[str, Any]:
    """Materialize statistics (with their checks) and the cost report for the partitions covering ``[start, end)``.

    Returns ``assets_materialized``, ``asset_checks_passed``,
    ``asset_checks_failed`` (failed at ERROR severity: the figures are wrong)
    and ``asset_checks_warned`` (failed at WARN severity: completeness, e.g. a
    15-minute interval the run covered only partly), with the checks' names and
    the run ids for looking them up in the UI.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("materialize_for_demo needs timezone-aware start and end")
    first, last = _days(start, end)
    resources = {
        "postgres": PostgresResource(dsn=settings.pg_dsn),
        "billing": BillingSourceResource(export_dir=str(settings.state_dir / "billing")),
    }
    results = []
    with _instance(settings, persist) as instance:
        results.append(
            materialize(
                INGEST_ASSETS + STATS_ASSETS,
                instance=instance,
                resources=resources,
                tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
                raise_on_error=False,
                run_config=QUIET,
            )
        )
        results.append(
            materialize(
                COST_ASSETS,
                instance=instance,
                resources=resources,
                partition_key=start.astimezone(UTC).strftime("%Y-%m-01"),
                raise_on_error=False,
                run_config=QUIET,
            )
        )
    evaluations = [e for r in results for e in r.get_asset_check_evaluations()]

    def names(severity: AssetCheckSeverity) -> list[str]:
        return sorted(
            f"{e.asset_key.to_user_string()}:{e.check_name}"
            for e in evaluations
            if not e.passed and e.severity == severity
        )

    failed, warned = names(AssetCheckSeverity.ERROR), names(AssetCheckSeverity.WARN)
    return {
        "assets_materialized": sum(len(r.get_asset_materialization_events()) for r in results),
        "asset_checks_passed": sum(1 for e in evaluations if e.passed),
        "asset_checks_failed": len(failed),
        "asset_checks_warned": len(warned),
        "failed_checks": failed,
        "warned_checks": warned,
        "partitions": f"{first}..{last}",
        "run_ids": [r.run_id for r in results],
        "runs_succeeded": all(r.success for r in results),
    }
