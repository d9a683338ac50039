"""The data-quality suites: which rows to load for a time window, and what to expect of them.

Each :class:`Check` names one Dagster asset check. Its rows come from a SQL
query (run by the caller for a half-open window ``[start, end)``, with
``%(now)s`` the reference time for freshness), and one Great Expectations
expectation judges them. Queries prepare derived columns (margins, steps,
differences between tiers) so every rule is a plain column expectation, and
checks that share a query share one validation.

``blocking`` checks stop downstream assets in the same run when they fail:
those whose failure makes the statistics wrong (class totals that do not add
up, tiers that do not conserve counts). Checks about completeness
(freshness, coverage gaps, missing speeds) warn instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.quality.gx import Expectation

#: Most rows one check query loads into pandas (a larger window is validated on its first rows).
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class Check:
    """One asset check: ``expectation`` applied to the rows of query ``frame``."""

    name: str
    asset: str
    frame: str
    expectation: Expectation
    description: str
    blocking: bool = False
    warn_only: bool = False


#: SQL per frame name; every query returns at most MAX_ROWS rows of the window.
FRAMES: dict[str, str] = {
    "detections": f"""
        SELECT d.camera_id, d.capture_ts, d.frame_seq, d.det_idx, d.class_name, d.confidence,
               d.x1, d.y1, d.x2, d.y2, coalesce(f.width, c.width) AS frame_width,
               coalesce(f.height, c.height) AS frame_height,
               least(d.x1, d.y1, coalesce(f.width, c.width) - d.x2, coalesce(f.height, c.height) - d.y2,
                     d.x2 - d.x1, d.y2 - d.y1) AS box_margin_px
          FROM analytics.vehicle_detections d
          LEFT JOIN camera_data.frame_metadata f USING (camera_id, capture_ts, frame_seq)
          LEFT JOIN camera_data.cameras c USING (camera_id)
         WHERE d.capture_ts >= %(start)s AND d.capture_ts < %(end)s
         LIMIT {MAX_ROWS}""",
    "detection_frames": f"""
        SELECT camera_id, frame_seq, capture_ts,
               extract(epoch FROM capture_ts - lag(capture_ts) OVER w) AS ts_step_s
          FROM (SELECT DISTINCT camera_id, run_id, frame_seq, capture_ts
                  FROM analytics.vehicle_detections
                 WHERE capture_ts >= %(start)s AND capture_ts < %(end)s) f
        -- Sequence numbers restart with each ingest session (run_id).
        WINDOW w AS (PARTITION BY camera_id, run_id ORDER BY frame_seq)
         LIMIT {MAX_ROWS}""",
    "crossings": f"""
        SELECT camera_id, line_id, lane_id, direction, track_id, class_name, crossing_ts, speed_kmh
          FROM analytics.crossings
         WHERE crossing_ts >= %(start)s AND crossing_ts < %(end)s
         LIMIT {MAX_ROWS}""",
    "lane_counts": f"""
        SELECT camera_id, lane_id, direction, minute_ts, total, mean_speed_kmh,
               total - (car + motorcycle + bus + truck) AS class_sum_diff,
               least(car, motorcycle, bus, truck, total) AS min_count
          FROM analytics.lane_counts_1m
         WHERE minute_ts >= %(start)s AND minute_ts < %(end)s
         LIMIT {MAX_ROWS}""",
    "lane_freshness": """
        SELECT c.camera_id, max(l.minute_ts) AS last_minute,
               extract(epoch FROM least(%(now)s, %(end)s)
                     - coalesce(max(l.minute_ts) + interval '1 minute', %(start)s)) AS lag_s
          FROM (SELECT DISTINCT camera_id FROM analytics.lane_counts_1m
                 WHERE minute_ts >= %(start)s - interval '1 day' AND minute_ts < %(end)s) c
          LEFT JOIN analytics.lane_counts_1m l
            ON l.camera_id = c.camera_id AND l.minute_ts >= %(start)s AND l.minute_ts < %(end)s
         GROUP BY c.camera_id""",
    "lane_gaps": """
        SELECT camera_id, lane_id, direction, min(minute_ts) AS first_minute, max(minute_ts) AS last_minute,
               (extract(epoch FROM max(minute_ts) - min(minute_ts)) / 60 + 1)::int
                 - count(*) FILTER (WHERE healthy_s >= 30) AS gap_minutes
          FROM analytics.lane_counts_1m
         WHERE minute_ts >= %(start)s AND minute_ts < %(end)s
         GROUP BY 1, 2, 3""",
    "stats_15min": f"""
        SELECT camera_id, lane_id, direction, interval_start, volume, f_hv, los, coverage_ok
          FROM analytics.traffic_stats
         WHERE interval_start >= %(start)s AND interval_start < %(end)s
         LIMIT {MAX_ROWS}""",
    # Per camera, lane and direction over the window: one hash aggregate of each tier instead of
    # re-bucketing every minute (that would cost as much as computing the statistics again).
    "stats_15min_totals": """
        SELECT camera_id, lane_id, direction, coalesce(s.volume, 0) AS volume_15min,
               coalesce(m.minutes_total, 0) AS minutes_total,
               coalesce(s.volume, 0) - coalesce(m.minutes_total, 0) AS minute_volume_diff
          FROM (SELECT camera_id, lane_id, direction, sum(volume) AS volume FROM analytics.traffic_stats
                 WHERE interval_start >= %(start)s AND interval_start < %(end)s GROUP BY 1, 2, 3) s
          FULL JOIN (SELECT camera_id, lane_id, direction, sum(total) AS minutes_total
                       FROM analytics.lane_counts_1m
                      WHERE minute_ts >= %(start)s AND minute_ts < %(end)s GROUP BY 1, 2, 3) m
               USING (camera_id, lane_id, direction)""",
    "stats_hourly": f"""
        SELECT h.camera_id, h.lane_id, h.direction, h.hour_start, h.volume, h.phf,
               coalesce(q.volume_15min, 0) AS volume_15min,
               h.volume - coalesce(q.volume_15min, 0) AS volume_diff
          FROM analytics.traffic_stats_hourly h
          FULL JOIN (SELECT camera_id, lane_id, direction,
                            date_bin('1 hour', interval_start, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour_start,
                            sum(volume) AS volume_15min
                       FROM analytics.traffic_stats
                      WHERE interval_start >= %(start)s AND interval_start < %(end)s
                      GROUP BY 1, 2, 3, 4) q USING (camera_id, lane_id, direction, hour_start)
         WHERE coalesce(h.hour_start, q.hour_start) >= %(start)s AND coalesce(h.hour_start, q.hour_start) < %(end)s
         LIMIT {MAX_ROWS}""",
    "stats_daily": f"""
        SELECT d.camera_id, d.lane_id, d.direction, d.day, d.volume,
               coalesce(h.volume_hourly, 0) AS volume_hourly,
               coalesce(d.volume, 0) - coalesce(h.volume_hourly, 0) AS volume_diff
          FROM analytics.traffic_stats_daily d
          FULL JOIN (SELECT camera_id, lane_id, direction, date_trunc('day', hour_start, 'UTC') AS day,
                            sum(volume) AS volume_hourly
                       FROM analytics.traffic_stats_hourly
                      WHERE hour_start >= %(start)s AND hour_start < %(end)s
                      GROUP BY 1, 2, 3, 4) h USING (camera_id, lane_id, direction, day)
         WHERE coalesce(d.day, h.day) >= %(start)s AND coalesce(d.day, h.day) < %(end)s
         LIMIT {MAX_ROWS}""",
}

#: Identifying columns copied into the examples of failing rows, per frame.
EXAMPLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "detections": ("camera_id", "capture_ts", "frame_seq", "det_idx"),
    "detection_frames": ("camera_id", "frame_seq", "capture_ts"),
    "crossings": ("camera_id", "line_id", "track_id", "crossing_ts"),
    "lane_counts": ("camera_id", "lane_id", "direction", "minute_ts"),
    "lane_freshness": ("camera_id", "last_minute"),
    "lane_gaps": ("camera_id", "lane_id", "direction", "first_minute", "last_minute"),
    "stats_15min": ("camera_id", "lane_id", "direction", "interval_start"),
    "stats_15min_totals": ("camera_id", "lane_id", "direction", "volume_15min", "minutes_total"),
    "stats_hourly": ("camera_id", "lane_id", "direction", "hour_start", "volume_15min"),
    "stats_daily": ("camera_id", "lane_id", "direction", "day", "volume_hourly"),
}

#: Freshness limit: the newest minute of every camera at most this old at the window's end.
FRESHNESS_MAX_S = 600.0
#: Coverage-gap limit: missing or unhealthy minutes inside a lane's observed span.
MAX_GAP_MINUTES = 5
_CLASSES = list(VEHICLE_CLASSES)
E = Expectation

CHECKS: tuple[Check, ...] = (
    Check(
        "detections_class_in_set",
        "vehicle_detections",
        "detections",
        E("ExpectColumnValuesToBeInSet", column="class_name", value_set=_CLASSES),
        "Every detection's class is one of the detector's vehicle classes.",
    ),
    Check(
        "detections_confidence_in_range",
        "vehicle_detections",
        "detections",
        E("ExpectColumnValuesToBeBetween", column="confidence", min_value=0.0, max_value=1.0),
        "Confidences lie in 0..1.",
    ),
    Check(
        "detections_boxes_inside_frame",
        "vehicle_detections",
        "detections",
        E("ExpectColumnValuesToBeBetween", column="box_margin_px", min_value=-1.0),
        "Boxes have x1<x2, y1<y2 and lie inside the frame (1 px tolerance for rounding).",
    ),
    Check(
        "detections_timestamps_monotonic",
        "vehicle_detections",
        "detection_frames",
        E("ExpectColumnValuesToBeBetween", column="ts_step_s", min_value=0.0),
        "Per camera and ingest session, capture time never goes backwards as the frame sequence grows.",
    ),
    Check(
        "crossings_speed_in_range",
        "crossings",
        "crossings",
        E("ExpectColumnValuesToBeBetween", column="speed_kmh", min_value=0.0, max_value=250.0),
        "Measured speeds are physically plausible (0..250 km/h).",
    ),
    Check(
        "crossings_speed_present",
        "crossings",
        "crossings",
        E("ExpectColumnValuesToNotBeNull", column="speed_kmh", mostly=0.8),
        "At least 80 % of crossings carry a speed (else a calibration is broken).",
        warn_only=True,
    ),
    Check(
        "crossings_class_in_set",
        "crossings",
        "crossings",
        E("ExpectColumnValuesToBeInSet", column="class_name", value_set=_CLASSES),
        "Every crossing's class is a vehicle class.",
    ),
    Check(
        "lane_counts_total_equals_classes",
        "lane_counts_1m",
        "lane_counts",
        E("ExpectColumnValuesToBeBetween", column="class_sum_diff", min_value=0, max_value=0),
        "Per minute, total == car + motorcycle + bus + truck.",
        blocking=True,
    ),
    Check(
        "lane_counts_nonnegative",
        "lane_counts_1m",
        "lane_counts",
        E("ExpectColumnValuesToBeBetween", column="min_count", min_value=0),
        "No negative counts.",
        blocking=True,
    ),
    Check(
        "lane_counts_speed_in_range",
        "lane_counts_1m",
        "lane_counts",
        E("ExpectColumnValuesToBeBetween", column="mean_speed_kmh", min_value=0.0, max_value=250.0),
        "Minute mean speeds are plausible (0..250 km/h).",
    ),
    Check(
        "lane_counts_fresh_per_camera",
        "lane_counts_1m",
        "lane_freshness",
        E("ExpectColumnValuesToBeBetween", column="lag_s", max_value=FRESHNESS_MAX_S),
        f"Every camera reported a minute within {FRESHNESS_MAX_S:.0f} s of the window's end (or now).",
        warn_only=True,
    ),
    Check(
        "lane_counts_coverage_gaps",
        "lane_counts_1m",
        "lane_gaps",
        E(
            "ExpectColumnValuesToBeBetween",
            column="gap_minutes",
            min_value=0,
            max_value=MAX_GAP_MINUTES,
        ),
        f"At most {MAX_GAP_MINUTES} missing or unhealthy minutes inside each lane's observed span.",
        warn_only=True,
    ),
    Check(
        "traffic_stats_conserve_minute_counts",
        "traffic_stats_15min",
        "stats_15min_totals",
        E("ExpectColumnValuesToBeBetween", column="minute_volume_diff", min_value=0, max_value=0),
        "Per camera, lane and direction, the 15-minute volumes add up to the minute counts.",
        blocking=True,
    ),
    Check(
        "traffic_stats_f_hv_in_range",
        "traffic_stats_15min",
        "stats_15min",
        E("ExpectColumnValuesToBeBetween", column="f_hv", min_value=0.2, max_value=1.0),
        "Heavy-vehicle factor lies in (0, 1] (0.2 allows E_T up to 5 with all trucks).",
    ),
    Check(
        "traffic_stats_los_known",
        "traffic_stats_15min",
        "stats_15min",
        E("ExpectColumnValuesToNotBeNull", column="los", mostly=0.9),
        "At least 90 % of intervals have a level of service (a speed was measured).",
        warn_only=True,
    ),
    Check(
        "traffic_stats_coverage",
        "traffic_stats_15min",
        "stats_15min",
        E("ExpectColumnValuesToBeInSet", column="coverage_ok", value_set=[True], mostly=0.9),
        "At least 90 % of intervals have healthy video for 90 % of their time.",
        warn_only=True,
    ),
    Check(
        "hourly_conserves_15min_counts",
        "traffic_stats_hourly",
        "stats_hourly",
        E("ExpectColumnValuesToBeBetween", column="volume_diff", min_value=0, max_value=0),
        "Each hourly volume equals the sum of its four 15-minute volumes.",
        blocking=True,
    ),
    Check(
        "hourly_phf_in_range",
        "traffic_stats_hourly",
        "stats_hourly",
        E("ExpectColumnValuesToBeBetween", column="phf", min_value=0.25, max_value=1.0),
        "Peak hour factor lies in 0.25..1.",
    ),
    Check(
        "daily_conserves_hourly_counts",
        "traffic_stats_daily",
        "stats_daily",
        E("ExpectColumnValuesToBeBetween", column="volume_diff", min_value=0, max_value=0),
        "Each daily volume equals the sum of its hourly volumes.",
        blocking=True,
    ),
)


def checks_for(asset: str) -> tuple[Check, ...]:
    """The checks of one asset, in declaration order."""
    return tuple(c for c in CHECKS if c.asset == asset)
