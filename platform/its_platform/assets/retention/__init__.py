"""Retention: time partitions created ahead of writers and dropped when wholly expired.

A partition is dropped only when its *upper* bound is at or before
``now - retention``, so every row it holds is older than the window; a row
inside the window always lives in a partition whose upper bound is later, and
is never dropped. TimescaleDB hypertables are skipped here (their own
retention policies, added by the migrations, do the same job).
"""

from datetime import UTC, datetime, timedelta

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from its_platform.resources import InfluxResource, PostgresResource
from pydantic import Field

from itscam.stats.tiers import (
    INFLUX_TIERS,
    continuous_query_name,
    continuous_query_statement,
    influx_duration_matches,
    retention_policy_statement,
)


class RetentionConfig(Config):
    """Where and when to enforce retention (tests pin ``now`` and the tables)."""

    now: str = Field("", description="ISO timestamp to act as 'now' (empty = the wall clock)")
    tables: list[str] = Field(
        default_factory=list, description="Parents to handle (empty = all registered)"
    )
    ahead_days: int = Field(2, description="Days of partitions created ahead of now")
    dry_run: bool = Field(False, description="Report what would be dropped, drop nothing")


def enforce_partitions(
    postgres: PostgresResource, now: datetime, tables: list[str], ahead: timedelta, dry_run: bool
) -> tuple[list[dict[str, str]], list[dict[str, str]], int]:
    """Create partitions up to ``now + ahead``; drop expired ones. Returns (tiers, dropped, created)."""
    tiers: list[dict[str, str]] = []
    dropped: list[dict[str, str]] = []
    created = 0
    with postgres.connection() as conn:
        rows = conn.execute(
            "SELECT parent::text, width::text, retention::text, "
            "(SELECT relkind FROM pg_class WHERE oid = parent) FROM ops.partition_config ORDER BY 1"
        ).fetchall()
        for parent, width, retention, relkind in rows:
            if tables and parent not in tables:
                continue
            if relkind != "p":
                continue
            created += conn.execute(
                "SELECT ops.ensure_partitions(%s::regclass, %s, %s)", (parent, now, now + ahead)
            ).fetchone()[0]
            tiers.append({"table": parent, "width": width, "retention": retention or "forever"})
            if retention is None:
                continue
            expired = conn.execute(
                "SELECT partition::text, range_start, range_end FROM "
                "ops.expired_partitions(%s::regclass, %s::timestamptz - %s::interval) ORDER BY range_start",
                (parent, now, retention),
            ).fetchall()
            for part, lo, hi in expired:
                if not dry_run:
                    conn.execute(f"DROP TABLE {part}")
                dropped.append({"partition": part, "from": lo.isoformat(), "to": hi.isoformat()})
    return tiers, dropped, created


@asset(group_name="retention", kinds={"postgres"})
def postgres_partitions(
    context: AssetExecutionContext, config: RetentionConfig, postgres: PostgresResource
) -> MaterializeResult:
    """Time partitions of every tier: upcoming ones created, wholly expired ones dropped."""
    now = datetime.fromisoformat(config.now) if config.now else datetime.now(UTC)
    tiers, dropped, created = enforce_partitions(
        postgres, now, list(config.tables), timedelta(days=config.ahead_days), config.dry_run
    )
    context.log.info(
        "retention at %s: created %d, dropped %d partitions", now, created, len(dropped)
    )
    table = ["| table | partition width | retention |", "|---|---|---|"]
    table += [f"| {t['table']} | {t['width']} | {t['retention']} |" for t in tiers]
    return MaterializeResult(
        metadata={
            "now": now.isoformat(),
            "partitions_created": created,
            "partitions_dropped": len(dropped),
            "dropped": MetadataValue.json(dropped[:200]),
            "tiers": MetadataValue.md("\n".join(table)),
            "dry_run": config.dry_run,
        }
    )


@asset(group_name="retention", kinds={"influxdb"})
def influx_retention_policies(
    context: AssetExecutionContext, influx: InfluxResource
) -> MaterializeResult:
    """InfluxDB tiers: retention policies (1 h realtime, 30 d hourly, 1 y daily) and downsampling queries."""
    db = influx.db()
    influx.query(f'CREATE DATABASE "{db}"')
    existing = {}
    for series in influx.query(f'SHOW RETENTION POLICIES ON "{db}"'):
        cols = series["columns"]
        for values in series.get("values", []):
            row = dict(zip(cols, values, strict=False))
            existing[row["name"]] = row
    changed = []
    for tier in INFLUX_TIERS:
        row = existing.get(tier.name)
        up_to_date = (
            row is not None
            and influx_duration_matches(row["duration"], tier.duration)
            and bool(row.get("default")) == tier.default
        )
        if not up_to_date:
            influx.query(retention_policy_statement(db, tier, exists=row is not None))
            changed.append(tier.name)
    cqs = set()
    for series in influx.query("SHOW CONTINUOUS QUERIES"):
        if series.get("name") == db:
            cqs |= {v[0] for v in series.get("values", [])}
    for tier in INFLUX_TIERS:
        if tier.source and continuous_query_name(tier) not in cqs:
            influx.query(continuous_query_statement(db, tier))
            changed.append(continuous_query_name(tier))
    context.log.info("InfluxDB %s: changed %s", db, changed or "nothing")
    table = ["| policy | duration | downsampled from | every |", "|---|---|---|---|"]
    table += [
        f"| {t.name} | {t.duration} | {t.source or '-'} | {t.group_by or '-'} |"
        for t in INFLUX_TIERS
    ]
    return MaterializeResult(
        metadata={
            "database": db,
            "changed": MetadataValue.json(changed),
            "tiers": MetadataValue.md("\n".join(table)),
        }
    )


RETENTION_ASSETS = [postgres_partitions, influx_retention_policies]
