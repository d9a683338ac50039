"""Robust speed from world-plane track history."""

from __future__ import annotations

import numpy as np
import pytest

from itscam.domain.analyzer import CameraAnalyzer
from itscam.domain.speed import TrackTable
from tests.unit.domain.factories import camera, frame


def feed(table: TrackTable, pts: np.ndarray, dt: float = 0.1) -> np.ndarray:
    slots = None
    for i, p in enumerate(pts):
        slots, _ = table.slots_for(np.array([1]), i * dt)
        table.observe(slots, i * dt, p[None], np.array([0]), np.array([0.9]))
    return table.velocity(slots, (len(pts) - 1) * dt, 1.0)[0]


@pytest.mark.parametrize("kmh", [5.0, 30.0, 50.0, 100.0])
def test_velocity_of_a_jittered_track_is_within_3_percent(kmh):
    rng = np.random.default_rng(1)
    v = kmh / 3.6
    t = np.arange(15) * 0.1
    pts = np.c_[1.75 + rng.normal(0, 0.05, 15), 5 + v * t + rng.normal(0, 0.05, 15)]
    est = feed(TrackTable(), pts)
    assert abs(np.hypot(*est) - v) / v < 0.03 or abs(np.hypot(*est) - v) < 0.1


def test_one_outlier_box_barely_moves_the_estimate():
    v = 15.0
    t = np.arange(15) * 0.1
    pts = np.c_[np.zeros(15), v * t]
    pts[12, 1] += 3.0  # a clipped or jumping box
    est = feed(TrackTable(), pts)
    assert abs(est[1] - v) < 1.0


def test_too_few_samples_give_nan():
    est = feed(TrackTable(), np.array([[0.0, 0.0], [0.0, 1.0]]))
    assert np.isnan(est).all()


def test_crossing_speed_through_the_homography_matches_truth():
    cam = camera()
    an = CameraAnalyzer(cam)
    v = 50 / 3.6
    speeds = []
    for i in range(40):
        out = an.update(1000.0 + i * 0.1, i, frame(cam, [(1.75, 6 + v * i * 0.1)]))
        speeds += [c["speed_kmh"] for c in out.crossings]
    assert len(speeds) == 1 and abs(speeds[0] - 50) < 1.5
