"""Pinhole camera over a flat road plane.

World frame: metres, X east, Y north, Z up; the road surface is the plane Z = 0.
Camera frame: x right, y down, z forward (OpenCV convention). Image pixels: u to
the right, v down, origin at the top-left pixel *corner*, so the centre of pixel
(0, 0) is (0.5, 0.5).

Because the road is a plane, road-plane points ``(X, Y)`` map to pixels through
an exact 3x3 homography ``H = K [r1 r2 t]`` (``r1``, ``r2`` the first two
columns of the world-to-camera rotation, ``t = -R C``). The simulator renders
with the same ``K``, ``R``, ``C``, so the homography exported as the camera's
calibration is exact, not fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from itscam.errors import GeometryError

#: Points closer than this in front of the camera (metres) are clipped away.
NEAR_PLANE_M = 0.5


@dataclass(frozen=True)
class PinholeCamera:
    """A camera at ``(x, y, height)`` looking along ``yaw_deg`` tilted down by ``tilt_deg``.

    Attributes:
        x, y: camera position on the road plane (metres).
        height: mounting height above the road (metres, > 0).
        yaw_deg: heading of the optical axis, counter-clockwise from +X (degrees).
        tilt_deg: angle below the horizon of the optical axis (degrees, 0 < tilt < 90).
        focal_px: focal length in pixels at ``width`` x ``height_px``.
        width, height_px: image size in pixels.
        roll_deg: rotation about the optical axis (degrees), small for real poles.
    """

    x: float
    y: float
    height: float
    yaw_deg: float
    tilt_deg: float
    focal_px: float
    width: int = 640
    height_px: int = 360
    roll_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.height <= 0:
            raise GeometryError(f"camera height must be > 0 m, got {self.height}")
        if not 0 < self.tilt_deg < 90:
            raise GeometryError(f"camera tilt must be in (0, 90) degrees, got {self.tilt_deg}")
        if self.focal_px <= 0 or self.width <= 0 or self.height_px <= 0:
            raise GeometryError("camera focal length and image size must be positive")

    @classmethod
    def from_hfov(
        cls, *, hfov_deg: float, width: int = 640, height_px: int = 360, **kw: float
    ) -> PinholeCamera:
        """Build from a horizontal field of view instead of a focal length."""
        focal = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(focal_px=focal, width=width, height_px=height_px, **kw)

    def resized(self, width: int, height_px: int) -> PinholeCamera:
        """The same view at another resolution (focal length scaled with the width)."""
        s = width / self.width
        return PinholeCamera(
            self.x,
            self.y,
            self.height,
            self.yaw_deg,
            self.tilt_deg,
            self.focal_px * s,
            width,
            height_px,
            self.roll_deg,
        )

    @property
    def center(self) -> np.ndarray:
        """``(3,)`` camera centre in world metres."""
        return np.array([self.x, self.y, self.height], dtype=np.float64)

    @property
    def K(self) -> np.ndarray:
        """``(3, 3)`` intrinsics; principal point at the image centre."""
        return np.array(
            [[self.focal_px, 0, self.width / 2], [0, self.focal_px, self.height_px / 2], [0, 0, 1]],
            dtype=np.float64,
        )

    @property
    def R(self) -> np.ndarray:
        """``(3, 3)`` world-to-camera rotation; rows are the camera's right, down, forward axes."""
        yaw, tilt = math.radians(self.yaw_deg), math.radians(self.tilt_deg)
        fwd = np.array(
            [math.cos(tilt) * math.cos(yaw), math.cos(tilt) * math.sin(yaw), -math.sin(tilt)]
        )
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(fwd, right)
        if self.roll_deg:
            a = math.radians(self.roll_deg)
            right, down = (
                math.cos(a) * right + math.sin(a) * down,
                -math.sin(a) * right + math.cos(a) * down,
            )
        return np.stack([right, down, fwd])

    def world_to_camera(self, pts: np.ndarray) -> np.ndarray:
        """``(N, 3)`` world points -> ``(N, 3)`` camera-frame points."""
        return (np.asarray(pts, np.float64) - self.center) @ self.R.T

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project ``(N, 3)`` world points.

        Returns ``(uv, z)``: ``(N, 2)`` pixel coordinates and ``(N,)`` depths along
        the optical axis (metres). Points with ``z <= 0`` are behind the camera and
        their ``uv`` is meaningless.
        """
        pc = self.world_to_camera(pts)
        z = pc[:, 2]
        zs = np.where(np.abs(z) < 1e-9, 1e-9, z)
        uv = np.stack(
            [
                self.focal_px * pc[:, 0] / zs + self.width / 2,
                self.focal_px * pc[:, 1] / zs + self.height_px / 2,
            ],
            axis=1,
        )
        return uv, z

    @property
    def homography(self) -> np.ndarray:
        """``(3, 3)`` road plane ``(X, Y, 1)`` -> image ``(u, v, 1)``, scaled so ``H[2, 2] = 1``."""
        R = self.R
        t = -R @ self.center
        H = self.K @ np.column_stack([R[:, 0], R[:, 1], t])
        return H / H[2, 2]

    def image_to_ground(self, uv: np.ndarray) -> np.ndarray:
        """``(N, 2)`` pixels -> ``(N, 2)`` road-plane metres, by casting each pixel's ray.

        Raises GeometryError for pixels at or above the horizon (their ray never
        meets the road in front of the camera).
        """
        uv = np.asarray(uv, np.float64).reshape(-1, 2)
        rays_cam = np.column_stack(
            [
                (uv[:, 0] - self.width / 2) / self.focal_px,
                (uv[:, 1] - self.height_px / 2) / self.focal_px,
                np.ones(len(uv)),
            ]
        )
        rays = rays_cam @ self.R  # camera -> world directions (R is orthonormal)
        if np.any(rays[:, 2] >= -1e-9):
            raise GeometryError("pixel at or above the horizon has no road-plane point")
        s = -self.height / rays[:, 2]
        return self.center[:2] + rays[:, :2] * s[:, None]


def apply_homography(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map ``(N, 2)`` points through a ``(3, 3)`` homography; returns ``(N, 2)``."""
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    q = np.column_stack([p, np.ones(len(p))]) @ np.asarray(H, np.float64).T
    return q[:, :2] / q[:, 2:3]


def clip_polygon_near(cam_pts: np.ndarray, near: float = NEAR_PLANE_M) -> np.ndarray:
    """Clip a convex polygon given in camera coordinates ``(N, 3)`` to ``z >= near``.

    Sutherland-Hodgman against one plane; returns ``(M, 3)`` (M may be 0).
    """
    out: list[np.ndarray] = []
    n = len(cam_pts)
    for i in range(n):
        a, b = cam_pts[i], cam_pts[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))
