"""InfluxDB retention tiers: the seed's 1 h / 30 d / 1 y and the downsampling chain."""

from __future__ import annotations

import pytest

from itscam.stats.tiers import (
    INFLUX_TIERS,
    continuous_query_statement,
    influx_duration_matches,
    retention_policy_statement,
)


def test_tiers_follow_the_seed() -> None:
    assert [(t.name, t.duration) for t in INFLUX_TIERS] == [
        ("realtime", "1h"),
        ("hourly", "30d"),
        ("daily", "365d"),
    ]
    assert [t.default for t in INFLUX_TIERS] == [True, False, False]
    assert [t.source for t in INFLUX_TIERS] == [None, "realtime", "hourly"]


@pytest.mark.parametrize(
    ("reported", "wanted", "same"),
    [
        ("1h0m0s", "1h", True),
        ("720h0m0s", "30d", True),
        ("8760h0m0s", "365d", True),
        ("24h0m0s", "30d", False),
    ],
)
def test_influx_duration_matches(reported: str, wanted: str, same: bool) -> None:
    assert influx_duration_matches(reported, wanted) is same


def test_statements() -> None:
    realtime, hourly, _ = INFLUX_TIERS
    assert retention_policy_statement("db", realtime, exists=False) == (
        'CREATE RETENTION POLICY "realtime" ON "db" DURATION 1h REPLICATION 1 SHARD DURATION 1h DEFAULT'
    )
    assert retention_policy_statement("db", hourly, exists=True).startswith(
        'ALTER RETENTION POLICY "hourly"'
    )
    cq = continuous_query_statement("db", hourly)
    assert (
        'INTO "db"."hourly".:MEASUREMENT FROM "db"."realtime"./.*/' in cq
        and "GROUP BY time(1h), *" in cq
    )
    with pytest.raises(ValueError):
        continuous_query_statement("db", realtime)
