"""Sensors: new model weights in the inbox, and failed runs recorded as platform events."""

import json

from dagster import (
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from its_platform.assets.models import WEIGHT_SUFFIXES
from its_platform.jobs import model_update_job
from its_platform.resources import ModelRepositoryResource, PostgresResource


@sensor(job=model_update_job, minimum_interval_seconds=30)
def model_inbox_sensor(context: SensorEvaluationContext, models: ModelRepositoryResource):
    """A run per new (or rewritten) .onnx/.pt file in the model inbox."""
    inbox = models.inbox_path()
    if not inbox.is_dir():
        return SkipReason(f"{inbox} does not exist yet")
    seen = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for path in sorted(inbox.iterdir()):
        if path.suffix not in WEIGHT_SUFFIXES or not path.is_file():
            continue
        stamp = f"{path.stat().st_mtime_ns}:{path.stat().st_size}"
        if seen.get(path.name) == stamp:
            continue
        seen[path.name] = stamp
        requests.append(
            RunRequest(
                run_key=f"{path.name}:{stamp}",
                run_config={"ops": {"model_candidate": {"config": {"path": str(path)}}}},
                tags={"itscam/model_file": path.name},
            )
        )
    context.update_cursor(json.dumps(seen))
    return requests or SkipReason(f"no new weights in {inbox}")


@run_failure_sensor(description="Record every failed run in ops.platform_events.")
def platform_run_failure_sensor(
    context: RunFailureSensorContext, postgres: PostgresResource
) -> None:
    run = context.dagster_run
    detail = {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "error": context.failure_event.message if context.failure_event else None,
    }
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO ops.platform_events (source, kind, detail) VALUES ('dagster', 'run_failure', %s)",
            (json.dumps(detail),),
        )


SENSORS = [model_inbox_sensor, platform_run_failure_sensor]
