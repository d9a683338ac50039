"""Retention at its boundaries: nothing inside a window is ever dropped; expired partitions go."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from dagster import materialize
from its_platform.assets.retention import (
    enforce_partitions,
    influx_retention_policies,
    postgres_partitions,
)

pytestmark = pytest.mark.integration

RAW = "itest6_retention.raw_probe"
DAILY = "itest6_retention.daily_probe"
T0 = datetime(2025, 3, 10, tzinfo=UTC)
US = timedelta(microseconds=1)


@pytest.fixture()
def probes(pg):
    with pg.connection() as conn:
        conn.execute("DROP SCHEMA IF EXISTS itest6_retention CASCADE")
        conn.execute(
            "DELETE FROM ops.partition_config WHERE parent::text LIKE 'itest6_retention.%'"
        )
        conn.execute("CREATE SCHEMA itest6_retention")
        conn.execute(
            "SELECT ops.create_time_table(%s, 'ts timestamptz NOT NULL, tag text', 'ts', '1 hour', '1 hour')",
            (RAW,),
        )
        conn.execute(
            "SELECT ops.create_time_table(%s, 'ts timestamptz NOT NULL, tag text', 'ts', '1 day', '30 days')",
            (DAILY,),
        )
    yield pg
    with pg.connection() as conn:
        conn.execute(
            "DELETE FROM ops.partition_config WHERE parent::text LIKE 'itest6_retention.%'"
        )
        conn.execute("DROP SCHEMA IF EXISTS itest6_retention CASCADE")


def _insert(pg, table: str, stamps: list[datetime]) -> None:
    with pg.connection() as conn:
        conn.execute(
            "SELECT ops.ensure_partitions(%s::regclass, %s, %s)",
            (table, min(stamps), max(stamps) + US),
        )
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {table} (ts, tag) VALUES (%s, 'x')", [(s,) for s in stamps]
            )


def _present(pg, table: str) -> set[datetime]:
    return {r[0] for r in pg.fetch_all(f"SELECT ts FROM {table}")}


def test_raw_tier_boundary_at_exactly_one_hour(probes) -> None:
    now = T0 + timedelta(hours=12)
    cutoff = now - timedelta(hours=1)
    stamps = [cutoff - US, cutoff, cutoff + US, now - US]
    _insert(probes, RAW, stamps)
    # One microsecond before the partition [10:00, 11:00) is wholly expired: it stays.
    enforce_partitions(probes, now - US, [RAW], timedelta(hours=2), dry_run=False)
    assert _present(probes, RAW) == set(stamps)
    _, dropped, _ = enforce_partitions(probes, now, [RAW], timedelta(hours=2), dry_run=False)
    assert [d["partition"] for d in dropped] == ["itest6_retention.raw_probe_p2025031010"]
    assert _present(probes, RAW) == {cutoff, cutoff + US, now - US}


def test_daily_tier_keeps_thirty_days(probes) -> None:
    now = T0 + timedelta(days=40, hours=5)
    cutoff = now - timedelta(days=30)
    stamps = [
        cutoff - timedelta(days=1, hours=6),
        cutoff - timedelta(hours=1),
        cutoff,
        now - timedelta(hours=1),
    ]
    _insert(probes, DAILY, stamps)
    _, dropped, _ = enforce_partitions(probes, now, [DAILY], timedelta(days=2), dry_run=False)
    assert dropped and all(datetime.fromisoformat(d["to"]) <= cutoff for d in dropped)
    # The partition holding cutoff - 1 h also holds cutoff itself, so it stays whole.
    assert _present(probes, DAILY) == set(stamps[1:])


def test_nothing_inside_the_window_is_ever_dropped(probes) -> None:
    rng = random.Random(6)
    stamps = sorted({T0 + timedelta(seconds=rng.randrange(0, 48 * 3600)) for _ in range(400)})
    _insert(probes, RAW, stamps)
    now = T0
    while now < T0 + timedelta(hours=50):
        now += timedelta(seconds=rng.randrange(60, 3 * 3600))
        enforce_partitions(probes, now, [RAW], timedelta(hours=1), dry_run=False)
        present = _present(probes, RAW)
        inside = {s for s in stamps if s >= now - timedelta(hours=1)}
        assert inside <= present, f"dropped rows inside the window at now={now}"
        # Everything older than one partition width beyond the window is gone.
        assert not {s for s in present if s < now - timedelta(hours=2)}


def test_upcoming_partitions_are_created_and_dry_run_drops_nothing(probes) -> None:
    now = T0 + timedelta(hours=5)
    _insert(probes, RAW, [T0])
    _, _, created = enforce_partitions(probes, now, [RAW], timedelta(days=2), dry_run=True)
    assert created >= 48
    names = {
        r[0]
        for r in probes.fetch_all(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            (RAW,),
        )
    }
    assert "raw_probe_p2025031204" in names
    assert _present(probes, RAW) == {T0}


def test_retention_asset_reports_what_it_dropped(probes) -> None:
    _insert(probes, RAW, [T0, T0 + timedelta(hours=3)])
    now = T0 + timedelta(hours=3, minutes=30)
    result = materialize(
        [postgres_partitions],
        resources={"postgres": probes},
        run_config={
            "ops": {
                "postgres_partitions": {
                    "config": {"now": now.isoformat(), "tables": [RAW], "ahead_days": 1}
                }
            }
        },
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert (
        meta["partitions_dropped"].value == 2
    )  # [00:00, 01:00) and [01:00, 02:00); 02:00-03:00 holds 02:30
    assert "| itest6_retention.raw_probe | 01:00:00 | 01:00:00 |" in meta["tiers"].value
    assert _present(probes, RAW) == {T0 + timedelta(hours=3)}


def test_influx_retention_policies_and_downsampling(influx) -> None:
    influx.query(f'DROP DATABASE "{influx.db()}"')
    for _ in range(2):
        result = materialize([influx_retention_policies], resources={"influx": influx})
        assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["changed"].value == []  # the second run found everything in place
    series = influx.query(f'SHOW RETENTION POLICIES ON "{influx.db()}"')[0]
    policies = {v[0]: dict(zip(series["columns"], v, strict=False)) for v in series["values"]}
    assert policies["realtime"]["duration"] == "1h0m0s" and policies["realtime"]["default"]
    assert policies["hourly"]["duration"] == "720h0m0s"
    assert policies["daily"]["duration"] == "8760h0m0s"
    cqs = next(s for s in influx.query("SHOW CONTINUOUS QUERIES") if s["name"] == influx.db())
    text = " ".join(v[1] for v in cqs["values"])
    assert (
        "INTO itscam_platform_test.hourly.:MEASUREMENT FROM itscam_platform_test.realtime./.*/"
        in text
    )
    assert "GROUP BY time(1h)" in text and "GROUP BY time(1d)" in text
