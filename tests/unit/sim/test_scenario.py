import numpy as np
import pytest

from itscam.domain.registry import parse_camera
from itscam.errors import ConfigError
from itscam.sim.camera import apply_homography
from itscam.sim.scenario import Scenario, shipped_scenarios
from tests.unit.sim.factories import scenario, straight_spec


def _events(truth, kind: str) -> list[dict]:
    return [e for e in truth.events if e["type"] == kind]


def test_at_least_four_scenarios_with_different_geometries_ship():
    names = shipped_scenarios()
    assert len(names) >= 4
    geos = {
        (s.layout.kind, tuple((r.lanes_forward, r.lanes_backward) for r in s.layout.roads))
        for s in map(Scenario.load, names)
    }
    assert len(geos) >= 4
    assert all(Scenario.load(n).duration_s == 600 for n in names)


@pytest.mark.parametrize("name", shipped_scenarios())
def test_camera_config_is_a_valid_registry_entry(name: str):
    sc = Scenario.load(name)
    for raw in sc.camera_configs():
        cfg = parse_camera(raw)
        assert len(raw["calibration"]["points"]) >= 4
        assert {ln.lane_id for ln in cfg.lanes} <= {ln.id for ln in sc.layout.lanes}
        # The exported calibration reproduces the exact camera homography on the lanes.
        pts = np.concatenate([ln.centerline for ln in cfg.lanes])
        exact = apply_homography(sc.homography(cfg.camera_id), pts)
        fitted = apply_homography(np.linalg.inv(cfg.homography.H), pts)
        np.testing.assert_allclose(fitted, exact, atol=0.1)


def test_stalled_vehicle_switch_produces_its_event():
    on = scenario(stalled_vehicle={"start_s": 10, "end_s": 70, "lane": "main_f2", "at_s": 10})
    truth = on.ground_truth(duration_s=100)
    (ev,) = _events(truth, "stalled_vehicle")
    assert on.start_ts + 10 <= ev["start_ts"] < on.start_ts + 40
    assert ev["end_ts"] == pytest.approx(on.start_ts + 70, abs=0.5)
    assert ev["lane_id"] == "main_f2"
    assert not _events(scenario().ground_truth(duration_s=100), "stalled_vehicle")


def test_incident_switch_produces_an_incident_and_its_stalled_vehicles():
    inc = {"start_s": 10, "end_s": 70, "lanes": ["main_f1", "main_f2"], "at_s": 0.0}
    on = scenario(incident=inc)
    truth = on.ground_truth(duration_s=100)
    (ev,) = _events(truth, "incident")
    assert on.start_ts + 10 <= ev["start_ts"] < on.start_ts + 60
    assert ev["end_ts"] == pytest.approx(on.start_ts + 70, abs=0.5)
    assert ev["zone_id"] == "unit-cam-incident" and len(ev["track_ids"]) == 2
    # each vehicle of the collision stands in its own lane: a stalled vehicle there too
    stalled = _events(truth, "stalled_vehicle")
    assert sorted(e["lane_id"] for e in stalled) == ["main_f1", "main_f2"]
    assert sorted(e["track_id"] for e in stalled) == ev["track_ids"]
    assert all(e["start_ts"] >= ev["start_ts"] and e["end_ts"] <= ev["end_ts"] for e in stalled)
    off = scenario().ground_truth(duration_s=100)
    assert not _events(off, "incident") and not _events(off, "stalled_vehicle")


def test_an_incidents_vehicles_brake_hard_and_stop_side_by_side_where_it_says():
    from itscam.sim.traffic import TrafficSim

    inc = {"start_s": 5, "end_s": 60, "lanes": ["main_f1", "main_f2"], "at_s": 0.0}
    sc = scenario(incident=inc)
    sim = TrafficSim(sc.layout, sc.traffic, sc.seed)
    speeds: dict[int, list[float]] = {}
    while sim.t < 50:
        sim.step(0.1)
        for v in sim.vehicles:
            if v.id in sim.incident_ids:
                speeds.setdefault(v.id, []).append(v.v)
    first, second = sim.incident_ids
    cars = {v.id: v for v in sim.vehicles}
    assert (cars[first].lane.id, cars[second].lane.id) == ("main_f1", "main_f2")
    road = sc.layout.road(cars[first].lane.road_id)
    front = {i: cars[i].p + cars[i].length / 2 - road.half_length for i in (first, second)}
    assert front[first] == pytest.approx(0.0, abs=0.3)  # the first stops at at_s
    assert -12.3 <= front[second] <= -1.7  # the other beside it, a little further back
    for vid, vs in speeds.items():
        assert vs[-1] == 0.0 and cars[vid].stalled_since is not None
        stop = vs.index(0.0)
        braking = [(vs[k - 1] - vs[k]) / 0.1 for k in range(1, stop) if vs[k] < vs[k - 1]]
        assert max(braking) >= 6.0  # hard, not a comfortable stop


@pytest.mark.parametrize(
    ("incident", "message"),
    [
        ({"start_s": 5, "end_s": 60, "lanes": ["main_f1"], "at_s": 0.0}, "lanes"),
        ({"start_s": 5, "end_s": 60, "lanes": ["main_f1", "main_f1"], "at_s": 0.0}, "lanes"),
        (
            {
                "start_s": 5,
                "end_s": 60,
                "lanes": ["main_f1", "main_f2"],
                "at_s": 0.0,
                "decel_mps2": 20,
            },
            "decel_mps2",
        ),
        ({"start_s": 60, "end_s": 5, "lanes": ["main_f1", "main_f2"], "at_s": 0.0}, "end_s"),
    ],
)
def test_a_bad_incident_switch_fails_at_load_naming_the_field(incident, message):
    with pytest.raises(ConfigError, match=message):
        scenario(incident=incident)


def test_wrong_way_switch_produces_event_and_reverse_crossing():
    on = scenario(wrong_way={"start_s": 5, "lane": "main_b1", "speed_mps": 10.0})
    truth = on.ground_truth(duration_s=70)
    (ev,) = _events(truth, "wrong_way")
    reverse = [c for c in truth.crossings if c["direction"] == "reverse"]
    assert len(reverse) == 1 and reverse[0]["track_id"] == ev["track_id"]
    assert ev["start_ts"] <= reverse[0]["ts"] <= ev["end_ts"]
    off = scenario().ground_truth(duration_s=70)
    assert not _events(off, "wrong_way")
    assert all(c["direction"] == "forward" for c in off.crossings)


def test_congestion_switch_produces_congestion_events():
    c = {
        "start_s": 0,
        "end_s": 240,
        "road": "main",
        "direction": 1,
        "at_s": 40,
        "length_m": 60,
        "speed_mps": 1.0,
    }
    truth = scenario(congestion=c).ground_truth(duration_s=240)
    lanes = {e["lane_id"] for e in _events(truth, "congestion")}
    assert lanes and lanes <= {"main_f1", "main_f2"}
    assert not _events(scenario().ground_truth(duration_s=240), "congestion")


def test_camera_outage_drops_frames_and_is_an_event():
    sc = scenario(camera_outage={"camera": "unit-cam", "start_s": 2, "end_s": 4})
    truth_steps = list(sc.run(duration_s=6, every=5, render=True))
    missing = [s.t for s in truth_steps if s.frames["unit-cam"] is None]
    assert missing == [2.0, 3.0]
    truth = sc.ground_truth(duration_s=6)
    (ev,) = _events(truth, "camera_offline")
    assert (ev["start_ts"] - sc.start_ts, ev["end_ts"] - sc.start_ts) == (2.0, 4.0)


def test_crossings_are_counted_per_interval_and_class():
    sc = scenario()
    truth = sc.ground_truth(duration_s=120)
    assert len(truth.crossings) > 10
    counts = truth.counts()
    assert sum(r["count"] for r in counts) == len(truth.crossings)
    assert {r["interval_start"] for r in counts} <= {sc.start_ts, sc.start_ts + 60}
    for c in truth.crossings:
        assert c["lane_id"] in {"main_f1", "main_f2", "main_b1", "main_b2"}


def test_ground_truth_is_deterministic_by_seed():
    a = scenario().ground_truth(duration_s=60)
    b = scenario().ground_truth(duration_s=60)
    assert a.to_dict() == b.to_dict()


def test_per_frame_truth_carries_ids_speed_and_world_position():
    sc = scenario()
    step = list(sc.run(duration_s=4, every=20))[-1]
    frame = step.frames["unit-cam"]
    assert frame.boxes
    ids = [b.track_id for b in frame.boxes]
    assert len(set(ids)) == len(ids)
    assert all(b.speed >= 0 and b.lane_id for b in frame.boxes)


def test_unknown_class_in_mix_is_a_config_error():
    spec = straight_spec()
    spec["traffic"]["class_mix"] = {"car": 1.0, "tractor": 0.1}
    with pytest.raises(ConfigError, match="class_mix"):
        Scenario(spec)


def test_a_lane_changer_crosses_the_line_in_the_lane_it_physically_occupies():
    from types import SimpleNamespace as NS

    from itscam.sim.scenario import _TruthTracker

    f1 = NS(id="main_f1", direction=1, offset=1.75)
    f2 = NS(id="main_f2", direction=1, offset=5.25)
    b1 = NS(id="main_b1", direction=-1, offset=-1.75)
    road = NS(lanes=[b1, f1, f2])
    # Decided to move f1 -> f2 a moment ago: lane is already f2, the glide still
    # leaves it 3.2 m back towards f1 (centre at 2.05: inside f1).
    v = NS(lane=f2, lateral=-3.2)
    assert _TruthTracker._physical_lane(v, road) is f1
    v.lateral = -1.0  # centre at 4.25: now in f2
    assert _TruthTracker._physical_lane(v, road) is f2
    v.lateral = 0.0
    assert _TruthTracker._physical_lane(v, road) is f2
