"""Homography fit, validation and projection."""

from __future__ import annotations

import numpy as np
import pytest

from itscam.domain.geometry import Homography, apply_h, fit_homography, validate_homography
from itscam.errors import GeometryError
from tests.unit.domain.factories import CALIB

IMG = np.array([p["image"] for p in CALIB], np.float64)
WLD = np.array([p["world"] for p in CALIB], np.float64)


def test_fit_maps_calibration_points_to_world_within_centimetres():
    h = Homography.from_points(IMG, WLD, camera_id="c", image_size=(640, 360))
    assert np.abs(h.to_world(IMG) - WLD).max() < 0.05


def test_image_world_round_trip_is_identity():
    h = Homography.from_points(IMG, WLD, camera_id="c")
    uv = np.array([[10.0, 350.0], [320.0, 180.0], [600.0, 100.0]])
    assert np.allclose(h.to_image(h.to_world(uv)), uv, atol=1e-6)


def test_exact_four_point_fit_reproduces_a_known_homography():
    H = np.array([[0.05, 0.01, -3.0], [0.002, -0.2, 70.0], [0.0001, 0.004, 1.0]])
    uv = np.array([[50.0, 300.0], [600.0, 310.0], [200.0, 80.0], [450.0, 90.0]])
    fitted = fit_homography(uv, apply_h(H, uv), camera_id="c")
    assert np.allclose(fitted, H / H[2, 2], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("image", "world", "match"),
    [
        ([[0, 0], [10, 0], [20, 0], [30, 0]], [[0, 0], [1, 0], [0, 1], [1, 1]], "collinear"),
        ([[0, 0], [100, 0], [0, 100], [100, 100]], [[0, 0], [1, 1], [2, 2], [3, 3]], "collinear"),
        # three of four points on one line
        ([[0, 0], [50, 0], [100, 0], [50, 80]], [[0, 0], [1, 0], [0, 1], [1, 1]], "collinear"),
        ([[0, 0], [100, 0], [0, 100]], [[0, 0], [1, 0], [0, 1]], "at least 4"),
        ([[0, 0], [0, 0], [0, 100], [100, 100]], [[0, 0], [1, 0], [0, 1], [1, 1]], "duplicated"),
        ([[0, 0], [700, 0], [0, 100], [100, 100]], [[0, 0], [1, 0], [0, 1], [1, 1]], "outside"),
        ([[0, 0], [100, 0], [0, 100], [np.nan, 100]], [[0, 0], [1, 0], [0, 1], [1, 1]], "finite"),
    ],
)
def test_bad_calibration_is_rejected_naming_camera_and_field(image, world, match):
    with pytest.raises(GeometryError, match=match) as e:
        fit_homography(
            np.array(image, float),
            np.array(world, float),
            camera_id="cam-x",
            field="calibration.points",
            image_size=(640, 360),
        )
    assert "cam-x" in str(e.value) and "calibration.points" in str(e.value)


def test_inconsistent_extra_point_is_rejected():
    world = WLD.copy()
    world[4] = [5.0, 40.0]  # mistyped pair
    with pytest.raises(GeometryError, match="RMS"):
        fit_homography(IMG, world, camera_id="c")


@pytest.mark.parametrize(
    "H",
    [
        np.zeros((3, 3)),
        np.array([[1, 2, 3], [2, 4, 6], [0, 0, 1]], float),  # rank 2
        np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], float),  # H[2][2] == 0
        np.full((3, 3), np.inf),
        np.eye(2),
    ],
)
def test_degenerate_homographies_are_rejected(H):
    with pytest.raises(GeometryError, match="cam-x"):
        validate_homography(H, camera_id="cam-x")


def test_homography_is_normalised_and_flattened_row_major():
    h = Homography(np.diag([2.0, 2.0, 2.0]) + np.array([[0, 0, 4.0], [0, 0, 0], [0, 0, 0]]))
    assert h.H[2, 2] == 1.0
    assert h.flat() == [1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_footprint_centre_removes_the_bottom_edge_bias_of_oblique_views():
    from itscam.domain.geometry import footprint_centres

    # An oblique camera: a car in the far lane has its box bottom at the near corner.
    h = Homography.from_points(IMG, WLD, camera_id="c")
    centre = np.array([[-5.25, 20.0]])
    t = np.array([[0.0, 1.0]])
    size = np.array([[4.5, 1.8]])
    hl, hw = 2.25, 0.9
    corners = np.array(
        [[-5.25 - hw, 20 - hl], [-5.25 + hw, 20 - hl], [-5.25 - hw, 20 + hl], [-5.25 + hw, 20 + hl]]
    )
    uv = h.to_image(corners)
    anchor = np.array([[(uv[:, 0].min() + uv[:, 0].max()) / 2, uv[:, 1].max()]])
    raw = h.to_world(anchor)
    fixed = footprint_centres(h.H, h.H_inv, anchor, t, size, iterations=4)
    assert np.abs(raw - centre).max() > 1.0  # the raw point is metres off
    assert np.abs(fixed - centre).max() < 0.15
    untouched = footprint_centres(h.H, h.H_inv, anchor, np.zeros((1, 2)), size)
    assert np.allclose(untouched, raw)
