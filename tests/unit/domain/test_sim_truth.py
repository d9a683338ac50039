"""The analyzer against the simulator's ground truth (projected boxes, no rendering)."""

from __future__ import annotations

from collections import Counter

import pytest

from itscam.domain.analyzer import CameraAnalyzer
from itscam.domain.registry import parse_camera
from tests.unit.domain.factories import sim_detection_frames

pytestmark = pytest.mark.slow


def overlap(a: dict, b: dict) -> bool:
    a_end = a["end_ts"] if a["end_ts"] is not None else float("inf")
    return a["start_ts"] <= b["end_ts"] + 5 and b["start_ts"] <= a_end + 5


def test_rural_scenario_counts_and_events_match_ground_truth():
    from itscam.sim.scenario import Scenario

    sc = Scenario.load("rural_rain")
    cam_id = sc.cameras[0].camera_id
    truth = sc.ground_truth()
    an = CameraAnalyzer(parse_camera(sc.camera_config(cam_id)))
    crossings, events = [], {}
    for seq, (ts, det) in enumerate(sim_detection_frames(sc, cam_id, sc.duration_s)):
        if det is None:
            continue
        out = an.update(ts, seq, det)
        crossings += out.crossings
        events.update({e["event_id"]: e for e in out.events})
    want = Counter(
        (x["lane_id"], x["direction"])
        for x in truth.crossings
        if x["camera_id"] == cam_id and x["camera_online"]
    )
    got = Counter((c["lane_id"], c["direction"]) for c in crossings)
    for key, n in want.items():
        if n >= 20:
            assert abs(got[key] - n) <= 0.05 * n, (key, n, got[key])
    ours = list(events.values())
    for te in (e for e in truth.events if e["camera_id"] == cam_id):
        matches = [e for e in ours if e["event_type"] == te["type"] and overlap(e, te)]
        assert matches, te
    assert len(ours) == len([e for e in truth.events if e["camera_id"] == cam_id])
