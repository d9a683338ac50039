"""Letterbox resize (aspect-preserving scale + constant padding) and its inverse.

The arithmetic follows Ultralytics' ``LetterBox`` (centred padding, the
``round(d -/+ 0.1)`` split of an odd pad) and ``scale_boxes`` (undo with the
gain ``r``), so a model trained with Ultralytics sees the same pixels here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Model input size ``(height, width)``, the one source of truth for the whole serving
#: path (Triton configs, export, install, evaluation, gates): 16:9 frames of 640x360
#: scale by 1.5 to 960x540 and are padded to 960x544 (heights must be multiples of the
#: largest YOLO11 stride, 32). Serving above the 640 training size is deliberate: far
#: vehicles 10-16 px tall become 15-24 px, which lifts held-out mAP50 from 0.873 (at
#: 384x640) to 0.938 with the same weights (README, Detector).
INPUT_HW: tuple[int, int] = (544, 960)
#: Grey pad value of the letterbox bars (Ultralytics' default).
PAD_VALUE = 114
#: Pixel scaling of the model input (uint8 -> [0, 1]).
INPUT_SCALE = 1.0 / 255.0


@dataclass(frozen=True)
class Letterbox:
    """How one original frame maps onto the model input.

    ``input = original * scale + (pad_x, pad_y)`` for x and y respectively.

    Attributes:
        orig_h, orig_w: original frame size in pixels.
        scale: gain ``min(H_in / orig_h, W_in / orig_w)``.
        pad_x, pad_y: left and top padding in input pixels.
    """

    orig_h: int
    orig_w: int
    scale: float
    pad_x: float
    pad_y: float

    def as_array(self) -> np.ndarray:
        """``(5,)`` float32 ``[orig_h, orig_w, scale, pad_x, pad_y]`` (the Triton tensor)."""
        return np.array(
            [self.orig_h, self.orig_w, self.scale, self.pad_x, self.pad_y], dtype=np.float32
        )

    @classmethod
    def from_array(cls, values: np.ndarray) -> Letterbox:
        """Inverse of :meth:`as_array`."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape != (5,):
            raise ValueError(f"letterbox tensor must have 5 values, got shape {v.shape}")
        return cls(round(float(v[0])), round(float(v[1])), float(v[2]), float(v[3]), float(v[4]))


def letterbox_params(
    orig_hw: tuple[int, int], input_hw: tuple[int, int] = INPUT_HW
) -> tuple[Letterbox, tuple[int, int], tuple[int, int, int, int]]:
    """Compute the letterbox geometry.

    Returns:
        ``(letterbox, (new_h, new_w), (top, bottom, left, right))``: the mapping,
        the resized image size and the four pad widths in input pixels.
    """
    h, w = orig_hw
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    in_h, in_w = input_hw
    r = min(in_h / h, in_w / w)
    new_w, new_h = round(w * r), round(h * r)
    dw, dh = (in_w - new_w) / 2, (in_h - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    # Rounding the two halves independently can over- or under-shoot by a pixel.
    bottom = in_h - new_h - top
    right = in_w - new_w - left
    # The gain travels between Triton models as float32; rounding it here keeps the
    # in-process path bit-identical to the served one.
    scale = float(np.float32(r))
    return (
        Letterbox(h, w, scale, float(left), float(top)),
        (new_h, new_w),
        (top, bottom, left, right),
    )


def letterbox(
    image_bgr: np.ndarray,
    input_hw: tuple[int, int] = INPUT_HW,
    pad_value: int = PAD_VALUE,
    *,
    scaled: bool = True,
) -> tuple[np.ndarray, Letterbox]:
    """Letterbox one BGR frame into the model's input tensor.

    Args:
        image_bgr: ``(H, W, 3)`` BGR uint8 frame.
        input_hw: model input ``(height, width)``.
        pad_value: grey level of the bars.
        scaled: ``False`` returns the tensor as uint8 RGB in [0, 255], a quarter of
            the bytes; :func:`scale_input` turns a batch of them into exactly the
            float32 tensors ``scaled=True`` returns.

    Returns:
        ``(tensor, letterbox)``: ``(3, in_h, in_w)`` float32 RGB in [0, 1] (uint8 RGB
        if not ``scaled``), and the mapping needed to bring boxes back to original
        pixels.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(
            f"expected a (H, W, 3) uint8 BGR image, got shape {image_bgr.shape} {image_bgr.dtype}"
        )
    lb, (new_h, new_w), (top, bottom, left, right) = letterbox_params(image_bgr.shape[:2], input_hw)
    if (new_h, new_w) != image_bgr.shape[:2]:
        resized = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    else:
        resized = image_bgr
    if (top, bottom, left, right) != (0, 0, 0, 0):
        resized = cv2.copyMakeBorder(
            resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad_value,) * 3
        )
    # BGR -> RGB, HWC -> CHW and the 1/255 scaling in one pass (~2x faster than numpy's
    # strided transpose + astype, which matters on the 2-core Triton host).
    if not scaled:
        return cv2.dnn.blobFromImage(resized, 1.0, swapRB=True, ddepth=cv2.CV_8U)[0], lb
    tensor = cv2.dnn.blobFromImage(resized, scalefactor=INPUT_SCALE, swapRB=True)[0]
    return tensor, lb


def scale_input(batches: list[np.ndarray]) -> np.ndarray:
    """Concatenate uint8 input tensors ``(n_i, 3, H, W)`` into one float32 batch in [0, 1].

    One pass per part, written straight into the batch; bit-identical to
    ``letterbox(..., scaled=True)`` (OpenCV multiplies by the float32 of 1/255 too).
    """
    n = sum(len(b) for b in batches)
    out = np.empty((n, *batches[0].shape[1:]), np.float32)
    start = 0
    for b in batches:
        # dtype forces float32 arithmetic under numpy 1's value-based casting too
        # (uint8 times a float scalar would otherwise compute in float16 there).
        np.multiply(b, np.float32(INPUT_SCALE), out=out[start : start + len(b)], dtype=np.float32)
        start += len(b)
    return out


def undo_letterbox(xyxy: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Map boxes from model-input pixels back to original-frame pixels.

    Args:
        xyxy: ``(N, 4)`` boxes in input pixels.
        lb: the frame's :class:`Letterbox`.

    Returns:
        ``(N, 4)`` float32 boxes in original pixels, clipped to the frame.
    """
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    boxes[:, [0, 2]] -= lb.pad_x
    boxes[:, [1, 3]] -= lb.pad_y
    boxes /= np.float32(lb.scale)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, lb.orig_w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, lb.orig_h)
    return boxes
