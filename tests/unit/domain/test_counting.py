"""Counting lines: hysteresis, direction, segment extent, crossing time."""

from __future__ import annotations

import numpy as np
import pytest

from itscam.domain.counting import LineCounter
from itscam.domain.speed import TrackTable
from tests.unit.domain.factories import camera


def drive(ys: list[float], x: float = 1.75, margin: float = 1.0, dt: float = 0.1):
    """Feed one track's world positions (x, y_i) to a counter; returns the crossings."""
    cam = camera()
    lines = tuple(ln for ln in cam.lines if ln.lane_id == "nb-1")
    lines = tuple(
        type(ln)(ln.line_id, ln.lane_id, ln.p1, ln.p2, ln.normal, margin, ln.directions)
        for ln in lines
    )
    table = TrackTable()
    counter = LineCounter(lines, table)
    out = []
    for i, y in enumerate(ys):
        slots, _ = table.slots_for(np.array([7]), i * dt)
        out += counter.update(slots, np.array([[x, y]]), i * dt)
    return out


def test_straight_pass_counts_once_forward():
    out = drive([8 + 0.8 * i for i in range(20)])
    assert [c.direction for c in out] == ["forward"]


def test_reverse_pass_counts_once_reverse():
    out = drive([22 - 0.8 * i for i in range(20)])
    assert [c.direction for c in out] == ["reverse"]


@pytest.mark.parametrize(
    "ys",
    [
        [12, 13.8, 14.3, 13.9, 14.4, 13.7, 14.2, 15.5, 17],  # flicker on the line, then past
        [12, 14.5, 13.5, 14.5, 13.5, 14.5, 16, 18],
    ],
)
def test_flicker_on_the_line_counts_once(ys):
    assert len(drive(ys)) == 1


def test_flicker_inside_the_band_without_leaving_it_counts_nothing():
    assert drive([12, 13.5, 14.5, 13.5, 14.5, 13.6, 14.4, 12]) == []


def test_zero_margin_counts_every_jitter_crossing():
    # Shows what the hysteresis is for: without a band, jitter is counted.
    assert len(drive([12, 13.5, 14.5, 13.5, 14.5, 16], margin=0.0)) >= 3


def test_first_observed_position_is_not_a_crossing():
    assert drive([16, 17, 18, 19]) == []
    assert drive([14.2, 15.5, 17]) == []  # first seen inside the band, leaves forward


def test_crossing_outside_the_segment_is_not_counted():
    assert drive([8 + 0.8 * i for i in range(20)], x=-1.75) == []


def test_crossing_time_is_interpolated_at_the_line():
    out = drive([10, 12, 16, 18], dt=1.0)  # y = 14 reached half-way between t=1 and t=2
    assert out and abs(out[0].ts - 1.5) < 1e-9


def test_vehicle_on_the_boundary_of_two_lanes_counts_once():
    cam = camera(
        lanes=[
            {"lane_id": "a", "centerline": [[1.75, 4], [1.75, 60]], "width_m": 3.5},
            {"lane_id": "b", "centerline": [[5.25, 4], [5.25, 60]], "width_m": 3.5},
        ],
        lines=[
            {"line_id": "a", "lane_id": "a", "world": [[0, 14], [3.5, 14]]},
            {"line_id": "b", "lane_id": "b", "world": [[3.5, 14], [7, 14]]},
        ],
        zones=[],
    )
    table = TrackTable()
    counter = LineCounter(cam.lines, table)
    out = []
    for i, y in enumerate(np.arange(8.0, 22.0, 0.8)):
        slots, _ = table.slots_for(np.array([1]), i * 0.1)
        out += counter.update(slots, np.array([[3.6, y]]), i * 0.1)
    assert [cam.lines[c.line_index].line_id for c in out] == ["b"]
