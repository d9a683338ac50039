"""Builders for simulator tests: small scenario specs with chosen switches."""

from __future__ import annotations

from typing import Any

from itscam.sim.scenario import Scenario


def straight_spec(**events: Any) -> dict:
    """A 2+2-lane straight road with one camera; ``events`` switch disturbances on."""
    return {
        "name": "unit-straight",
        "duration_s": 120,
        "fps": 5,
        "seed": 3,
        "interval_s": 60,
        "layout": {
            "kind": "straight",
            "lanes_forward": 2,
            "lanes_backward": 2,
            "lane_width": 3.5,
            "heading_deg": 90,
        },
        "cameras": [
            {
                "camera_id": "unit-cam",
                "x": 10.5,
                "y": -35.0,
                "height_m": 9.0,
                "yaw_deg": 99.0,
                "tilt_deg": 21.0,
                "hfov_deg": 62,
                "look": "day",
                "count_at_s": -5.0,
            }
        ],
        "traffic": {"demand_veh_h": 600, "lane_changes": True},
        "events": events,
    }


def scenario(**events: Any) -> Scenario:
    return Scenario(straight_spec(**events))
