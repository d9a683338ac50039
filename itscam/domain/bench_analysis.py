"""Analysis benchmark: our tracker + analysis against Roboflow's ByteTrack + LineZone.

:func:`run_analysis_bench` builds one detection stream with about 40 vehicles in view
(a six-lane road seen by a pinhole camera; cuboid vehicles projected to boxes, the
same maths the simulator renders with), degrades it like a detector would (box
jitter, a few dropped and occluded boxes, low-confidence boxes, false positives),
and then, on the same frames:

* times ours per frame: :class:`~itscam.domain.analyzer.CameraAnalyzer.update`, i.e.
  tracking, counting with hysteresis, homography speed, zones, minute windows and
  events;
* times the peer per frame: ``trackers.ByteTrackTracker.update`` on
  ``supervision.Detections`` plus ``supervision.LineZone.trigger`` for each counting
  line (tracking and counting only, no speed or zones);
* scores both trackers with ``motmetrics`` (MOTA, IDF1, IoU >= 0.5) against the
  true vehicle ids;
* checks our counts and speeds against the stream's ground truth.

The stream is generated here rather than rendered by :mod:`itscam.sim`: the shipped
scenarios carry 5-13 vehicles per camera and render at ~50 ms a frame, while this
benchmark needs ~40 objects per frame; the projection maths is the simulator's own
(:class:`itscam.sim.camera.PinholeCamera`).

``analysis_vs_peer`` is ours / theirs time per frame (lower is better; <= 1.0 is the
target). ``itscam bench pipeline`` embeds the returned dict.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from itscam.domain.analyzer import CameraAnalyzer
from itscam.domain.detections import VEHICLE_CLASSES, Detections
from itscam.domain.registry import CameraConfig, parse_camera
from itscam.domain.tracker import iou_matrix

#: (length, width, height) m and share of traffic per class.
_DIMS = {
    "car": (4.5, 1.8, 1.5),
    "motorcycle": (2.1, 0.8, 1.4),
    "bus": (12.0, 2.55, 3.2),
    "truck": (10.0, 2.5, 3.8),
}
_MIX = (0.8, 0.05, 0.05, 0.1)
LANE_W = 3.5
ROAD_Y = (0.0, 150.0)  # modelled stretch along the road (m)
SPAWN_S = -8.0  # where new vehicles enter, before the camera's view (m along the lane)


@dataclass
class Stream:
    """Frames of a detection stream with ground truth.

    Attributes:
        camera: the camera configuration (registry schema) the stream is seen by.
        ts: ``(F,)`` capture times (s).
        detections: per frame, what the "detector" reported.
        truth_boxes / truth_ids: per frame, ``(n, 4)`` true boxes and ``(n,)`` ids of
            the vehicles visible enough to be detectable.
        crossings: true counting-line crossings ``(lane_id, direction, class, speed_kmh)``.
    """

    camera: CameraConfig
    ts: np.ndarray
    detections: list[Detections]
    truth_boxes: list[np.ndarray]
    truth_ids: list[np.ndarray]
    crossings: list[tuple[str, str, str, float]]


def _camera_dict(n_lanes_each_way: int = 3) -> tuple[dict[str, Any], Any]:
    from itscam.sim.camera import PinholeCamera

    cam = PinholeCamera.from_hfov(hfov_deg=70, x=0.0, y=-12.0, height=12.0, yaw_deg=90, tilt_deg=20)
    world = np.array([[-9, 6], [9, 6], [-9, 80], [9, 80], [0, 30]], np.float64)
    uv, _ = cam.project(np.c_[world, np.zeros(len(world))])
    lanes, lines = [], []
    for k in range(n_lanes_each_way):
        x = LANE_W * (k + 0.5)
        lanes.append(
            {"lane_id": f"nb-{k + 1}", "centerline": [[x, 4], [x, 150]], "width_m": LANE_W}
        )
        lanes.append(
            {"lane_id": f"sb-{k + 1}", "centerline": [[-x, 150], [-x, 4]], "width_m": LANE_W}
        )
        for side, sgn in (("nb", 1), ("sb", -1)):
            x0 = sgn * LANE_W * k
            lines.append(
                {
                    "line_id": f"{side}-{k + 1}-count",
                    "lane_id": f"{side}-{k + 1}",
                    "world": [[x0, 20.0], [x0 + sgn * LANE_W, 20.0]],
                    "margin_m": 1.0,
                }
            )
    d = {
        "camera_id": "bench-6-lane",
        "width": 640,
        "height": 360,
        "fps": 10,
        "calibration": {
            "points": [
                {"image": [float(a), float(b)], "world": [float(x), float(y)]}
                for (a, b), (x, y) in zip(uv, world, strict=True)
            ]
        },
        "lanes": lanes,
        "lines": lines,
        "zones": [
            {
                "zone_id": "nb-1-queue",
                "kind": "queue",
                "lane_id": "nb-1",
                "world": [[0, 8], [3.5, 8], [3.5, 40], [0, 40]],
            },
            {
                "zone_id": "road",
                "kind": "incident",
                "world": [[-10, 6], [10, 6], [10, 60], [-10, 60]],
            },
        ],
    }
    return d, cam


def _project_boxes(
    cam: Any, centre: np.ndarray, heading: np.ndarray, dims: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(n, 4)`` of cuboid vehicles and a validity mask (in front, in the image)."""
    n = len(centre)
    sx = np.array([-1, 1, -1, 1, -1, 1, -1, 1]) * 0.5
    sy = np.array([-1, -1, 1, 1, -1, -1, 1, 1]) * 0.5
    sz = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    lx = dims[:, 0:1] * sx
    ly = dims[:, 1:2] * sy
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    X = centre[:, 0:1] + c * lx - s * ly
    Y = centre[:, 1:2] + s * lx + c * ly
    Z = dims[:, 2:3] * sz
    pts = np.stack([X, Y, np.broadcast_to(Z, X.shape)], -1).reshape(-1, 3)
    uv, z = cam.project(pts)
    uv = uv.reshape(n, 8, 2)
    ok = (z.reshape(n, 8) > 0.5).all(1)
    box = np.concatenate([uv.min(1), uv.max(1)], axis=1)
    full = box.copy()
    box[:, [0, 2]] = box[:, [0, 2]].clip(0, cam.width)
    box[:, [1, 3]] = box[:, [1, 3]].clip(0, cam.height_px)
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    full_area = (full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])
    # Detectable: mostly inside the frame and at least ~8 px tall.
    ok &= (area >= 0.6 * np.maximum(full_area, 1e-9)) & (box[:, 3] - box[:, 1] >= 8)
    return box, ok


def synthetic_stream(
    *, seconds: float = 60.0, fps: float = 10.0, seed: int = 7, target_objects: int = 63
) -> Stream:
    """A six-lane road with ``target_objects`` vehicles on 150 m (about 40 detectable in view)."""
    rng = np.random.default_rng(seed)
    d, cam = _camera_dict()
    config = parse_camera(d)
    lanes = config.lanes
    n_lanes = len(lanes)
    # Spacing so that about target_objects vehicles share the modelled stretch.
    per_lane = target_objects / n_lanes
    spacing = (ROAD_Y[1] - ROAD_Y[0]) / per_lane
    lane_speed = rng.uniform(30, 60, n_lanes) / 3.6  # m/s
    vehicles: list[dict[str, Any]] = []
    next_id = 1

    def spawn(li: int, s: float) -> None:
        nonlocal next_id
        cls = rng.choice(4, p=_MIX)
        vehicles.append(
            {
                "id": next_id,
                "lane": li,
                "s": s,
                "cls": int(cls),
                "v": lane_speed[li] * rng.uniform(0.97, 1.03),
            }
        )
        next_id += 1

    for li in range(n_lanes):
        s = rng.uniform(0, spacing)
        while s < ROAD_Y[1]:
            spawn(li, s)
            s += spacing * rng.uniform(0.8, 1.2)
    last_spawn = np.zeros(n_lanes)
    frames = int(seconds * fps)
    dt = 1.0 / fps
    t0 = 1_700_000_000.0
    ts = t0 + np.arange(frames) * dt
    out_det, out_tb, out_tid = [], [], []
    crossings: list[tuple[str, str, str, float]] = []
    line_s = {
        ln.lane_id: float(config.lane(ln.lane_id).locate(((ln.p1 + ln.p2) / 2)[None])[0][0])
        for ln in config.lines
    }
    for f in range(frames):
        # Move; record true crossings of the counting lines (lines at y = 20 m).
        for v in vehicles:
            s0 = v["s"]
            v["s"] += v["v"] * dt
            lane = lanes[v["lane"]]
            if s0 < line_s[lane.lane_id] <= v["s"]:
                crossings.append((lane.lane_id, "forward", VEHICLE_CLASSES[v["cls"]], v["v"] * 3.6))
        vehicles = [v for v in vehicles if v["s"] < ROAD_Y[1] - ROAD_Y[0] - 4 + 10]
        for li in range(n_lanes):
            lane_vs = [v["s"] for v in vehicles if v["lane"] == li]
            # Same spacing as the initial fill, so the stream is stationary.
            if (not lane_vs or min(lane_vs) > SPAWN_S + spacing * rng.uniform(0.8, 1.2)) and ts[
                f
            ] - last_spawn[li] > 0.5:
                spawn(li, SPAWN_S)
                last_spawn[li] = ts[f]
        ids = np.array([v["id"] for v in vehicles])
        cls = np.array([v["cls"] for v in vehicles])
        centre = np.empty((len(vehicles), 2))
        heading = np.empty(len(vehicles))
        for i, v in enumerate(vehicles):
            lane = lanes[v["lane"]]
            a, vec = lane.centerline[0], lane.centerline[1] - lane.centerline[0]
            u = vec / np.hypot(*vec)
            centre[i] = a + u * v["s"]
            heading[i] = math.atan2(u[1], u[0])
        dims = np.array([_DIMS[VEHICLE_CLASSES[c]] for c in cls])
        box, ok = _project_boxes(cam, centre, heading, dims)
        # Occlusion: a box mostly covered by a nearer vehicle's box is not detectable.
        depth = np.hypot(centre[:, 0] - cam.x, centre[:, 1] - cam.y)
        order = np.argsort(depth)
        vis = ok.copy()
        for j, i in enumerate(order):
            if not vis[i]:
                continue
            for k in order[:j]:
                if not ok[k]:
                    continue
                ix = max(0, min(box[i, 2], box[k, 2]) - max(box[i, 0], box[k, 0]))
                iy = max(0, min(box[i, 3], box[k, 3]) - max(box[i, 1], box[k, 1]))
                area = (box[i, 2] - box[i, 0]) * (box[i, 3] - box[i, 1])
                if ix * iy > 0.7 * area:
                    vis[i] = False
                    break
        tb, tid, tcls = box[vis], ids[vis], cls[vis]
        out_tb.append(tb.astype(np.float32))
        out_tid.append(tid)
        # Detector: jitter, misses, low scores, false positives.
        keep = rng.random(len(tb)) > 0.04
        db = tb[keep].copy()
        wh = np.concatenate([db[:, 2:] - db[:, :2]] * 2, axis=1)
        db += rng.normal(0, 0.03, db.shape) * wh
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        conf = rng.uniform(0.55, 0.95, len(db))
        low = rng.random(len(db)) < 0.1
        conf[low] = rng.uniform(0.2, 0.45, low.sum())
        dcls = tcls[keep].copy()
        flip = rng.random(len(dcls)) < 0.05
        dcls[flip] = rng.integers(0, 4, flip.sum())
        n_fp = rng.poisson(1.0)
        if n_fp:
            xy = rng.uniform([0, 120], [600, 340], (n_fp, 2))
            wh_fp = rng.uniform(15, 50, (n_fp, 2))
            db = np.concatenate([db, np.concatenate([xy, xy + wh_fp], 1)])
            conf = np.concatenate([conf, rng.uniform(0.2, 0.6, n_fp)])
            dcls = np.concatenate([dcls, rng.integers(0, 4, n_fp)])
        db[:, [0, 2]] = db[:, [0, 2]].clip(0, cam.width)
        db[:, [1, 3]] = db[:, [1, 3]].clip(0, cam.height_px)
        out_det.append(Detections(db, conf, dcls))
    return Stream(config, ts, out_det, out_tb, out_tid, crossings)


def _mot(
    stream: Stream, hyp_boxes: list[np.ndarray], hyp_ids: list[np.ndarray]
) -> dict[str, float]:
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for tb, tid, hb, hid in zip(
        stream.truth_boxes, stream.truth_ids, hyp_boxes, hyp_ids, strict=True
    ):
        a = np.asarray(tb, np.float64)
        b = np.asarray(hb, np.float64)
        # motmetrics' own iou_matrix uses np.asfarray, gone in numpy 2: same maths here
        # (distance 1 - IoU, no match below IoU 0.5).
        iou = iou_matrix(a.reshape(-1, 4), b.reshape(-1, 4))
        dist = np.where(iou >= 0.5, 1.0 - iou, np.nan)
        acc.update(list(tid), list(hid), dist)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches"], name="x")
    return {
        "mota": float(s["mota"].iloc[0]),
        "idf1": float(s["idf1"].iloc[0]),
        "id_switches": int(s["num_switches"].iloc[0]),
    }


def run_ours(stream: Stream) -> tuple[float, list[np.ndarray], list[np.ndarray], list[dict]]:
    """Run :class:`CameraAnalyzer` over the stream; returns (s/frame, boxes, ids, crossings)."""
    an = CameraAnalyzer(stream.camera, run_id="bench")
    boxes, ids, crossings = [], [], []
    t = time.perf_counter()
    for f, (ts, det) in enumerate(zip(stream.ts, stream.detections, strict=True)):
        out = an.update(float(ts), f, det)
        tr = out.tracked
        assert tr is not None and tr.tracker_id is not None
        m = tr.tracker_id >= 0
        boxes.append(tr.xyxy[m])
        ids.append(tr.tracker_id[m])
        crossings.extend(out.crossings)
    t = (time.perf_counter() - t) / len(stream.ts)
    crossings.extend(an.end_of_stream().crossings)  # those still settling their class
    return t, boxes, ids, crossings


def run_peer(stream: Stream) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Roboflow ``ByteTrackTracker`` + one ``supervision.LineZone`` per counting line."""
    import supervision as sv
    from trackers import ByteTrackTracker

    cfg = stream.camera
    tracker = ByteTrackTracker(frame_rate=cfg.fps)
    zones = []
    for ln in cfg.lines:
        uv = cfg.homography.to_image(np.stack([ln.p1, ln.p2]))
        zones.append(
            sv.LineZone(
                start=sv.Point(*uv[0]),
                end=sv.Point(*uv[1]),
                triggering_anchors=(sv.Position.BOTTOM_CENTER,),
            )
        )
    boxes, ids = [], []
    sv_dets = [
        sv.Detections(xyxy=d.xyxy.astype(np.float32), confidence=d.confidence, class_id=d.class_id)
        for d in stream.detections
    ]
    t = time.perf_counter()
    for ts, det in zip(stream.ts, sv_dets, strict=True):
        tr = tracker.update(det, timestamp=float(ts))
        for z in zones:
            z.trigger(tr)
        tid = tr.tracker_id if tr.tracker_id is not None else np.full(len(tr), -1)
        m = tid >= 0
        boxes.append(tr.xyxy[m])
        ids.append(tid[m])
    elapsed = (time.perf_counter() - t) / len(stream.ts)
    return elapsed, boxes, ids


def run_analysis_bench(*, seconds: float = 60.0, seed: int = 7, repeats: int = 1) -> dict[str, Any]:
    """Benchmark on one synthetic stream (~40 objects); returns a flat dict of figures.

    Keys: ``analysis_ms_per_frame``, ``peer_ms_per_frame``, ``analysis_vs_peer``
    (ours / theirs), ``mota``, ``idf1``, ``peer_mota``, ``peer_idf1``,
    ``id_switches``, ``peer_id_switches``, ``objects_mean``, ``frames``,
    ``count_error_pct`` (|ours - true| / true over all lines), ``speed_mae_kmh``.
    """
    stream = synthetic_stream(seconds=seconds, seed=seed)
    ours_t, peer_t = [], []
    for _ in range(max(1, repeats)):
        t_o, ob, oi, crossings = run_ours(stream)
        t_p, pb, pi = run_peer(stream)
        ours_t.append(t_o)
        peer_t.append(t_p)
    ours_m = _mot(stream, ob, oi)
    peer_m = _mot(stream, pb, pi)
    true_n = len(stream.crossings)
    ours_n = sum(1 for c in crossings if c["direction"] == "forward")
    true_speed = np.mean([c[3] for c in stream.crossings]) if stream.crossings else float("nan")
    sp = [c["speed_kmh"] for c in crossings if c["speed_kmh"] is not None]
    # Speeds are per lane (every vehicle of a lane has ~ the lane's speed), so compare
    # per-lane means: robust to which vehicle got which id.
    by_lane_true: dict[str, list[float]] = {}
    by_lane_ours: dict[str, list[float]] = {}
    for lane, _, _, v in stream.crossings:
        by_lane_true.setdefault(lane, []).append(v)
    for c in crossings:
        if c["speed_kmh"] is not None:
            by_lane_ours.setdefault(c["lane_id"], []).append(c["speed_kmh"])
    errs = [
        abs(np.mean(by_lane_ours[k]) - np.mean(v))
        for k, v in by_lane_true.items()
        if k in by_lane_ours
    ]
    best_o, best_p = min(ours_t), min(peer_t)
    return {
        "analysis_ms_per_frame": round(best_o * 1000, 3),
        "peer_ms_per_frame": round(best_p * 1000, 3),
        "analysis_vs_peer": round(best_o / best_p, 3),
        "mota": round(ours_m["mota"], 4),
        "idf1": round(ours_m["idf1"], 4),
        "peer_mota": round(peer_m["mota"], 4),
        "peer_idf1": round(peer_m["idf1"], 4),
        "id_switches": ours_m["id_switches"],
        "peer_id_switches": peer_m["id_switches"],
        "objects_mean": round(float(np.mean([len(t) for t in stream.truth_ids])), 1),
        "frames": len(stream.ts),
        "count_error_pct": round(100 * abs(ours_n - true_n) / max(true_n, 1), 2),
        "speed_mae_kmh": round(float(np.mean(errs)), 2) if errs else None,
        "mean_true_speed_kmh": round(float(true_speed), 1),
        "speeds_measured": len(sp),
    }


def main() -> None:
    import json

    print(json.dumps(run_analysis_bench()))


if __name__ == "__main__":
    main()
