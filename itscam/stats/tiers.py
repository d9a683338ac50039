"""Retention tiers of the seed (1 h realtime, 30 d hourly, 1 y daily) for the metrics store.

PostgreSQL tiers are registered per table in ``ops.partition_config`` (width and
retention) by the migrations; this module holds the InfluxDB side: one
retention policy per tier and continuous queries that downsample each tier
into the next. Statements are InfluxQL, which InfluxDB 1.x runs natively.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    """One InfluxDB retention policy; ``source`` is the tier it is downsampled from."""

    name: str
    duration: str
    shard_duration: str
    group_by: str | None = None
    source: str | None = None
    default: bool = False


INFLUX_TIERS: tuple[Tier, ...] = (
    Tier("realtime", "1h", "1h", default=True),
    Tier("hourly", "30d", "1d", group_by="1h", source="realtime"),
    Tier("daily", "365d", "7d", group_by="1d", source="hourly"),
)


def _duration_ns(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return int(text[:-1]) * units[text[-1]] * 1_000_000_000


def influx_duration_matches(reported: str, wanted: str) -> bool:
    """InfluxDB reports ``1h0m0s`` / ``720h0m0s``; compare with ``1h`` / ``30d``."""
    total = 0
    num = ""
    for ch in reported:
        if ch.isdigit():
            num += ch
        else:
            total += int(num or 0) * {"h": 3600, "m": 60, "s": 1}.get(ch, 0) * 1_000_000_000
            num = ""
    return total == _duration_ns(wanted)


def retention_policy_statement(db: str, tier: Tier, exists: bool) -> str:
    verb = "ALTER" if exists else "CREATE"
    stmt = (
        f'{verb} RETENTION POLICY "{tier.name}" ON "{db}" DURATION {tier.duration} '
        f"REPLICATION 1 SHARD DURATION {tier.shard_duration}"
    )
    return stmt + (" DEFAULT" if tier.default else "")


def continuous_query_name(tier: Tier) -> str:
    return f"cq_downsample_{tier.name}"


def continuous_query_statement(db: str, tier: Tier) -> str:
    """Mean of every numeric field of every measurement of the source tier, per ``group_by``."""
    if not tier.source or not tier.group_by:
        raise ValueError(f"tier {tier.name} is not downsampled from another tier")
    return (
        f'CREATE CONTINUOUS QUERY "{continuous_query_name(tier)}" ON "{db}" BEGIN '
        f'SELECT mean(*) INTO "{db}"."{tier.name}".:MEASUREMENT FROM "{db}"."{tier.source}"./.*/ '
        f"GROUP BY time({tier.group_by}), * END"
    )
