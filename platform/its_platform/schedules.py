"""Schedules (UTC). Each asks for the partition that holds the period just completed."""

from datetime import timedelta

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from its_platform.jobs import (
    cost_report_job,
    retention_job,
    traffic_rollup_daily_job,
    traffic_rollup_hourly_job,
    traffic_stats_15min_job,
)


def _day_key(context: ScheduleEvaluationContext, back: timedelta) -> str:
    return (context.scheduled_execution_time - back).strftime("%Y-%m-%d")


@schedule(job=traffic_stats_15min_job, cron_schedule="*/15 * * * *", execution_timezone="UTC")
def traffic_stats_15min_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Every quarter hour: the day holding the quarter that just ended."""
    key = _day_key(context, timedelta(minutes=15))
    return RunRequest(run_key=f"{context.scheduled_execution_time:%Y%m%dT%H%M}", partition_key=key)


@schedule(job=traffic_rollup_hourly_job, cron_schedule="5 * * * *", execution_timezone="UTC")
def traffic_rollup_hourly_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Five past every hour: hourly rollup of the day holding the hour that just ended."""
    key = _day_key(context, timedelta(hours=1))
    return RunRequest(run_key=f"{context.scheduled_execution_time:%Y%m%dT%H}", partition_key=key)


@schedule(job=traffic_rollup_daily_job, cron_schedule="30 0 * * *", execution_timezone="UTC")
def traffic_rollup_daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """00:30 daily: yesterday, every tier final, with its daily rollup."""
    key = _day_key(context, timedelta(days=1))
    return RunRequest(run_key=key, partition_key=key)


@schedule(job=retention_job, cron_schedule="10 * * * *", execution_timezone="UTC")
def retention_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Hourly: the raw tier keeps only one hour, so a daily pass would let it grow to a day."""
    return RunRequest(run_key=f"{context.scheduled_execution_time:%Y%m%dT%H}")


@schedule(job=cost_report_job, cron_schedule="0 6 * * *", execution_timezone="UTC")
def cost_report_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """06:00 daily: the month to date (the billing export refreshes a few times a day)."""
    key = (context.scheduled_execution_time - timedelta(hours=6)).strftime("%Y-%m-01")
    return RunRequest(run_key=f"{context.scheduled_execution_time:%Y%m%d}", partition_key=key)


SCHEDULES = [
    traffic_stats_15min_schedule,
    traffic_rollup_hourly_schedule,
    traffic_rollup_daily_schedule,
    retention_schedule,
    cost_report_schedule,
]
