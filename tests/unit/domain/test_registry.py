"""Camera registry: the shipped YAML loads; bad geometry names the camera and the field."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from itscam.domain.registry import load_registry, parse_camera, parse_registry
from itscam.errors import ConfigError, GeometryError
from itscam.settings import REPO_ROOT
from tests.unit.domain.factories import camera_dict


def test_shipped_registry_loads_with_lines_and_zones_for_every_lane():
    reg = load_registry(REPO_ROOT / "config" / "cameras.yaml")
    assert len(reg) >= 2
    for cam in reg:
        counted = {ln.lane_id for ln in cam.lines}
        detected = {z.lane_id for z in cam.zones if z.kind == "detector"}
        assert counted == detected == {ln.lane_id for ln in cam.lanes}
        row = cam.to_row()
        assert len(row["homography"]) == 9 and row["config"]["camera_id"] == cam.camera_id


def test_image_and_world_lines_describe_the_same_place():
    reg = load_registry(REPO_ROOT / "config" / "cameras.yaml")
    cam = reg.get("cam-main-5th")
    line = next(ln for ln in cam.lines if ln.line_id == "sb-2-count")  # given in pixels
    assert np.allclose([line.p1[1], line.p2[1]], 14.0, atol=0.1)


def test_line_normal_points_along_travel_direction():
    cam = parse_camera(camera_dict())
    nb = next(ln for ln in cam.lines if ln.lane_id == "nb-1")
    sb = next(ln for ln in cam.lines if ln.lane_id == "sb-1")
    assert nb.normal[1] > 0.99 and sb.normal[1] < -0.99


def test_lane_without_line_gets_a_default_line_and_detector_zone():
    cam = parse_camera(camera_dict(lines=[]))
    assert {ln.line_id for ln in cam.lines} == {"nb-1:count", "sb-1:count"}
    assert {z.zone_id for z in cam.zones if z.kind == "detector"} == {
        "nb-1:detector",
        "sb-1:detector",
    }


def _bad(**over):
    return camera_dict(**over)


@pytest.mark.parametrize(
    ("camera", "field", "exc"),
    [
        (
            _bad(
                calibration={
                    "points": [
                        {"image": [10 * i, 10 * i], "world": [i, 2 * i]} for i in range(1, 6)
                    ]
                }
            ),
            "calibration",
            GeometryError,
        ),
        (
            _bad(calibration={"homography": [[1, 2, 3], [2, 4, 6], [0, 0, 1]]}),
            "calibration.homography",
            GeometryError,
        ),
        (
            _bad(lines=[{"line_id": "l", "lane_id": "nb-1", "image": [[100, 200], [900, 200]]}]),
            "lines[l].image",
            GeometryError,
        ),
        (
            _bad(lines=[{"line_id": "l", "lane_id": "nb-1", "world": [[0, 14], [3.5, 400]]}]),
            "lines[l].world",
            GeometryError,
        ),
        (
            _bad(lines=[{"line_id": "l", "lane_id": "nb-1", "world": [[1.75, 10], [1.75, 20]]}]),
            "lines[l]",
            GeometryError,
        ),
        (
            _bad(lines=[{"line_id": "l", "lane_id": "nope", "world": [[0, 14], [3.5, 14]]}]),
            "lines[l].lane_id",
            ConfigError,
        ),
        (
            _bad(zones=[{"zone_id": "z", "kind": "queue", "world": [[0, 8], [3, 8], [3, 20]]}]),
            "zones[z].lane_id",
            ConfigError,
        ),
        (
            _bad(zones=[{"zone_id": "z", "kind": "incident", "image": [[0, 0], [1, 1]]}]),
            "zones[z].image",
            GeometryError,
        ),
        (
            _bad(zones=[{"zone_id": "z", "kind": "blob", "world": [[0, 8], [3, 8], [3, 20]]}]),
            "zones[z].kind",
            ConfigError,
        ),
        (
            _bad(lanes=[{"lane_id": "a", "centerline": [[0, 4]], "width_m": 3.5}]),
            "lanes[a].centerline",
            GeometryError,
        ),
        (_bad(analysis={"stall_seconds": 3}), "analysis", ConfigError),
    ],
)
def test_bad_geometry_is_rejected_naming_camera_and_field(camera, field, exc):
    with pytest.raises(exc) as e:
        parse_camera(camera)
    msg = str(e.value)
    assert "cam-test" in msg and field in msg, msg


def test_duplicate_camera_and_unknown_camera_are_config_errors(tmp_path):
    doc = {"version": 1, "cameras": [camera_dict(), camera_dict()]}
    with pytest.raises(ConfigError, match="twice"):
        parse_registry(doc)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "cameras": [camera_dict()]}))
    reg = load_registry(p)
    with pytest.raises(ConfigError, match="unknown camera 'x'"):
        reg.get("x")


def test_defaults_are_merged_under_camera_analysis():
    doc = {
        "version": 1,
        "defaults": {"analysis": {"stall_s": 7, "min_hits": 4}},
        "cameras": [camera_dict(analysis={"min_hits": 5})],
    }
    cam = parse_registry(doc).get("cam-test")
    assert (cam.params.stall_s, cam.params.min_hits) == (7.0, 5)


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="ITSCAM_CAMERAS_FILE"):
        load_registry(tmp_path / "none.yaml")
