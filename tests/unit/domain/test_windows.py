"""1-minute tumbling windows: boundaries, lateness, rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from itscam.domain.windows import MinuteWindows, minute_of

T0 = 1_700_000_040.0  # a minute boundary (divisible by 60)
COLUMNS = {
    "camera_id",
    "lane_id",
    "direction",
    "minute_ts",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "total",
    "mean_speed_kmh",
    "speed_count",
    "occupancy",
    "mean_headway_s",
    "healthy_s",
    "run_id",
}


def windows(lateness: float = 2.0) -> MinuteWindows:
    return MinuteWindows("cam", ["a", "b"], np.array([50.0, 50.0]), run_id="r", lateness_s=lateness)


def frames(
    w: MinuteWindows,
    t_start: float,
    t_end: float,
    fps: float = 10.0,
    occupied=(False, False),
    healthy=True,
):
    closed = []
    t = t_start
    while t < t_end - 1e-9:
        w.add_frame(t, 1 / fps, healthy, np.array(occupied), np.array([1.0, 0.0]))
        closed += w.advance()
        t += 1 / fps
    return closed


def test_minute_of_aligns_to_utc_minutes():
    assert T0 % 60 == 0
    assert minute_of(T0) == T0 and minute_of(T0 + 59.999) == T0 and minute_of(T0 - 0.001) == T0 - 60


@pytest.mark.parametrize(("ts", "minute"), [(T0 + 59.9, T0), (T0 + 60.0, T0 + 60), (T0, T0)])
def test_crossing_lands_in_its_minute(ts, minute):
    w = windows()
    w.add_crossing("a", "forward", 0, ts, 50.0)
    got = [r for c in frames(w, T0, T0 + 125) for r in c.rows if r["lane_id"] == "a"]
    counted = {r["minute_ts"]: r["total"] for r in got}
    assert counted[minute] == 1 and sum(counted.values()) == 1


def test_minute_closes_only_after_lateness_and_accepts_late_crossings():
    w = windows(lateness=2.0)
    frames(w, T0, T0 + 61.0)  # watermark = 59 s: minute 0 still open
    assert w.advance() == []
    assert w.add_crossing("a", "forward", 3, T0 + 59.5, None)  # late but within lateness
    closed = frames(w, T0 + 61.0, T0 + 62.5)
    assert len(closed) == 1
    row = next(r for r in closed[0].rows if r["lane_id"] == "a")
    assert row["truck"] == 1 and row["total"] == 1


def test_crossing_after_its_minute_closed_is_dropped_and_counted():
    w = windows(lateness=1.0)
    frames(w, T0, T0 + 62)
    assert not w.add_crossing("a", "forward", 0, T0 + 30, 40.0)
    assert w.late_dropped == 1


def test_row_columns_speed_headway_occupancy_and_healthy_seconds():
    w = windows()
    for k, t in enumerate([T0 + 10, T0 + 14, T0 + 20]):
        w.add_crossing("a", "forward", k % 2, t, 40.0 + 10 * k)
    w.add_crossing("a", "reverse", 0, T0 + 30, None)
    frames(w, T0, T0 + 30, occupied=(True, False))
    closed = frames(w, T0 + 30, T0 + 63, occupied=(False, False))
    assert len(closed) == 1
    rows = {(r["lane_id"], r["direction"]): r for r in closed[0].rows}
    assert set(rows) == {("a", "forward"), ("a", "reverse"), ("b", "forward")}
    a = rows[("a", "forward")]
    assert set(a) == COLUMNS
    assert (a["car"], a["motorcycle"], a["total"]) == (2, 1, 3)
    assert a["mean_speed_kmh"] == pytest.approx(50.0) and a["speed_count"] == 3
    assert a["mean_headway_s"] == pytest.approx(5.0)
    assert a["occupancy"] == pytest.approx(0.5, abs=0.01)
    assert a["healthy_s"] == pytest.approx(60.0, abs=0.2)
    assert rows[("b", "forward")]["total"] == 0 and rows[("b", "forward")]["occupancy"] == 0
    assert closed[0].density_pcmpl["a"] == pytest.approx(1609.344 / 50, rel=0.01)


def test_unhealthy_video_reduces_healthy_seconds():
    w = windows()
    frames(w, T0, T0 + 20)
    frames(w, T0 + 20, T0 + 60, healthy=False)
    (c,) = frames(w, T0 + 60, T0 + 63)
    assert c.rows[0]["healthy_s"] == pytest.approx(20.0, abs=0.2)


def test_minutes_without_frames_are_emitted_with_zero_coverage():
    w = windows()
    frames(w, T0, T0 + 10)
    minutes = [c.minute_ts for c in frames(w, T0 + 185, T0 + 190)]
    assert minutes == [T0, T0 + 60, T0 + 120]
    assert w.next_minute == T0 + 180


def test_state_round_trip_keeps_open_minutes():
    w = windows()
    w.add_crossing("b", "forward", 2, T0 + 5, 30.0)
    frames(w, T0, T0 + 30)
    w2 = windows()
    w2.load_state(json.loads(json.dumps(w.to_state())))
    (c,) = frames(w2, T0 + 30, T0 + 63)
    b = next(r for r in c.rows if r["lane_id"] == "b")
    assert b["bus"] == 1 and b["healthy_s"] == pytest.approx(60, abs=0.2)


def test_a_held_minute_stays_open_until_the_hold_is_released():
    # A crossing at 59.5 s still waiting for its class (CameraAnalyzer.CLASS_SETTLE_S):
    # its minute must not close, or the crossing would be dropped as late.
    w = windows(lateness=2.0)
    frames(w, T0, T0 + 61.0)
    for i in range(20):  # 61-63 s: the watermark passes the minute's end
        w.add_frame(T0 + 61.0 + i / 10, 0.1, True)
        assert w.advance(hold=T0 + 59.5) == []
    assert w.add_crossing("a", "forward", 3, T0 + 59.5, None)
    (closed,) = w.advance()
    assert next(r for r in closed.rows if r["lane_id"] == "a")["truck"] == 1
