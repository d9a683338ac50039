import math

import numpy as np
import pytest

from itscam.errors import GeometryError
from itscam.sim.camera import PinholeCamera, apply_homography, clip_polygon_near


def _cam(**kw) -> PinholeCamera:
    base = dict(hfov_deg=60, x=3.0, y=-20.0, height=9.0, yaw_deg=95.0, tilt_deg=18.0, roll_deg=1.5)
    base.update(kw)
    return PinholeCamera.from_hfov(**base)


@pytest.mark.parametrize("yaw,tilt,height", [(0, 10, 5), (95, 18, 9), (225, 35, 14), (300, 60, 30)])
def test_homography_equals_projection_of_road_points(yaw: float, tilt: float, height: float):
    cam = _cam(yaw_deg=yaw, tilt_deg=tilt, height=height)
    rng = np.random.default_rng(0)
    # Road points in front of the camera, 5-80 m ahead, +-20 m sideways.
    fwd = np.array([math.cos(math.radians(yaw)), math.sin(math.radians(yaw))])
    side = np.array([-fwd[1], fwd[0]])
    pts = (
        np.array([cam.x, cam.y])
        + rng.uniform(5, 80, (50, 1)) * fwd
        + rng.uniform(-20, 20, (50, 1)) * side
    )
    uv, z = cam.project(np.column_stack([pts, np.zeros(50)]))
    assert np.all(z > 0)
    np.testing.assert_allclose(apply_homography(cam.homography, pts), uv, atol=1e-6)


def test_image_to_ground_inverts_projection():
    cam = _cam()
    uv = np.array([[10.0, 300.0], [320.0, 180.0], [600.0, 350.0]])
    ground = cam.image_to_ground(uv)
    back, _ = cam.project(np.column_stack([ground, np.zeros(3)]))
    np.testing.assert_allclose(back, uv, atol=1e-6)


def test_pixel_above_horizon_has_no_ground_point():
    cam = _cam(tilt_deg=5)
    with pytest.raises(GeometryError, match="horizon"):
        cam.image_to_ground(np.array([[320.0, 0.0]]))


def test_principal_ray_hits_road_at_tilt_distance():
    cam = _cam(roll_deg=0.0)
    g = cam.image_to_ground(np.array([[320.0, 180.0]]))[0]
    assert math.hypot(g[0] - cam.x, g[1] - cam.y) == pytest.approx(
        cam.height / math.tan(math.radians(cam.tilt_deg))
    )


def test_resized_keeps_the_view():
    cam = _cam()
    big = cam.resized(1280, 720)
    pts = np.array([[5.0, 10.0, 0.0], [-3.0, 40.0, 1.5]])
    np.testing.assert_allclose(big.project(pts)[0], cam.project(pts)[0] * 2, atol=1e-9)


@pytest.mark.parametrize(
    "kw,msg", [({"height": 0}, "height"), ({"tilt_deg": 0}, "tilt"), ({"tilt_deg": 95}, "tilt")]
)
def test_invalid_camera_is_rejected(kw: dict, msg: str):
    with pytest.raises(GeometryError, match=msg):
        _cam(**kw)


def test_near_plane_clipping_keeps_front_part():
    poly = np.array([[0, 0, -1.0], [1, 0, 2.0], [1, 1, 2.0], [0, 1, -1.0]])
    out = clip_polygon_near(poly, near=0.5)
    assert len(out) == 4 and np.all(out[:, 2] >= 0.5 - 1e-12)
    assert len(clip_polygon_near(poly - [0, 0, 5], near=0.5)) == 0
