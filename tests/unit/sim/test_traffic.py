import itertools
import math

import pytest

from itscam.sim.geometry import straight_layout
from itscam.sim.traffic import TrafficConfig, TrafficSim, idm_accel


def test_idm_free_road_accelerates_and_brakes_for_a_close_stopped_leader():
    assert idm_accel(5.0, 15.0, math.inf, 0.0, "car") > 0
    assert idm_accel(15.0, 15.0, 10.0, 15.0, "car") < -4.0
    assert idm_accel(15.0, 15.0, math.inf, 0.0, "car") == pytest.approx(0.0, abs=1e-9)


def test_vehicles_never_overlap_in_a_lane():
    sim = TrafficSim(straight_layout(), TrafficConfig(demand_veh_h=1200), seed=1)
    for _ in range(600):
        sim.step(0.1)
        for lane in sim.layout.lanes:
            vs = sim.lane_vehicles(lane.id)
            for a, b in itertools.pairwise(vs):
                assert b.p - a.p >= (a.length + b.length) / 2 - 0.05


def test_lane_changes_happen_when_enabled_only():
    def changes(enabled: bool) -> int:
        sim = TrafficSim(
            straight_layout(), TrafficConfig(demand_veh_h=900, lane_changes=enabled), seed=4
        )
        n = 0
        for _ in range(900):
            sim.step(0.1)
            n += sum(1 for v in sim.vehicles if v.lateral)
        return n

    assert changes(True) > 0
    assert changes(False) == 0
