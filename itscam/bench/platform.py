"""``itscam bench platform``: the Dagster 15-minute statistics asset vs one hand-written SQL query.

One day of minute counts for ``--cameras`` cameras x ``--lanes`` lanes (and
sparse crossings for the 85th-percentile speed) is generated inside
PostgreSQL. Then, in the same run and on the same warm data:

- ``dagster_s``: ``materialize([traffic_stats_15min])`` for that day, in
  process: ensure partitions, replace the day, its asset checks (Great
  Expectations), metadata, plot and preview;
- ``sql_s``: the same aggregation as one hand-written ``INSERT ... SELECT``
  into a scratch table.

Prints one JSON line with both times and ``ratio_vs_sql`` (target <= 1.5),
and whether both produced the same rows. The day's data are dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime, timedelta

from itscam.clients.postgres import connect
from itscam.errors import ServiceError
from itscam.settings import Settings, get_settings

BENCH_DAY = datetime(2025, 1, 2, tzinfo=UTC)
TABLES = {
    "analytics.lane_counts_1m": "lane_counts_1m",
    "analytics.crossings": "crossings",
    "analytics.traffic_stats": "traffic_stats",
}

#: The hand-written baseline: written out independently of itscam.stats.sql on purpose.
HAND_SQL = """
INSERT INTO ops.bench_traffic_stats
SELECT camera_id, lane_id, direction, q, q + interval '15 minutes', car, motorcycle, bus, truck, volume,
       flow, 100.0 * p_t, 1.0 / (1.0 + p_t), flow * (1.0 + p_t), spd, p85, coalesce(n_spd, 0), occ,
       density, density / 1.609344,
       CASE WHEN density IS NULL THEN NULL WHEN density <= 11 THEN 'A' WHEN density <= 18 THEN 'B'
            WHEN density <= 26 THEN 'C' WHEN density <= 35 THEN 'D' WHEN density <= 45 THEN 'E' ELSE 'F' END,
       n, least(healthy / 900.0, 1.0), healthy / 900.0 >= 0.9, 2.0, now()
  FROM (SELECT x.*, CASE WHEN volume = 0 THEN 0 WHEN spd > 0 THEN flow * (1.0 + p_t) / (spd / 1.609344) END
                    AS density
          FROM (SELECT m.*, c.p85, m.volume * 4.0 AS flow,
                       coalesce((m.bus + m.truck)::float8 / NULLIF(m.volume, 0), 0) AS p_t
                  FROM (SELECT camera_id, lane_id, direction,
                               date_bin('15 minutes', minute_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS q,
                               sum(car) AS car, sum(motorcycle) AS motorcycle, sum(bus) AS bus,
                               sum(truck) AS truck, sum(total) AS volume,
                               sum(mean_speed_kmh::float8 * speed_count) FILTER (WHERE mean_speed_kmh IS NOT NULL)
                                 / NULLIF(sum(speed_count) FILTER (WHERE mean_speed_kmh IS NOT NULL), 0) AS spd,
                               sum(speed_count) FILTER (WHERE mean_speed_kmh IS NOT NULL) AS n_spd,
                               sum(occupancy::float8 * healthy_s) / NULLIF(sum(healthy_s), 0) AS occ,
                               count(*) AS n, sum(healthy_s)::float8 AS healthy
                          FROM analytics.lane_counts_1m WHERE minute_ts >= %(start)s AND minute_ts < %(end)s
                         GROUP BY 1, 2, 3, 4) m
                  LEFT JOIN (SELECT camera_id, lane_id, direction,
                                    date_bin('15 minutes', crossing_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS q,
                                    percentile_cont(0.85) WITHIN GROUP (ORDER BY speed_kmh) AS p85
                               FROM analytics.crossings
                              WHERE crossing_ts >= %(start)s AND crossing_ts < %(end)s AND speed_kmh IS NOT NULL
                              GROUP BY 1, 2, 3, 4) c USING (camera_id, lane_id, direction, q)) x) d
"""


def _ensure_services(settings: Settings) -> None:
    try:
        connect(settings).close()
    except ServiceError:
        from itscam.db.migrate import migrate
        from itscam.services.manager import ServiceManager

        ServiceManager(settings).up(["postgres"])
        migrate(settings)


def generate(
    settings: Settings, cameras: int, lanes: int, crossing_every_min: int
) -> tuple[int, int]:
    """One day of minute counts (and a crossing every ``crossing_every_min`` minutes per lane), in SQL."""
    start, end = BENCH_DAY, BENCH_DAY + timedelta(days=1)
    with connect(settings) as conn:
        for table in TABLES:
            conn.execute("SELECT ops.ensure_partitions(%s::regclass, %s, %s)", (table, start, end))
            col = {
                "analytics.lane_counts_1m": "minute_ts",
                "analytics.crossings": "crossing_ts",
            }.get(table, "interval_start")
            conn.execute(f"DELETE FROM {table} WHERE {col} >= %s AND {col} < %s", (start, end))
        minutes = conn.execute(
            """
            INSERT INTO analytics.lane_counts_1m
            SELECT 'bench-' || lpad(c::text, 4, '0'), 'L' || l, 'forward', %(start)s + m * interval '1 minute',
                   v.car, v.moto, v.bus, v.truck, v.car + v.moto + v.bus + v.truck,
                   70 + (c * 13 + l * 7 + m) %% 40, v.car + v.moto + v.bus + v.truck,
                   ((c + l + m) %% 20) / 40.0, NULL, 60 - (c * 7 + m) %% 3, 'bench'
              FROM generate_series(0, %(cams)s - 1) c, generate_series(1, %(lanes)s) l,
                   generate_series(0, 1439) m,
                   LATERAL (SELECT (c + l * 3 + m) %% 9 AS car, ((c + m) %% 23 = 0)::int AS moto,
                                   ((l + m) %% 17 = 0)::int AS bus, ((c + l + m) %% 7 = 0)::int AS truck) v
            """,
            {"start": start, "cams": cameras, "lanes": lanes},
        ).rowcount
        crossings = conn.execute(
            """
            INSERT INTO analytics.crossings
            SELECT 'bench-' || lpad(c::text, 4, '0'), 'L' || l || '-count', 'L' || l, 'forward', m,
                   'car', %(start)s + m * interval '1 minute' + interval '7 seconds',
                   60 + (c * 31 + l * 17 + m * 7) %% 60, 'bench'
              FROM generate_series(0, %(cams)s - 1) c, generate_series(1, %(lanes)s) l,
                   generate_series(0, 1439, %(every)s) m
            """,
            {"start": start, "cams": cameras, "lanes": lanes, "every": crossing_every_min},
        ).rowcount
        conn.commit()
    with connect(settings, autocommit=True) as conn:
        for table in ("analytics.lane_counts_1m", "analytics.crossings"):
            conn.execute(f"VACUUM ANALYZE {table}_p{start:%Y%m%d}")
    return minutes, crossings


def run_sql(settings: Settings) -> tuple[float, int]:
    start, end = BENCH_DAY, BENCH_DAY + timedelta(days=1)
    with connect(settings) as conn:
        conn.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS ops.bench_traffic_stats (LIKE analytics.traffic_stats)"
        )
        conn.execute("TRUNCATE ops.bench_traffic_stats")
        conn.commit()
        t0 = time.perf_counter()
        rows = conn.execute(HAND_SQL, {"start": start, "end": end}).rowcount
        conn.commit()
        return time.perf_counter() - t0, rows


def run_dagster(settings: Settings) -> tuple[float, bool]:
    from dagster import DagsterInstance, materialize
    from its_platform.assets.traffic import traffic_stats_15min
    from its_platform.resources import PostgresResource

    with DagsterInstance.ephemeral() as instance:
        t0 = time.perf_counter()
        result = materialize(
            [traffic_stats_15min],
            partition_key=BENCH_DAY.strftime("%Y-%m-%d"),
            resources={"postgres": PostgresResource(dsn=settings.pg_dsn)},
            instance=instance,
            raise_on_error=False,
        )
        return time.perf_counter() - t0, result.success


def same_results(settings: Settings) -> bool:
    start, end = BENCH_DAY, BENCH_DAY + timedelta(days=1)
    with connect(settings) as conn:
        query = (
            "SELECT count(*), sum(volume), round(sum(flow_pc_h_ln)::numeric, 3), "
            "round(sum(coalesce(speed_p85_kmh, 0))::numeric, 3), round(sum(coalesce(density_pc_mi_ln, 0))::numeric, 3), "
            "string_agg(DISTINCT los, '') "
            "FROM {} WHERE interval_start >= %s AND interval_start < %s"
        )
        a = conn.execute(query.format("analytics.traffic_stats"), (start, end)).fetchone()
        b = conn.execute(query.format("ops.bench_traffic_stats"), (start, end)).fetchone()
    return a == b


def cleanup(settings: Settings) -> None:
    with connect(settings, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ops.bench_traffic_stats")
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}_p{BENCH_DAY:%Y%m%d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="itscam bench platform", description=__doc__)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument(
        "--crossing-every-min", type=int, default=5, help="one speed sample per lane every N min"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated day for inspection")
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    settings = get_settings()
    _ensure_services(settings)
    # Imports are paid once per process (a code server or run worker keeps them), so they are
    # measured apart from both timings: Dagster, Great Expectations' context, matplotlib.
    t0 = time.perf_counter()
    import dagster  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
    from its_platform.assets import traffic  # noqa: F401

    from itscam.quality import gx

    gx._context()
    import_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    minutes, crossings = generate(settings, args.cameras, args.lanes, args.crossing_every_min)
    setup_s = time.perf_counter() - t0
    try:
        run_sql(settings)  # warm-up: both timed runs below read warm buffers
        dagster_s, ok = run_dagster(settings)
        sql_s, rows = run_sql(settings)
        match = ok and same_results(settings)
    finally:
        if not args.keep:
            cleanup(settings)
    print(
        json.dumps(
            {
                "bench": "platform",
                "cameras": args.cameras,
                "lanes": args.lanes,
                "minute_rows": minutes,
                "crossings": crossings,
                "stats_rows": rows,
                "setup_s": round(setup_s, 2),
                "import_s": round(import_s, 2),
                "dagster_s": round(dagster_s, 2),
                "sql_s": round(sql_s, 2),
                "ratio_vs_sql": round(dagster_s / sql_s, 3) if sql_s else None,
                "results_match": match,
                "dagster_run_ok": ok,
            }
        )
    )
    return 0 if ok else 1
