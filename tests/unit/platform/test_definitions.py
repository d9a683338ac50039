"""The code location loads, and its pieces are wired as documented."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

GROUPS = {"ingest", "traffic", "retention", "cost", "models"}


def test_dagster_integrations_import_with_the_pinned_release() -> None:
    import dagster
    import dagster_k8s
    import dagster_postgres

    assert dagster.__version__ == "1.13.27"
    assert dagster_k8s.__version__ == dagster_postgres.__version__ == "0.29.27"
    from dagster_k8s import K8sRunLauncher, k8s_job_executor  # noqa: F401
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage  # noqa: F401


@pytest.fixture(scope="module")
def defs():
    from its_platform.definitions import defs

    return defs


def test_definitions_load_every_asset_group(defs) -> None:
    specs = list(defs.resolve_all_asset_specs())
    assert {s.group_name for s in specs} == GROUPS
    keys = {s.key.to_user_string() for s in specs}
    assert {
        "traffic_stats_15min",
        "traffic_stats_hourly",
        "traffic_stats_daily",
        "cost_report",
        "postgres_partitions",
        "influx_retention_policies",
        "triton_model_version",
    } <= keys


def test_time_partitions_only(defs) -> None:
    from dagster import TimeWindowPartitionsDefinition

    for spec in defs.resolve_all_asset_specs():
        if spec.partitions_def is not None:
            assert isinstance(spec.partitions_def, TimeWindowPartitionsDefinition), spec.key


def test_every_quality_check_is_declared_on_its_asset(defs) -> None:
    from itscam.quality.suites import CHECKS

    declared = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    for check in CHECKS:
        assert (check.asset, check.name) in declared
    blocking = {c.name for c in CHECKS if c.blocking}
    assert {"lane_counts_total_equals_classes", "hourly_conserves_15min_counts"} <= blocking


def test_jobs_schedules_and_sensors(defs) -> None:
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {
        "traffic_stats_15min_job",
        "traffic_rollup_hourly_job",
        "traffic_rollup_daily_job",
        "retention_job",
        "cost_report_job",
        "model_update_job",
        "model_rollback_job",
    } <= jobs
    schedules = {s.name: s.cron_schedule for s in defs.schedules}
    assert schedules["traffic_stats_15min_schedule"] == "*/15 * * * *"
    assert schedules["traffic_rollup_hourly_schedule"] == "5 * * * *"
    assert schedules["traffic_rollup_daily_schedule"] == "30 0 * * *"
    assert {"retention_schedule", "cost_report_schedule"} <= set(schedules)
    assert {s.name for s in defs.sensors} == {"model_inbox_sensor", "platform_run_failure_sensor"}


def test_statistics_assets_backfill_as_single_runs(defs) -> None:
    graph = defs.resolve_asset_graph()
    for name in (
        "traffic_stats_15min",
        "traffic_stats_hourly",
        "traffic_stats_daily",
        "lane_counts_1m",
    ):
        from dagster import AssetKey

        policy = graph.get(AssetKey(name)).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, name


def test_resources_bind_env_vars_when_set(monkeypatch) -> None:
    from dagster import EnvVar
    from its_platform.definitions import build_resources

    monkeypatch.setenv("ITSCAM_POSTGRES_DSN", "host=db.example user=u dbname=d")
    monkeypatch.delenv("ITSCAM_INFLUX_URL", raising=False)
    res = build_resources()
    assert res["postgres"].dsn == EnvVar("ITSCAM_POSTGRES_DSN")
    assert res["influx"].url == ""


def test_dagster_yaml_uses_postgres_storage_and_validates_offline(tmp_path, monkeypatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    doc = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert "postgres" in doc["storage"]
    for key, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "15432",
        "DAGSTER_PG_USER": "itscam",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": "itscam",
    }.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(REPO))
    assert config["storage"]["postgres"]["postgres_db"]["db_name"] == {"env": "DAGSTER_PG_DB"}


def test_dev_launcher_links_the_repository_dagster_yaml(tmp_path) -> None:
    from its_platform.dev import dagster_env

    from itscam.settings import load_settings

    settings = load_settings(state_dir=tmp_path, postgres_port=25999)
    env = dagster_env(settings, base={})
    home = Path(env["DAGSTER_HOME"])
    assert home == tmp_path / "dagster_home"
    assert (home / "dagster.yaml").resolve() == (REPO / "dagster.yaml").resolve()
    assert env["DAGSTER_PG_PORT"] == "25999" and env["DAGSTER_PG_DB"] == "itscam"
    assert env["DAGSTER_PG_PASSWORD"] == ""
    assert dagster_env(settings, base={"DAGSTER_PG_HOST": "db"})["DAGSTER_PG_HOST"] == "db"


def test_workspace_points_at_the_definitions_module() -> None:
    doc = yaml.safe_load((REPO / "workspace.yaml").read_text())
    entry = doc["load_from"][0]["python_module"]
    assert entry["module_name"] == "its_platform.definitions"
    assert (REPO / entry["working_directory"] / "its_platform" / "definitions.py").exists()
    assert os.path.basename(entry["working_directory"]) == "platform"
