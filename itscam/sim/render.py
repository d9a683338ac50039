"""Rasterise a camera view of a road scene with exact ground truth.

Vehicles are drawn as shaded cuboid parts (painter's algorithm: far vehicles
first, back faces culled), so their size and perspective follow the camera
model exactly. An id mask drawn with the same polygons gives each vehicle's
visible fraction.

Ground truth per vehicle (:class:`GroundTruthBox`):

- ``xyxy_full``: tight box of all projected part corners (pixels, origin at the
  top-left pixel corner), i.e. the box of the rendered silhouette;
  ``xyxy``: the same box clipped to the image.
- ``world_xy``: the *road contact point*: the point of the road plane seen at
  the bottom-centre ``((x1 + x2) / 2, y2)`` of ``xyxy_full``, found by casting
  that pixel's ray onto the road with the camera's 3D model. It lies on the
  road under the vehicle's lowest edge nearest the camera, and is the point a
  perfect detector's bottom-centre maps to through the camera's homography;
  ``center_xy`` is the true centre of the vehicle's footprint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from itscam.sim.camera import NEAR_PLANE_M, PinholeCamera, clip_polygon_near
from itscam.sim.geometry import Layout, Road
from itscam.sim.vehicles import VehicleModel

CONDITIONS = ("day", "overcast", "dusk", "rain")

# Corner indices of each cuboid face (corner index bits: x=1, y=2, z=4) and its normal.
_FACES = {
    "front": ((1, 3, 7, 5), (1.0, 0.0, 0.0)),
    "back": ((0, 4, 6, 2), (-1.0, 0.0, 0.0)),
    "left": ((2, 6, 7, 3), (0.0, 1.0, 0.0)),
    "right": ((0, 1, 5, 4), (0.0, -1.0, 0.0)),
    "top": ((4, 5, 7, 6), (0.0, 0.0, 1.0)),
}
_SHIFT = 4
_SCALE = 1 << _SHIFT
_DECAL_EPS = 0.0  # decals are drawn right after their face, so no z-fighting offset


@dataclass(frozen=True)
class Look:
    """Lighting and sensor look of a rendered view."""

    condition: str = "day"
    sun_azimuth: float = 0.8
    sun_elevation: float = 0.8
    ambient: float = 0.55
    diffuse: float = 0.5
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise_sigma: float = 3.0
    blur_sigma: float = 0.0
    rain_streaks: int = 0
    asphalt: tuple[int, int, int] = (88, 88, 92)
    grass: tuple[int, int, int] = (60, 120, 85)
    sky: tuple[int, int, int] = (225, 195, 160)
    shadow: float = 0.45

    @classmethod
    def sample(cls, rng: np.random.Generator, condition: str | None = None) -> Look:
        """Draw a random look; ``condition`` one of :data:`CONDITIONS` or None for any."""
        if condition is None:
            condition = str(rng.choice(CONDITIONS, p=[0.45, 0.2, 0.2, 0.15]))
        a = float(rng.uniform(80, 110))
        asphalt = (int(a + rng.uniform(-5, 5)), int(a), int(a + rng.uniform(0, 8)))
        grass = (int(rng.uniform(40, 90)), int(rng.uniform(95, 145)), int(rng.uniform(70, 110)))
        common: dict[str, Any] = dict(
            sun_azimuth=float(rng.uniform(0, 2 * math.pi)),
            asphalt=asphalt,
            grass=grass,
            noise_sigma=float(rng.uniform(1.5, 5.0)),
            blur_sigma=float(rng.choice([0.0, 0.0, rng.uniform(0.4, 1.0)])),
        )
        if condition == "day":
            return cls(
                "day",
                sun_elevation=float(rng.uniform(0.5, 1.2)),
                ambient=float(rng.uniform(0.5, 0.62)),
                diffuse=float(rng.uniform(0.4, 0.55)),
                sky=(235, 200, 160),
                shadow=float(rng.uniform(0.35, 0.5)),
                **common,
            )
        if condition == "overcast":
            return cls(
                "overcast",
                sun_elevation=1.2,
                ambient=float(rng.uniform(0.72, 0.85)),
                diffuse=0.15,
                sky=(205, 205, 200),
                shadow=0.25,
                **common,
            )
        if condition == "dusk":
            return cls(
                "dusk",
                sun_elevation=float(rng.uniform(0.05, 0.25)),
                ambient=float(rng.uniform(0.4, 0.5)),
                diffuse=0.3,
                tint=(0.78, 0.85, 1.0),
                sky=(150, 150, 200),
                shadow=0.3,
                **common,
            )
        common["noise_sigma"] = float(rng.uniform(4.0, 7.0))
        common["blur_sigma"] = float(rng.uniform(0.5, 1.1))
        common["asphalt"] = tuple(int(c * 0.8) for c in asphalt)
        return cls(
            "rain",
            sun_elevation=1.2,
            ambient=float(rng.uniform(0.6, 0.72)),
            diffuse=0.1,
            tint=(1.0, 0.97, 0.95),
            rain_streaks=int(rng.integers(150, 400)),
            sky=(180, 180, 175),
            shadow=0.2,
            **common,
        )

    @property
    def sun_dir(self) -> np.ndarray:
        """``(3,)`` unit vector towards the sun (world frame)."""
        ce = math.cos(self.sun_elevation)
        return np.array(
            [
                ce * math.cos(self.sun_azimuth),
                ce * math.sin(self.sun_azimuth),
                math.sin(self.sun_elevation),
            ]
        )


@dataclass
class VehicleState:
    """A vehicle on the road at one instant (world metres, heading CCW from +X in radians)."""

    track_id: int
    model: VehicleModel
    x: float
    y: float
    heading: float
    speed: float = 0.0
    lane_id: str = ""

    def to_world(self, pts: np.ndarray) -> np.ndarray:
        """Vehicle-frame ``(N, 3)`` -> world ``(N, 3)``."""
        c, s = math.cos(self.heading), math.sin(self.heading)
        out = np.empty_like(pts)
        out[:, 0] = self.x + c * pts[:, 0] - s * pts[:, 1]
        out[:, 1] = self.y + s * pts[:, 0] + c * pts[:, 1]
        out[:, 2] = pts[:, 2]
        return out


@dataclass(frozen=True)
class GroundTruthBox:
    """Ground truth of one visible vehicle in one frame (see module docstring)."""

    track_id: int
    class_id: int
    cls: str
    xyxy: tuple[float, float, float, float]
    xyxy_full: tuple[float, float, float, float]
    world_xy: tuple[float, float]
    center_xy: tuple[float, float]
    heading: float
    speed: float
    lane_id: str
    visibility: float
    truncation: float

    @property
    def bottom_center(self) -> tuple[float, float]:
        """Bottom-centre of the full (unclipped) box, pixels."""
        x1, _, x2, y2 = self.xyxy_full
        return ((x1 + x2) / 2, y2)

    def labelled(self, image_height: int) -> bool:
        """Whether a detector is expected to find it (big enough, visible enough).

        Thresholds scale with the image height (reference 360 px): box height
        >= 10 px, width >= 5 px, >= 30 % of its silhouette visible, <= 60 % cut off
        by the image border. Boxes failing this are "ignore" regions in evaluation.
        """
        s = image_height / 360.0
        x1, y1, x2, y2 = self.xyxy
        return (
            y2 - y1 >= 10 * s
            and x2 - x1 >= 5 * s
            and self.visibility >= 0.3
            and self.truncation <= 0.6
        )


@dataclass
class Frame:
    """A rendered view: ``image`` BGR uint8 ``(H, W, 3)`` and its ground truth.

    ``mask`` (when rendered with one) is the ``(H, W)`` uint16 id mask: pixel value
    ``j + 1`` is where ``boxes[j]`` is visible, 0 is background.
    """

    image: np.ndarray
    boxes: list[GroundTruthBox] = field(default_factory=list)
    mask: np.ndarray | None = None


def _ipts(uv: np.ndarray) -> np.ndarray:
    """Pixel-corner coordinates -> OpenCV fixed-point points.

    OpenCV puts integer coordinates at pixel *centres*; ours are at corners, so
    shift by half a pixel, or every filled shape would sit 0.5 px low and right.
    """
    return np.round((np.clip(uv, -1e6, 1e6) - 0.5) * _SCALE).astype(np.int32)


class Renderer:
    """Renders one camera's view of a layout under one :class:`Look`.

    The static background (sky, ground, roads, markings, texture) is drawn once
    and reused; :meth:`render` adds vehicles, shadows and per-frame sensor noise.
    """

    def __init__(
        self, layout: Layout, camera: PinholeCamera, look: Look | None = None, seed: int = 0
    ) -> None:
        self.layout = layout
        self.camera = camera
        self.look = look or Look()
        self.seed = seed
        self._R = camera.R
        self._C = camera.center
        f, w, h = camera.focal_px, camera.width, camera.height_px
        planes = np.array([[f, 0, w / 2], [-f, 0, w / 2], [0, f, h / 2], [0, -f, h / 2]])
        # Unit inward normals of the four side planes of the view frustum (camera frame).
        self._frustum = planes / np.linalg.norm(planes, axis=1, keepdims=True)
        self.background = self._draw_background()

    # -- background --------------------------------------------------------------

    def _ground_poly(self, img: np.ndarray, quad_xy: np.ndarray, color: tuple[int, ...]) -> None:
        pts = np.column_stack([quad_xy, np.zeros(len(quad_xy))])
        pc = (pts - self._C) @ self._R.T
        if np.all(pc[:, 2] < NEAR_PLANE_M):
            return
        pc = clip_polygon_near(pc)
        if len(pc) < 3:
            return
        f, cx, cy = self.camera.focal_px, self.camera.width / 2, self.camera.height_px / 2
        uv = np.column_stack([f * pc[:, 0] / pc[:, 2] + cx, f * pc[:, 1] / pc[:, 2] + cy])
        cv2.fillConvexPoly(img, _ipts(uv), color, cv2.LINE_AA, _SHIFT)

    def _markings(self, img: np.ndarray, road: Road, jw: float) -> None:
        white = (215, 215, 215)
        yellow = (40, 190, 220)
        cs, _ = road.to_road(self._C[None, :2])
        lo, hi = max(-road.half_length, cs[0] - 220), min(road.half_length, cs[0] + 220)
        spans = [(lo, min(hi, -jw)), (max(lo, jw), hi)] if jw > 0 else [(lo, hi)]
        for s0, s1 in spans:
            if s1 <= s0:
                continue
            for off in (road.right_edge - 0.2, road.left_edge + 0.2):
                self._ground_poly(img, road.quad(s0, s1, off - 0.08, off + 0.08), white)
            if road.median > 0:
                self._ground_poly(
                    img, road.quad(s0, s1, -road.median / 2, road.median / 2), (110, 140, 120)
                )
            elif road.lanes_forward and road.lanes_backward:
                for off in (-0.12, 0.12):
                    self._ground_poly(img, road.quad(s0, s1, off - 0.06, off + 0.06), yellow)
            dividers = [road.median / 2 + k * road.lane_width for k in range(1, road.lanes_forward)]
            dividers += [
                -(road.median / 2 + k * road.lane_width) for k in range(1, road.lanes_backward)
            ]
            for off in dividers:
                for s in np.arange(math.floor(s0 / 12) * 12, s1, 12.0):
                    a, b = max(s, s0), min(s + 3.0, s1)
                    if b > a:
                        self._ground_poly(img, road.quad(a, b, off - 0.07, off + 0.07), white)
        if jw > 0:
            for sign in (-1, 1):
                base = sign * (jw + 0.6)
                for off in np.arange(road.left_edge + 0.3, road.right_edge - 0.3, 1.0):
                    self._ground_poly(
                        img, road.quad(base, base + sign * 3.0, off, off + 0.5), white
                    )
                stop = sign * (jw + 4.2)
                lane_lo, lane_hi = (0.0, road.right_edge) if sign < 0 else (road.left_edge, 0.0)
                self._ground_poly(img, road.quad(stop, stop + sign * 0.4, lane_lo, lane_hi), white)

    def _draw_background(self) -> np.ndarray:
        cam, look = self.camera, self.look
        h, w = cam.height_px, cam.width
        rng = np.random.default_rng(self.seed + 7919)
        sky = np.asarray(look.sky, np.float32)
        grad = np.linspace(0.85, 1.05, h, dtype=np.float32)[:, None, None]
        img = np.ascontiguousarray(
            np.broadcast_to(sky * grad, (h, w, 3)).clip(0, 255).astype(np.uint8)
        )
        c = self._C[:2]
        big = c + np.array([[-900.0, -900.0], [900.0, -900.0], [900.0, 900.0], [-900.0, 900.0]])
        self._ground_poly(img, big, look.grass)
        for road in self.layout.roads:
            self._ground_poly(
                img,
                road.quad(
                    -road.half_length,
                    road.half_length,
                    road.left_edge - road.shoulder - 3.0,
                    road.right_edge + road.shoulder + 3.0,
                ),
                (165, 168, 170),
            )
        for road in self.layout.roads:
            self._ground_poly(
                img,
                road.quad(
                    -road.half_length,
                    road.half_length,
                    road.left_edge - road.shoulder,
                    road.right_edge + road.shoulder,
                ),
                look.asphalt,
            )
        for road in self.layout.roads:
            self._markings(img, road, self.layout.junction_half_width(road))
        # Low-frequency blotches and fine grain so surfaces are not flat colour.
        small = rng.normal(1.0, 0.06, (max(2, h // 24), max(2, w // 24), 1)).astype(np.float32)
        blotch = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:, :, None]
        grain = rng.normal(0.0, 4.0, (h, w, 1)).astype(np.float32)
        out = img.astype(np.float32) * blotch + grain
        out *= np.asarray(look.tint, np.float32) * (0.75 + 0.35 * look.ambient)
        return out.clip(0, 255).astype(np.uint8)

    # -- vehicles ----------------------------------------------------------------

    def _vehicle_polys(self, v: VehicleState) -> tuple[list, np.ndarray] | None:
        """Polygons ``(int points, BGR colour)`` of one vehicle in draw order, and its corners' uv.

        None when any part reaches behind the near plane (not rendered, no ground truth).
        """
        if self._outside_view(v):
            return None
        look = self.look
        c, s = math.cos(v.heading), math.sin(v.heading)
        # Camera position and sun direction in the vehicle frame (for culling and shading).
        d = self._C - np.array([v.x, v.y, 0.0])
        cam_v = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2]])
        sd = look.sun_dir
        sun_v = np.array([c * sd[0] + s * sd[1], -s * sd[0] + c * sd[1], sd[2]])
        all_corners = np.concatenate([p.corners() for p in v.model.parts])
        world = v.to_world(all_corners)
        pc = (world - self._C) @ self._R.T
        if np.any(pc[:, 2] < NEAR_PLANE_M):
            return None
        f, cx, cy = self.camera.focal_px, self.camera.width / 2, self.camera.height_px / 2
        uv_all = np.column_stack([f * pc[:, 0] / pc[:, 2] + cx, f * pc[:, 1] / pc[:, 2] + cy])
        tint = np.asarray(look.tint)
        order = []
        for k, part in enumerate(v.model.parts):
            x0, x1, y0, y1, z0, z1 = part.box
            centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2])
            order.append((float(np.linalg.norm(cam_v - centre)), k))
        order.sort(reverse=True)
        polys = []
        for _, k in order:
            part = v.model.parts[k]
            uv = uv_all[8 * k : 8 * k + 8]
            x0, x1, y0, y1, z0, z1 = part.box
            planes = {"front": x1, "back": x0, "left": y1, "right": y0, "top": z1}
            for name, (idx, n) in _FACES.items():
                n_arr = np.asarray(n)
                axis = int(np.argmax(np.abs(n_arr)))
                if (cam_v[axis] - planes[name]) * n_arr[axis] <= 0:
                    continue
                light = look.ambient + look.diffuse * max(0.0, float(n_arr @ sun_v))
                if name == "top":
                    light += 0.12
                col = tuple(
                    float(x) for x in np.clip(np.asarray(part.color) * light * tint, 0, 255)
                )
                polys.append((_ipts(uv[list(idx)]), col))
                for dec in part.decals:
                    if dec.face != name:
                        continue
                    q = self._decal_quad(part, dec)
                    if q is None:
                        continue
                    qpc = (v.to_world(q) - self._C) @ self._R.T
                    quv = np.column_stack(
                        [f * qpc[:, 0] / qpc[:, 2] + cx, f * qpc[:, 1] / qpc[:, 2] + cy]
                    )
                    dl = 1.0 if dec.emissive and look.condition in ("dusk", "rain") else light
                    if dec.emissive and look.condition not in ("dusk", "rain"):
                        dl = light * 0.8
                    dcol = tuple(
                        float(x)
                        for x in np.clip(
                            np.asarray(dec.color) * dl * (1 if dec.emissive else tint), 0, 255
                        )
                    )
                    polys.append((_ipts(quv), dcol))
        return polys, uv_all

    def _outside_view(self, v: VehicleState) -> bool:
        """True when the vehicle's bounding sphere lies wholly behind the near plane or
        outside one side of the view frustum (it could not be drawn anyway)."""
        m = v.model
        r = 0.5 * math.sqrt(m.length**2 + m.width**2 + m.height**2) + 1e-3
        pc = self._R @ (np.array([v.x, v.y, m.height / 2]) - self._C)
        if pc[2] + r < NEAR_PLANE_M:
            return True
        return bool(np.any(self._frustum @ pc < -r))

    @staticmethod
    def _decal_quad(part, dec) -> np.ndarray | None:
        x0, x1, y0, y1, z0, z1 = part.box
        za, zb = max(dec.z0, z0), min(dec.z1, z1)
        if dec.face in ("left", "right"):
            a, b = max(dec.a0, x0), min(dec.a1, x1)
            y = y1 + _DECAL_EPS if dec.face == "left" else y0 - _DECAL_EPS
            q = [(a, y, za), (b, y, za), (b, y, zb), (a, y, zb)]
        else:
            a, b = max(dec.a0, y0), min(dec.a1, y1)
            x = x1 + _DECAL_EPS if dec.face == "front" else x0 - _DECAL_EPS
            q = [(x, a, za), (x, b, za), (x, b, zb), (x, a, zb)]
        if b <= a or zb <= za:
            return None
        return np.array(q, dtype=np.float64)

    def _shadows(self, img: np.ndarray, vehicles: list[VehicleState]) -> np.ndarray:
        look = self.look
        mask = np.zeros(img.shape[:2], np.uint8)
        sd = look.sun_dir
        reach = min(3.0, 1.0 / max(math.tan(look.sun_elevation), 0.2))
        for v in vehicles:
            m = v.model
            hl, hw = m.length / 2 + 0.15, m.width / 2 + 0.15
            fp = v.to_world(np.array([[-hl, -hw, 0], [hl, -hw, 0], [hl, hw, 0], [-hl, hw, 0.0]]))
            shift = -sd[:2] / max(np.linalg.norm(sd[:2]), 1e-6) * m.height * reach * 0.5
            pts = np.concatenate([fp[:, :2], fp[:, :2] + shift])
            pc = (np.column_stack([pts, np.zeros(len(pts))]) - self._C) @ self._R.T
            if np.any(pc[:, 2] < NEAR_PLANE_M):
                continue
            uv = self.camera.project(np.column_stack([pts, np.zeros(len(pts))]))[0]
            hull = cv2.convexHull(_ipts(uv))
            cv2.fillConvexPoly(mask, hull, 255, cv2.LINE_AA, _SHIFT)
        if mask.any():
            soft = cv2.GaussianBlur(mask, (0, 0), 1.2)
            k = 1.0 - look.shadow * (soft.astype(np.float32) / 255.0)
            img[:] = (img.astype(np.float32) * k[:, :, None]).astype(np.uint8)
        return img

    # -- frame -------------------------------------------------------------------

    def render(
        self, vehicles: list[VehicleState], frame_index: int = 0, with_mask: bool = True
    ) -> Frame:
        """Render one frame.

        ``frame_index`` seeds the per-frame sensor noise (deterministic with the
        renderer's seed). Vehicles are drawn far to near; each visible one gets a
        :class:`GroundTruthBox` (visibility from an id mask when ``with_mask``).
        """
        cam = self.camera
        h, w = cam.height_px, cam.width
        img = self.background.copy()
        dist = [math.hypot(v.x - self._C[0], v.y - self._C[1]) for v in vehicles]
        order = sorted(range(len(vehicles)), key=lambda i: -dist[i])
        drawn = []
        for i in order:
            got = self._vehicle_polys(vehicles[i])
            if got is None:
                continue
            polys, uv = got
            x1, y1 = uv.min(axis=0)
            x2, y2 = uv.max(axis=0)
            if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
                continue
            drawn.append((i, polys, (float(x1), float(y1), float(x2), float(y2))))
        self._shadows(img, [vehicles[i] for i, _, _ in drawn])
        mask = np.zeros((h, w), np.uint16) if with_mask else None
        for j, (_, polys, _) in enumerate(drawn):
            for pts, col in polys:
                cv2.fillConvexPoly(img, pts, col, cv2.LINE_AA, _SHIFT)
                if mask is not None:
                    cv2.fillConvexPoly(mask, pts, j + 1, cv2.LINE_8, _SHIFT)
        boxes = []
        for j, (i, polys, full) in enumerate(drawn):
            v = vehicles[i]
            x1, y1, x2, y2 = full
            cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))
            area_full = max((x2 - x1) * (y2 - y1), 1e-9)
            trunc = 1.0 - (cx2 - cx1) * (cy2 - cy1) / area_full
            vis = 1.0
            if mask is not None:
                ix1, iy1 = max(math.floor(x1), 0), max(math.floor(y1), 0)
                ix2, iy2 = min(math.ceil(x2), w), min(math.ceil(y2), h)
                own = np.zeros((h, w), np.uint8)
                for pts, _ in polys:
                    cv2.fillConvexPoly(own, pts, 1, cv2.LINE_8, _SHIFT)
                own_n = int(own[iy1:iy2, ix1:ix2].sum())
                seen = int((mask[iy1:iy2, ix1:ix2] == j + 1).sum())
                vis = seen / own_n if own_n else 0.0
            bc = ((x1 + x2) / 2, y2)
            contact = cam.image_to_ground(np.array([bc]))[0]
            boxes.append(
                GroundTruthBox(
                    track_id=v.track_id,
                    class_id=v.model.class_id,
                    cls=v.model.cls,
                    xyxy=(cx1, cy1, cx2, cy2),
                    xyxy_full=full,
                    world_xy=(float(contact[0]), float(contact[1])),
                    center_xy=(v.x, v.y),
                    heading=v.heading,
                    speed=v.speed,
                    lane_id=v.lane_id,
                    visibility=vis,
                    truncation=trunc,
                )
            )
        img = self._sensor(img, frame_index)
        return Frame(img, boxes, mask)

    def _sensor(self, img: np.ndarray, frame_index: int) -> np.ndarray:
        look = self.look
        rng = np.random.default_rng([self.seed, frame_index])
        out = img
        if look.rain_streaks:
            over = np.zeros_like(img)
            h, w = img.shape[:2]
            xs = rng.uniform(0, w, look.rain_streaks)
            ys = rng.uniform(0, h, look.rain_streaks)
            ln = rng.uniform(6, 18, look.rain_streaks)
            for x, y, n in zip(xs, ys, ln, strict=True):
                cv2.line(
                    over,
                    (int(x), int(y)),
                    (int(x + 0.25 * n), int(y + n)),
                    (200, 200, 200),
                    1,
                    cv2.LINE_AA,
                )
            out = cv2.addWeighted(out, 1.0, over, 0.35, 0)
        if look.blur_sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), look.blur_sigma)
        noise = rng.normal(0.0, look.noise_sigma, (*out.shape[:2], 1)).astype(np.float32)
        return (out.astype(np.float32) + noise).clip(0, 255).astype(np.uint8)
