"""Schedules ask for the partition holding the period just completed; the inbox sensor fires once per file."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from dagster import DagsterInstance, build_schedule_context, build_sensor_context
from its_platform.resources import ModelRepositoryResource
from its_platform.schedules import (
    cost_report_schedule,
    traffic_rollup_daily_schedule,
    traffic_rollup_hourly_schedule,
    traffic_stats_15min_schedule,
)
from its_platform.sensors import model_inbox_sensor


class _Tick:
    def __init__(self, request) -> None:
        self.run_requests = [request]


def _request(schedule, when: datetime) -> _Tick:
    return _Tick(schedule(build_schedule_context(scheduled_execution_time=when)))


def test_quarter_hour_schedule_at_midnight_finishes_the_previous_day() -> None:
    req = _request(
        traffic_stats_15min_schedule, datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    ).run_requests[0]
    assert req.partition_key == "2026-03-01"
    req = _request(
        traffic_stats_15min_schedule, datetime(2026, 3, 2, 0, 15, tzinfo=UTC)
    ).run_requests[0]
    assert req.partition_key == "2026-03-02"


def test_hourly_and_daily_rollup_partitions() -> None:
    assert (
        _request(traffic_rollup_hourly_schedule, datetime(2026, 3, 2, 0, 5, tzinfo=UTC))
        .run_requests[0]
        .partition_key
        == "2026-03-01"
    )
    assert (
        _request(traffic_rollup_hourly_schedule, datetime(2026, 3, 2, 1, 5, tzinfo=UTC))
        .run_requests[0]
        .partition_key
        == "2026-03-02"
    )
    assert (
        _request(traffic_rollup_daily_schedule, datetime(2026, 3, 1, 0, 30, tzinfo=UTC))
        .run_requests[0]
        .partition_key
        == "2026-02-28"
    )


def test_cost_schedule_reports_month_to_date() -> None:
    assert (
        _request(cost_report_schedule, datetime(2026, 3, 1, 6, 0, tzinfo=UTC))
        .run_requests[0]
        .partition_key
        == "2026-03-01"
    )
    assert (
        _request(cost_report_schedule, datetime(2026, 3, 17, 6, 0, tzinfo=UTC))
        .run_requests[0]
        .partition_key
        == "2026-03-01"
    )


def test_model_inbox_sensor_fires_once_per_new_or_rewritten_file(tmp_path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    models = ModelRepositoryResource(inbox=str(inbox), repository=str(tmp_path / "repo"))
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance, resources={"models": models})
        first = model_inbox_sensor.evaluate_tick(ctx)
        assert not first.run_requests
        (inbox / "best.onnx").write_bytes(b"x")
        (inbox / "notes.txt").write_text("ignored")
        ctx = build_sensor_context(
            instance=instance, resources={"models": models}, cursor=first.cursor
        )
        second = model_inbox_sensor.evaluate_tick(ctx)
        assert len(second.run_requests) == 1
        cfg = second.run_requests[0].run_config["ops"]["model_candidate"]["config"]
        assert cfg["path"] == str(inbox / "best.onnx")
        ctx = build_sensor_context(
            instance=instance, resources={"models": models}, cursor=second.cursor
        )
        assert not model_inbox_sensor.evaluate_tick(ctx).run_requests
        (inbox / "best.onnx").write_bytes(b"xy")
        os.utime(inbox / "best.onnx", ns=(1, 2_000_000_000_000_000_000))
        ctx = build_sensor_context(
            instance=instance, resources={"models": models}, cursor=second.cursor
        )
        assert len(model_inbox_sensor.evaluate_tick(ctx).run_requests) == 1
        assert "best.onnx" in json.loads(second.cursor)
