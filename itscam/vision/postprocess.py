"""YOLO11 output decoding, class-aware NMS and the fixed-size detection tensor.

Raw model output ``output0`` is ``(N, 4 + nc, A)``: per anchor, box centre
``cx, cy``, width and height in model-input pixels, then ``nc`` class scores
(already sigmoid-ed). Decoding follows Ultralytics' ``non_max_suppression``
with ``multi_label=False``: each anchor keeps its best class, anchors at or
below the confidence threshold are dropped, then greedy NMS runs per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from itscam.vision.letterbox import INPUT_HW, Letterbox, undo_letterbox

#: Columns of one row of the packed detection tensor.
DETECTION_FIELDS: tuple[str, ...] = ("x1", "y1", "x2", "y2", "score", "class_id")
#: Strides of the three YOLO11 detection heads (P3, P4, P5).
STRIDES: tuple[int, ...] = (8, 16, 32)


def anchor_count(input_hw: tuple[int, int] = INPUT_HW) -> int:
    """Anchors ``A`` of the raw output at input size ``(height, width)``: one per cell of each
    head's grid, e.g. 68*120 + 34*60 + 17*30 = 10710 at 544x960."""
    h, w = input_hw
    if h % STRIDES[-1] or w % STRIDES[-1]:
        raise ValueError(f"input size {h}x{w} is not a multiple of the stride {STRIDES[-1]}")
    return sum((h // s) * (w // s) for s in STRIDES)


@dataclass(frozen=True)
class NmsConfig:
    """Post-processing thresholds (Triton's ``postprocess`` config parameters).

    Attributes:
        conf_threshold: keep anchors whose best class score is strictly above this.
        iou_threshold: suppress a box whose IoU with a better box of the same class
            is strictly above this.
        max_detections: keep at most this many boxes per image (best first); also
            the row count ``K`` of the packed tensor.
    """

    conf_threshold: float = 0.25
    iou_threshold: float = 0.7
    max_detections: int = 100

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf_threshold < 1.0:
            raise ValueError(f"conf_threshold must be in [0, 1), got {self.conf_threshold}")
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {self.iou_threshold}")
        if self.max_detections < 1:
            raise ValueError(f"max_detections must be >= 1, got {self.max_detections}")

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> NmsConfig:
        """Build from string parameters, e.g. a Triton config's ``parameters`` map."""
        default = cls()
        return cls(
            conf_threshold=float(params.get("conf_threshold", default.conf_threshold)),
            iou_threshold=float(params.get("iou_threshold", default.iou_threshold)),
            max_detections=int(params.get("max_detections", default.max_detections)),
        )


def decode_predictions(
    pred: np.ndarray, conf_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn one image's raw output into scored candidate boxes.

    Args:
        pred: ``(4 + nc, A)`` raw output of one image.
        conf_threshold: minimum best-class score (exclusive).

    Returns:
        ``(xyxy (M, 4) float32 input pixels, score (M,) float32, class_id (M,) int32)``.
    """
    pred = np.asarray(pred, dtype=np.float32)
    if pred.ndim != 2 or pred.shape[0] < 5:
        raise ValueError(f"expected raw output of shape (4 + nc, anchors), got {pred.shape}")
    scores_all = pred[4:]
    class_id = scores_all.argmax(axis=0)
    score = scores_all[class_id, np.arange(pred.shape[1])]
    keep = score > conf_threshold
    cx, cy, w, h = pred[:4, keep]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return xyxy.astype(np.float32), score[keep].astype(np.float32), class_id[keep].astype(np.int32)


def nms(xyxy: np.ndarray, score: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression of one class.

    Boxes are visited best score first (ties: lower index first); a box is
    suppressed when its IoU with an already kept box is strictly above
    ``iou_threshold``. A pair of zero-area boxes has IoU 0 (never suppressed).

    Args:
        xyxy: ``(N, 4)`` boxes.
        score: ``(N,)`` scores.
        iou_threshold: suppression threshold.

    Returns:
        ``(K,)`` int64 indices of kept boxes, best score first.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        iw = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        ih = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        union = area[i] + area[rest] - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def nms_class_aware(
    xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """NMS run independently per class: boxes of different classes never suppress each other.

    Returns:
        ``(K,)`` int64 indices of kept boxes over all classes, best score first
        (ties: lower index first).
    """
    class_id = np.asarray(class_id).reshape(-1)
    score = np.asarray(score, dtype=np.float32).reshape(-1)
    kept = [
        idx[nms(xyxy[idx], score[idx], iou_threshold)]
        for idx in (np.flatnonzero(class_id == c) for c in np.unique(class_id))
    ]
    if not kept:
        return np.zeros(0, dtype=np.int64)
    keep = np.concatenate(kept)
    return keep[np.lexsort((keep, -score[keep].astype(np.float64)))]


def postprocess_one(
    pred: np.ndarray, lb: Letterbox, config: NmsConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw output of one image -> final detections in original-frame pixels.

    Args:
        pred: ``(4 + nc, A)`` raw output.
        lb: the image's letterbox mapping.
        config: thresholds.

    Returns:
        ``(xyxy (K, 4) float32 original pixels, score (K,) float32, class_id (K,) int32)``,
        best score first, ``K <= config.max_detections``.
    """
    xyxy, score, class_id = decode_predictions(pred, config.conf_threshold)
    keep = nms_class_aware(xyxy, score, class_id, config.iou_threshold)[: config.max_detections]
    return undo_letterbox(xyxy[keep], lb), score[keep], class_id[keep]


def postprocess(
    preds: np.ndarray, letterboxes: Sequence[Letterbox], config: NmsConfig
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batched :func:`postprocess_one`: ``preds`` is ``(N, 4 + nc, A)``."""
    preds = np.asarray(preds)
    if preds.ndim != 3 or len(preds) != len(letterboxes):
        raise ValueError(
            f"expected ({len(letterboxes)}, 4 + nc, anchors) predictions, got {preds.shape}"
        )
    return [postprocess_one(p, lb, config) for p, lb in zip(preds, letterboxes, strict=True)]


def pack_detections(
    xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size tensor for Triton: rows beyond the count are zero.

    Returns:
        ``(detections (k, 6) float32 [x1, y1, x2, y2, score, class_id], num (1,) int32)``.
    """
    n = len(xyxy)
    if n > k:
        raise ValueError(f"{n} detections do not fit a tensor of {k} rows")
    out = np.zeros((k, 6), dtype=np.float32)
    out[:n, :4] = xyxy
    out[:n, 4] = score
    out[:n, 5] = class_id
    return out, np.array([n], dtype=np.int32)


def unpack_detections(
    detections: np.ndarray, num: np.ndarray | int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_detections` -> ``(xyxy (n, 4), score (n,), class_id (n,) int32)``."""
    n = int(np.asarray(num).reshape(-1)[0])
    det = np.asarray(detections, dtype=np.float32).reshape(-1, 6)
    if not 0 <= n <= len(det):
        raise ValueError(f"detection count {n} outside 0..{len(det)}")
    rows = det[:n]
    return rows[:, :4].copy(), rows[:, 4].copy(), np.rint(rows[:, 5]).astype(np.int32)
