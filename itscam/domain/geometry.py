"""Image <-> road-plane geometry: homography fit, validation and projection.

Conventions:
    * Image points ``(u, v)`` are pixels of the original camera frame, u to the
      right, v down, origin at the top-left pixel corner (as in
      :mod:`itscam.domain.detections`).
    * World points ``(x, y)`` are metres on the road plane (Z = 0) in any right-handed
      frame the camera's calibration chooses (the simulator uses X east, Y north).
    * ``H`` (3x3) maps image -> world: ``[x, y, 1] ~ H @ [u, v, 1]``, normalised to
      ``H[2, 2] = 1``. This is what ``camera_data.cameras.homography`` stores
      (row-major). ``H_inv`` maps world -> image.

Every validation failure raises :class:`~itscam.errors.GeometryError` naming the
camera and the configuration field, so a YAML author can find the bad entry.
"""

from __future__ import annotations

import cv2
import numpy as np

from itscam.errors import GeometryError

#: Condition number of the normalised homography above which we call it degenerate.
MAX_CONDITION = 1e7
#: Reprojection error (metres, RMS) above which a fit from >= 5 points is rejected.
MAX_RMS_M = 0.5


def _where(camera_id: str, field: str) -> str:
    return f"camera {camera_id!r}, field {field!r}"


def apply_h(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map ``(N, 2)`` points through the ``(3, 3)`` homography ``H``; returns ``(N, 2)`` float64.

    Points mapped to infinity (``w == 0``) come back as ``inf``; callers that need
    finite values validate first (see :func:`check_in_front`).
    """
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    q = p @ H[:, :2].T + H[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return q[:, :2] / q[:, 2:3]


def _collinear(pts: np.ndarray, tol: float) -> bool:
    """True when ``(N, 2)`` points lie (nearly) on one line: smallest singular value of
    the centred cloud below ``tol`` times the largest."""
    c = pts - pts.mean(axis=0)
    s = np.linalg.svd(c, compute_uv=False)
    return bool(s[0] == 0 or s[-1] / s[0] < tol)


def _max_collinear_subset(pts: np.ndarray, tol: float) -> bool:
    """True when fewer than 4 points remain once points are grouped by a shared line.

    A homography needs 4 points with no 3 collinear; with more points it suffices
    that some 4 are in general position, i.e. the set is not "all but one on a line".
    """
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            d = pts[j] - pts[i]
            norm = np.hypot(*d)
            if norm == 0:
                continue
            dist = np.abs(d[0] * (pts[:, 1] - pts[i, 1]) - d[1] * (pts[:, 0] - pts[i, 0])) / norm
            spread = np.ptp(pts, axis=0).max()
            if np.count_nonzero(dist <= tol * spread) >= n - 1:
                return True
    return False


def fit_homography(
    image_pts: np.ndarray,
    world_pts: np.ndarray,
    *,
    camera_id: str,
    field: str = "calibration",
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Fit the image -> world homography from ``N >= 4`` point pairs.

    Args:
        image_pts: ``(N, 2)`` pixels.
        world_pts: ``(N, 2)`` road-plane metres.
        camera_id, field: named in error messages.
        image_size: ``(width, height)``; when given, image points must lie inside it.

    Returns:
        ``(3, 3)`` float64 ``H`` with ``H[2, 2] == 1``.

    Raises:
        GeometryError: fewer than 4 pairs, duplicated or collinear points (3 of 4, or
        all but one of N, on a line), points outside the image, a degenerate or
        ill-conditioned homography, or (N >= 5) an RMS reprojection error above
        :data:`MAX_RMS_M`.
    """
    where = _where(camera_id, field)
    img = np.asarray(image_pts, np.float64)
    wld = np.asarray(world_pts, np.float64)
    if img.ndim != 2 or img.shape[1:] != (2,) or wld.shape != img.shape:
        raise GeometryError(
            f"{where}: need matching lists of [u, v] image and [x, y] world points, got shapes "
            f"{img.shape} and {wld.shape}"
        )
    if len(img) < 4:
        raise GeometryError(f"{where}: need at least 4 image<->world point pairs, got {len(img)}")
    if not (np.isfinite(img).all() and np.isfinite(wld).all()):
        raise GeometryError(f"{where}: calibration points must be finite numbers")
    if image_size is not None:
        check_in_image(img, image_size, camera_id=camera_id, field=f"{field}.image")
    for pts, what in ((img, "image"), (wld, "world")):
        if len(np.unique(np.round(pts, 6), axis=0)) < len(pts):
            raise GeometryError(f"{where}: duplicated {what} points; give 4+ distinct pairs")
        if _collinear(pts, 1e-3) or _max_collinear_subset(pts, 1e-3):
            raise GeometryError(
                f"{where}: {what} points are (nearly) collinear; spread 4+ points over the road "
                "area, no 3 of 4 on one line"
            )
    if len(img) == 4:
        H = cv2.getPerspectiveTransform(img.astype(np.float32), wld.astype(np.float32))
        H = np.asarray(H, np.float64)
    else:
        H, _ = cv2.findHomography(img, wld, method=0)
        if H is None:
            raise GeometryError(f"{where}: no homography fits these points (degenerate layout)")
    H = validate_homography(H, camera_id=camera_id, field=field)
    if len(img) > 4:
        rms = float(np.sqrt(np.mean(np.sum((apply_h(H, img) - wld) ** 2, axis=1))))
        if rms > MAX_RMS_M:
            raise GeometryError(
                f"{where}: calibration points disagree (RMS reprojection error {rms:.2f} m > "
                f"{MAX_RMS_M} m); check for a swapped or mistyped pair"
            )
    return H


def validate_homography(H: np.ndarray, *, camera_id: str, field: str = "homography") -> np.ndarray:
    """Check a ``(3, 3)`` homography is finite, invertible and well conditioned.

    Returns it normalised to ``H[2, 2] = 1``. Raises GeometryError otherwise.
    """
    where = _where(camera_id, field)
    H = np.asarray(H, np.float64)
    if H.shape != (3, 3) or not np.isfinite(H).all():
        raise GeometryError(f"{where}: homography must be a finite 3x3 matrix")
    if abs(H[2, 2]) < 1e-12:
        raise GeometryError(f"{where}: degenerate homography (H[2][2] == 0)")
    H = H / H[2, 2]
    # Condition number after scaling rows/cols to unit size: pixel and metre units
    # differ by orders of magnitude, which alone must not count as ill-conditioned.
    d = np.abs(H).max(axis=1, keepdims=True)
    d[d == 0] = 1
    Hn = H / d
    cond = np.linalg.cond(Hn)
    if not np.isfinite(cond) or cond > MAX_CONDITION or abs(np.linalg.det(H)) < 1e-15:
        raise GeometryError(
            f"{where}: degenerate or ill-conditioned homography (condition number {cond:.3g}); "
            "re-measure the calibration points"
        )
    return H


def check_in_image(
    pts: np.ndarray, image_size: tuple[int, int], *, camera_id: str, field: str, tol: float = 0.5
) -> None:
    """Raise GeometryError unless every ``(N, 2)`` pixel lies in ``[0, w] x [0, h]`` (+- ``tol``)."""
    w, h = image_size
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    bad = ~np.isfinite(p).all(axis=1) | (p[:, 0] < -tol) | (p[:, 0] > w + tol)
    bad |= (p[:, 1] < -tol) | (p[:, 1] > h + tol)
    if bad.any():
        first = p[np.argmax(bad)]
        raise GeometryError(
            f"{_where(camera_id, field)}: point ({first[0]:.1f}, {first[1]:.1f}) px lies outside "
            f"the {w}x{h} image"
        )


def check_in_front(
    H_inv: np.ndarray, world_pts: np.ndarray, *, camera_id: str, field: str, sign: float = 1.0
) -> None:
    """Raise GeometryError when a world point maps to or beyond the horizon.

    ``sign`` is the sign of the projective ``w`` of road points in front of the camera
    (the sign at a known visible point, e.g. the image's bottom centre).
    """
    p = np.asarray(world_pts, np.float64).reshape(-1, 2)
    w = (p @ H_inv[2, :2] + H_inv[2, 2]) * sign
    if np.any(w <= 1e-12):
        raise GeometryError(
            f"{_where(camera_id, field)}: a world point lies at or behind the camera's horizon"
        )


def footprint_centres(
    H: np.ndarray,
    H_inv: np.ndarray,
    anchor_uv: np.ndarray,
    heading: np.ndarray,
    size_m: np.ndarray,
    iterations: int = 2,
) -> np.ndarray:
    """Road-plane centres of vehicle footprints from their boxes' bottom-centre pixels.

    A box's bottom-centre is not where the vehicle stands: its bottom edge is the
    footprint corner nearest the camera, so in oblique views the raw point sits up to
    a lane width towards the camera. Model each vehicle as a ``length x width``
    rectangle on the road with the given heading, and solve for the centre whose
    projected footprint has the observed bottom-centre (middle of its image extent
    in u, its lowest point in v) by fixed-point iteration in world coordinates.

    Args:
        H, H_inv: image -> world and world -> image homographies.
        anchor_uv: ``(n, 2)`` observed bottom-centre pixels.
        heading: ``(n, 2)`` unit travel directions on the road (rows of zeros: no
            correction for that vehicle).
        size_m: ``(n, 2)`` nominal footprint (length, width) in metres.

    Returns:
        ``(n, 2)`` footprint centres, metres.
    """
    raw = apply_h(H, anchor_uv)
    if len(raw) == 0:
        return raw
    t = heading
    n = len(t)
    nrm = np.empty((n, 2))
    nrm[:, 0] = -t[:, 1]
    nrm[:, 1] = t[:, 0]
    along = t * (size_m[:, 0] * 0.5)[:, None]
    across = nrm * (size_m[:, 1] * 0.5)[:, None]
    offs = np.empty((n, 4, 2))  # the four corners relative to the centre
    offs[:, 0] = along + across
    offs[:, 1] = along - across
    offs[:, 2] = -along + across
    offs[:, 3] = -along - across
    c = raw.copy()
    pred = np.empty((n, 2))
    for _ in range(iterations):
        corners = (c[:, None, :] + offs).reshape(-1, 2)
        uv = apply_h(H_inv, corners).reshape(-1, 4, 2)
        u, v = uv[..., 0], uv[..., 1]
        lo = np.minimum(np.minimum(u[:, 0], u[:, 1]), np.minimum(u[:, 2], u[:, 3]))
        hi = np.maximum(np.maximum(u[:, 0], u[:, 1]), np.maximum(u[:, 2], u[:, 3]))
        pred[:, 0] = (lo + hi) * 0.5
        pred[:, 1] = np.maximum(np.maximum(v[:, 0], v[:, 1]), np.maximum(v[:, 2], v[:, 3]))
        c += raw - apply_h(H, pred)
    ok = np.isfinite(c).all(axis=1) & (np.abs(t).sum(1) > 0)
    return np.where(ok[:, None], c, raw)


class Homography:
    """An image <-> world mapping of one camera.

    Attributes:
        H: ``(3, 3)`` image -> world (metres), ``H[2, 2] == 1``.
        H_inv: ``(3, 3)`` world -> image, ``H_inv[2, 2] == 1``.
    """

    __slots__ = ("H", "H_inv")

    def __init__(self, H: np.ndarray, *, camera_id: str = "?", field: str = "homography") -> None:
        self.H = validate_homography(H, camera_id=camera_id, field=field)
        inv = np.linalg.inv(self.H)
        self.H_inv = inv / inv[2, 2]

    @classmethod
    def from_points(
        cls,
        image_pts: np.ndarray,
        world_pts: np.ndarray,
        *,
        camera_id: str = "?",
        field: str = "calibration",
        image_size: tuple[int, int] | None = None,
    ) -> Homography:
        """Fit from ``N >= 4`` pairs (see :func:`fit_homography`)."""
        return cls(
            fit_homography(
                image_pts, world_pts, camera_id=camera_id, field=field, image_size=image_size
            ),
            camera_id=camera_id,
            field=field,
        )

    def to_world(self, uv: np.ndarray) -> np.ndarray:
        """``(N, 2)`` pixels -> ``(N, 2)`` road-plane metres."""
        return apply_h(self.H, uv)

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """``(N, 2)`` road-plane metres -> ``(N, 2)`` pixels."""
        return apply_h(self.H_inv, xy)

    def flat(self) -> list[float]:
        """Row-major 9 floats (the ``camera_data.cameras.homography`` column)."""
        return [float(v) for v in self.H.reshape(-1)]
