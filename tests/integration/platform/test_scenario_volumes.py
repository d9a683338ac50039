"""15-minute volumes from a simulated scenario equal the simulator's ground-truth crossings.

The simulator's true crossings go through the streaming side's own minute
windows (:class:`itscam.domain.windows.MinuteWindows`, exactly as the analysis
agent uses them) into ``analytics.lane_counts_1m``; the Dagster asset then
aggregates them in PostgreSQL. Volumes per camera, lane, direction, class and
UTC quarter hour must equal the truth counted independently here.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from dagster import materialize
from its_platform.assets.traffic import traffic_stats_15min

from itscam.domain.detections import CLASS_ID, VEHICLE_CLASSES
from itscam.domain.windows import MinuteWindows
from itscam.sim.scenario import Scenario

from .factories import CROSS_COLS, LANE_COLS, clear_day, write

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY = datetime(2025, 2, 20, tzinfo=UTC)
DURATION_S = 1800


def test_fifteen_minute_volumes_equal_simulator_ground_truth(pg) -> None:
    scenario = Scenario.load("highway")
    truth = scenario.ground_truth(duration_s=DURATION_S)
    seen = [c for c in truth.crossings if c.get("camera_online", True)]
    assert len(seen) > 500
    # Move the scenario onto this test's own day (whole days keep the UTC alignment).
    shift = DAY.timestamp() + (scenario.start_ts % 86400) - scenario.start_ts
    rows, cross_rows = [], []
    for cam in sorted({c["camera_id"] for c in seen}):
        lanes = sorted({c["lane_id"] for c in seen if c["camera_id"] == cam})
        win = MinuteWindows(f"itest6-{cam}", lanes, np.zeros(len(lanes)), run_id="itest6")
        for s in range(int(DURATION_S)):
            win.add_frame(scenario.start_ts + shift + s + 1.0, 1.0, True)
        for c in seen:
            if c["camera_id"] == cam:
                ts = c["ts"] + shift
                assert win.add_crossing(
                    c["lane_id"], c["direction"], CLASS_ID[c["class"]], ts, c["speed_mps"] * 3.6
                )
                cross_rows.append(
                    (
                        f"itest6-{cam}",
                        c["line_id"],
                        c["lane_id"],
                        c["direction"],
                        c["track_id"],
                        c["class"],
                        datetime.fromtimestamp(ts, UTC),
                        c["speed_mps"] * 3.6,
                        "itest6",
                    )
                )
        for minute in win.advance(scenario.start_ts + shift + DURATION_S + 120):
            for r in minute.rows:
                rows.append(
                    tuple(
                        datetime.fromtimestamp(r[k], UTC) if k == "minute_ts" else r[k]
                        for k in LANE_COLS
                    )
                )
    with pg.connection() as conn:
        clear_day(conn, DAY, DAY + timedelta(days=1))
        write(conn, "analytics.lane_counts_1m", LANE_COLS, rows)
        write(conn, "analytics.crossings", CROSS_COLS, cross_rows)
    result = materialize(
        [traffic_stats_15min], partition_key=DAY.strftime("%Y-%m-%d"), resources={"postgres": pg}
    )
    assert result.success

    expected: Counter = Counter()
    for c in seen:
        bucket = math.floor((c["ts"] + shift) / 900) * 900
        expected[
            (f"itest6-{c['camera_id']}", c["lane_id"], c["direction"], bucket, c["class"])
        ] += 1
    measured: Counter = Counter()
    stats = pg.fetch_all(
        "SELECT camera_id, lane_id, direction, extract(epoch FROM interval_start)::bigint, car, motorcycle, bus, "
        "truck, volume FROM analytics.traffic_stats WHERE camera_id LIKE 'itest6-sim-%%' "
        "AND interval_start >= %s AND interval_start < %s",
        (DAY, DAY + timedelta(days=1)),
    )
    for cam, lane, direction, bucket, *classes, volume in stats:
        assert volume == sum(classes)
        for cls, n in zip(VEHICLE_CLASSES, classes, strict=True):
            if n:
                measured[(cam, lane, direction, int(bucket), cls)] += n
    assert measured == expected
    assert sum(measured.values()) == len(seen)
