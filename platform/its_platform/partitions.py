"""Time partitions (camera is a column, never a partition dimension)."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import AssetExecutionContext, DailyPartitionsDefinition, MonthlyPartitionsDefinition

#: One partition per UTC day; ``end_offset=1`` exposes today's, still-filling partition.
DAILY = DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
#: One partition per calendar month (cost reports); the current month is included.
MONTHLY = MonthlyPartitionsDefinition(start_date="2025-01-01", end_offset=1)


def window(context: AssetExecutionContext) -> tuple[datetime, datetime]:
    """The run's half-open time window in UTC; a single-run backfill spans all its partitions."""
    tw = context.partition_time_window
    return tw.start.astimezone(UTC), tw.end.astimezone(UTC)
