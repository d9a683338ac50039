"""A failed run becomes a row in ops.platform_events."""

from __future__ import annotations

import pytest
from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context, materialize
from its_platform.assets.models import model_candidate
from its_platform.resources import ModelRepositoryResource
from its_platform.sensors import platform_run_failure_sensor

pytestmark = pytest.mark.integration


def test_failed_run_is_recorded_as_a_platform_event(pg, tmp_path) -> None:
    with DagsterInstance.ephemeral() as instance:
        empty_inbox = ModelRepositoryResource(
            inbox=str(tmp_path / "empty"), repository=str(tmp_path / "repo")
        )
        result = materialize(
            [model_candidate],
            instance=instance,
            resources={"models": empty_inbox},
            raise_on_error=False,
        )
        assert not result.success
        failure = next(
            r.dagster_event
            for r in instance.all_logs(result.run_id)
            if r.dagster_event and r.dagster_event.event_type == DagsterEventType.RUN_FAILURE
        )
        context = build_run_status_sensor_context(
            sensor_name="platform_run_failure_sensor",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"postgres": pg},
        ).for_run_failure()
        platform_run_failure_sensor(context)
    rows = pg.fetch_all(
        "SELECT source, kind, detail FROM ops.platform_events WHERE detail->>'run_id' = %s",
        (result.run_id,),
    )
    assert len(rows) == 1
    source, kind, detail = rows[0]
    assert (source, kind) == ("dagster", "run_failure")
    assert detail["job"] == "__ephemeral_asset_job__"
