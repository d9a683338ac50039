"""The HCM statistics as SQL run inside PostgreSQL.

Each builder returns ``(query, params)`` for psycopg. The queries aggregate a
half-open time window ``[start, end)`` with one ``INSERT ... SELECT ... GROUP
BY`` each; callers delete the window first in the same transaction, so a
re-run replaces rather than duplicates. Constants (``E_T``, LOS thresholds,
mile conversion) come from :mod:`itscam.stats.hcm`, so Python and SQL agree.

Tiers: ``analytics.lane_counts_1m`` + ``analytics.crossings`` ->
``analytics.traffic_stats`` (15 min) -> ``analytics.traffic_stats_hourly`` ->
``analytics.traffic_stats_daily``. Rollups read only the tier below, never raw
data. Buckets are aligned to UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from itscam.stats.hcm import DEFAULT_E_T, KM_PER_MILE, LOS_THRESHOLDS_PC_MI_LN, LOS_WORST

STATS_15MIN = "analytics.traffic_stats"
STATS_HOURLY = "analytics.traffic_stats_hourly"
STATS_DAILY = "analytics.traffic_stats_daily"

#: Share of an interval with healthy video below which the interval is flagged.
DEFAULT_MIN_COVERAGE = 0.9

_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"

Query = tuple[str, dict[str, Any]]


def los_case(density_expr: str) -> str:
    """A SQL ``CASE`` giving the LOS letter of ``density_expr`` (pc/mi/ln; NULL stays NULL)."""
    arms = " ".join(
        f"WHEN {density_expr} <= {upper!r} THEN '{letter}'"
        for letter, upper in LOS_THRESHOLDS_PC_MI_LN
    )
    return f"CASE WHEN {density_expr} IS NULL THEN NULL {arms} ELSE '{LOS_WORST}' END"


def _window(start: datetime, end: datetime) -> dict[str, Any]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("statistics windows need timezone-aware datetimes (UTC)")
    if end <= start:
        raise ValueError(f"empty window [{start}, {end})")
    return {"start": start, "end": end}


def delete_window(table: str, time_col: str, start: datetime, end: datetime) -> Query:
    """Delete the rows of ``table`` whose ``time_col`` lies in ``[start, end)``."""
    return f"DELETE FROM {table} WHERE {time_col} >= %(start)s AND {time_col} < %(end)s", _window(
        start, end
    )


def stats_15min(
    start: datetime,
    end: datetime,
    *,
    e_t: float = DEFAULT_E_T,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    source_counts: str = "analytics.lane_counts_1m",
    source_crossings: str = "analytics.crossings",
    target: str = STATS_15MIN,
) -> Query:
    """15-minute HCM statistics per camera, lane and direction from minute counts and crossings.

    Volume and classes are sums of the minute counts; the mean speed is the
    minute means weighted by their speed samples; the 85th percentile speed
    comes from the individual crossings (``percentile_cont``); occupancy is
    weighted by healthy seconds; ``healthy_share`` divides healthy seconds by
    the 900 s of the interval, so minutes never reported count as unhealthy.
    """
    params = _window(start, end) | {
        "e_t": float(e_t),
        "min_cov": float(min_coverage),
        "km_mi": KM_PER_MILE,
    }
    query = f"""
INSERT INTO {target} (
    camera_id, lane_id, direction, interval_start, interval_end,
    car, motorcycle, bus, truck, volume, flow_veh_h_ln, heavy_pct, f_hv, flow_pc_h_ln,
    mean_speed_kmh, speed_p85_kmh, speed_samples, occupancy,
    density_pc_mi_ln, density_pc_km_ln, los, minutes_reported, healthy_share, coverage_ok, e_t)
WITH m AS (
    SELECT camera_id, lane_id, direction,
           date_bin('15 minutes', minute_ts, {_ORIGIN}) AS interval_start,
           sum(car) AS car, sum(motorcycle) AS motorcycle, sum(bus) AS bus, sum(truck) AS truck,
           sum(total) AS volume,
           sum(mean_speed_kmh::float8 * speed_count) FILTER (WHERE mean_speed_kmh IS NOT NULL)
             / NULLIF(sum(speed_count) FILTER (WHERE mean_speed_kmh IS NOT NULL), 0) AS mean_speed_kmh,
           sum(speed_count) FILTER (WHERE mean_speed_kmh IS NOT NULL) AS speed_samples,
           sum(occupancy::float8 * healthy_s) / NULLIF(sum(healthy_s), 0) AS occupancy,
           count(*) AS minutes_reported,
           sum(healthy_s)::float8 / 900.0 AS healthy_share
      FROM {source_counts}
     WHERE minute_ts >= %(start)s AND minute_ts < %(end)s
     GROUP BY 1, 2, 3, 4
), c AS (
    SELECT camera_id, lane_id, direction,
           date_bin('15 minutes', crossing_ts, {_ORIGIN}) AS interval_start,
           percentile_cont(0.85) WITHIN GROUP (ORDER BY speed_kmh) AS p85
      FROM {source_crossings}
     WHERE crossing_ts >= %(start)s AND crossing_ts < %(end)s AND speed_kmh IS NOT NULL
     GROUP BY 1, 2, 3, 4
), f AS (
    SELECT m.*, c.p85,
           m.volume * 4.0 AS flow,
           1.0 / (1.0 + coalesce((m.bus + m.truck)::float8 / NULLIF(m.volume, 0), 0) * (%(e_t)s - 1.0)) AS f_hv
      FROM m LEFT JOIN c USING (camera_id, lane_id, direction, interval_start)
), d AS (
    SELECT f.*, f.flow / f.f_hv AS flow_pc,
           CASE WHEN f.volume = 0 THEN 0.0
                WHEN f.mean_speed_kmh > 0 THEN (f.flow / f.f_hv) / (f.mean_speed_kmh / %(km_mi)s)
           END AS density
      FROM f
)
SELECT camera_id, lane_id, direction, interval_start, interval_start + interval '15 minutes',
       car, motorcycle, bus, truck, volume, flow,
       100.0 * (bus + truck) / NULLIF(volume, 0), f_hv, flow_pc,
       mean_speed_kmh, p85, coalesce(speed_samples, 0), occupancy,
       density, density / %(km_mi)s, {los_case("density")},
       minutes_reported, least(healthy_share, 1.0), healthy_share >= %(min_cov)s, %(e_t)s
  FROM d
"""
    return query, params


def stats_hourly(
    start: datetime,
    end: datetime,
    *,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    source: str = STATS_15MIN,
    target: str = STATS_HOURLY,
) -> Query:
    """Hourly rollup of the 15-minute table.

    ``PHF = V / (4 V15max)``; the design flow ``v_p = V / (PHF f_HV) = 4 V15max / f_HV``
    (the peak 15 minutes in pc/h/ln) and its density give the hour's LOS.
    The hour's 85th-percentile speed is the speed-sample-weighted mean of the
    15-minute percentiles (percentiles do not add; the raw crossings are not
    read again by design).
    """
    params = _window(start, end) | {"min_cov": float(min_coverage), "km_mi": KM_PER_MILE}
    query = f"""
INSERT INTO {target} (
    camera_id, lane_id, direction, hour_start, car, motorcycle, bus, truck, volume,
    peak_15min_volume, phf, heavy_pct, f_hv, peak_flow_pc_h_ln, mean_speed_kmh, speed_p85_kmh,
    speed_samples, occupancy, density_pc_mi_ln, los, worst_15min_los, intervals, healthy_share,
    coverage_ok)
WITH h AS (
    SELECT camera_id, lane_id, direction,
           date_bin('1 hour', interval_start, {_ORIGIN}) AS hour_start,
           sum(car) AS car, sum(motorcycle) AS motorcycle, sum(bus) AS bus, sum(truck) AS truck,
           sum(volume) AS volume, max(volume) AS peak15,
           sum(mean_speed_kmh * speed_samples) FILTER (WHERE mean_speed_kmh IS NOT NULL)
             / NULLIF(sum(speed_samples) FILTER (WHERE mean_speed_kmh IS NOT NULL), 0) AS mean_speed_kmh,
           sum(speed_p85_kmh * speed_samples) FILTER (WHERE speed_p85_kmh IS NOT NULL)
             / NULLIF(sum(speed_samples) FILTER (WHERE speed_p85_kmh IS NOT NULL), 0) AS p85,
           sum(speed_samples) AS speed_samples,
           sum(occupancy * minutes_reported) / NULLIF(sum(minutes_reported) FILTER (WHERE occupancy IS NOT NULL), 0)
             AS occupancy,
           max(los) AS worst_los,
           count(*) AS intervals,
           sum(healthy_share) / 4.0 AS healthy_share,
           max(e_t) AS e_t
      FROM {source}
     WHERE interval_start >= %(start)s AND interval_start < %(end)s
     GROUP BY 1, 2, 3, 4
), f AS (
    SELECT h.*,
           CASE WHEN peak15 > 0 THEN volume::float8 / (4.0 * peak15) END AS phf,
           1.0 / (1.0 + coalesce((bus + truck)::float8 / NULLIF(volume, 0), 0) * (e_t - 1.0)) AS f_hv
      FROM h
), d AS (
    SELECT f.*, 4.0 * peak15 / f_hv AS flow_pc,
           CASE WHEN volume = 0 THEN 0.0
                WHEN mean_speed_kmh > 0 THEN (4.0 * peak15 / f_hv) / (mean_speed_kmh / %(km_mi)s)
           END AS density
      FROM f
)
SELECT camera_id, lane_id, direction, hour_start, car, motorcycle, bus, truck, volume,
       peak15, phf, 100.0 * (bus + truck) / NULLIF(volume, 0), f_hv, flow_pc, mean_speed_kmh, p85,
       speed_samples, occupancy, density, {los_case("density")}, worst_los, intervals,
       least(healthy_share, 1.0), healthy_share >= %(min_cov)s
  FROM d
"""
    return query, params


def stats_daily(
    start: datetime,
    end: datetime,
    *,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    source: str = STATS_HOURLY,
    target: str = STATS_DAILY,
) -> Query:
    """Daily rollup of the hourly table: totals, the peak hour and its PHF, hours at LOS E or F."""
    params = _window(start, end) | {"min_cov": float(min_coverage)}
    query = f"""
INSERT INTO {target} (
    camera_id, lane_id, direction, day, car, motorcycle, bus, truck, volume,
    peak_hour_start, peak_hour_volume, peak_hour_phf, heavy_pct, mean_speed_kmh, speed_p85_kmh,
    speed_samples, occupancy, worst_los, hours_los_e_f, hours, healthy_share, coverage_ok)
WITH r AS (
    SELECT *, row_number() OVER (PARTITION BY camera_id, lane_id, direction, date_trunc('day', hour_start, 'UTC')
                                 ORDER BY volume DESC, hour_start) AS rank_in_day
      FROM {source}
     WHERE hour_start >= %(start)s AND hour_start < %(end)s
), g AS (
    SELECT camera_id, lane_id, direction, date_trunc('day', hour_start, 'UTC') AS day,
           sum(car) AS car, sum(motorcycle) AS motorcycle, sum(bus) AS bus, sum(truck) AS truck,
           sum(volume) AS volume,
           min(hour_start) FILTER (WHERE rank_in_day = 1) AS peak_hour_start,
           max(volume) AS peak_hour_volume,
           max(phf) FILTER (WHERE rank_in_day = 1) AS peak_hour_phf,
           sum(mean_speed_kmh * speed_samples) FILTER (WHERE mean_speed_kmh IS NOT NULL)
             / NULLIF(sum(speed_samples) FILTER (WHERE mean_speed_kmh IS NOT NULL), 0) AS mean_speed_kmh,
           sum(speed_p85_kmh * speed_samples) FILTER (WHERE speed_p85_kmh IS NOT NULL)
             / NULLIF(sum(speed_samples) FILTER (WHERE speed_p85_kmh IS NOT NULL), 0) AS p85,
           sum(speed_samples) AS speed_samples,
           sum(occupancy * intervals) / NULLIF(sum(intervals) FILTER (WHERE occupancy IS NOT NULL), 0) AS occupancy,
           max(worst_15min_los) AS worst_los,
           count(*) FILTER (WHERE los IN ('E', 'F')) AS hours_los_e_f,
           count(*) AS hours,
           sum(healthy_share) / 24.0 AS healthy_share
      FROM r
     GROUP BY 1, 2, 3, 4
)
SELECT camera_id, lane_id, direction, day, car, motorcycle, bus, truck, volume,
       peak_hour_start, peak_hour_volume, peak_hour_phf, 100.0 * (bus + truck) / NULLIF(volume, 0),
       mean_speed_kmh, p85, speed_samples, occupancy, worst_los, hours_los_e_f, hours,
       least(healthy_share, 1.0), healthy_share >= %(min_cov)s
  FROM g
"""
    return query, params
