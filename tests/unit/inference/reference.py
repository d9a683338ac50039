"""An independent reference decode of raw YOLO11 output, for equality tests.

Shares no code with :mod:`itscam.vision` (only the input-size constant, the
contract): OpenCV's ``NMSBoxesBatched`` does the class-aware NMS and the
letterbox undo is Ultralytics' ``scale_boxes`` arithmetic written out again.
"""

from __future__ import annotations

import cv2
import numpy as np

from itscam.vision import INPUT_HW


def reference_decode(
    raw: np.ndarray,
    orig_hw: tuple[int, int],
    conf: float,
    iou: float,
    max_det: int,
    input_hw: tuple[int, int] = INPUT_HW,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``raw`` ``(4 + nc, A)`` -> ``(xyxy original pixels, score, class_id)``, best first."""
    scores = raw[4:]
    cls = scores.argmax(0)
    best = scores.max(0)
    m = best > conf
    cx, cy, w, h = raw[:4, m]
    xywh = np.stack([cx - w / 2, cy - h / 2, w, h], 1)
    keep = np.asarray(
        cv2.dnn.NMSBoxesBatched(xywh.tolist(), best[m].tolist(), cls[m].tolist(), conf, iou),
        dtype=np.int64,
    ).reshape(-1)
    keep = keep[np.argsort(-best[m][keep], kind="stable")][:max_det]
    h0, w0 = orig_hw
    gain = min(input_hw[0] / h0, input_hw[1] / w0)
    pad_x = round((input_hw[1] - round(w0 * gain)) / 2 - 0.1)
    pad_y = round((input_hw[0] - round(h0 * gain)) / 2 - 0.1)
    box = xywh[keep].astype(np.float64)
    xyxy = np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], 1)
    xyxy = (xyxy - [pad_x, pad_y, pad_x, pad_y]) / gain
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w0)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h0)
    return xyxy, best[m][keep], cls[m][keep]


def assert_same_detections(a, b, atol: float = 1e-3) -> None:
    """Same count, same classes in the same order, boxes within ``atol`` pixels."""
    xa, sa, ca = a
    xb, sb, cb = b
    assert len(xa) == len(xb), f"{len(xa)} vs {len(xb)} detections"
    np.testing.assert_array_equal(np.asarray(ca), np.asarray(cb))
    np.testing.assert_allclose(np.asarray(xa), np.asarray(xb), atol=atol, rtol=0)
    np.testing.assert_allclose(np.asarray(sa), np.asarray(sb), atol=1e-5, rtol=0)
