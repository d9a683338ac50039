"""Pre- and post-processing maths of the YOLO11 detector: one module, three users.

Triton's python models (``triton_models/preprocess``, ``triton_models/postprocess``),
the in-process ONNX Runtime backend (:mod:`itscam.inference.onnxruntime`) and the
tests all import this package, so the two inference paths cannot drift apart.
It imports only numpy and OpenCV (it runs inside Triton's python-backend stub,
whose environment has numpy < 2 and opencv-python-headless).

Conventions: images are BGR ``uint8`` ``(H, W, 3)`` as OpenCV decodes them; the
model input is RGB ``float32`` ``(3, *INPUT_HW)`` (``(3, 544, 960)``) in [0, 1],
letterboxed with pad value 114 (between Triton's local preprocess and detector
models it travels as ``uint8`` in [0, 255], a quarter of the bytes, and
:func:`scale_input` makes the float batch); boxes are ``xyxy`` pixels, x right, y down, origin at the top-left
pixel corner, either of the model input ("input pixels") or of the original
frame ("original pixels").
"""

from itscam.vision.decode import decode_image
from itscam.vision.letterbox import (
    INPUT_HW,
    INPUT_SCALE,
    PAD_VALUE,
    Letterbox,
    letterbox,
    letterbox_params,
    scale_input,
    undo_letterbox,
)
from itscam.vision.postprocess import (
    DETECTION_FIELDS,
    STRIDES,
    NmsConfig,
    anchor_count,
    decode_predictions,
    nms,
    nms_class_aware,
    pack_detections,
    postprocess,
    postprocess_one,
    unpack_detections,
)

__all__ = [
    "DETECTION_FIELDS",
    "INPUT_HW",
    "INPUT_SCALE",
    "PAD_VALUE",
    "STRIDES",
    "Letterbox",
    "NmsConfig",
    "anchor_count",
    "decode_image",
    "decode_predictions",
    "letterbox",
    "letterbox_params",
    "nms",
    "nms_class_aware",
    "pack_detections",
    "postprocess",
    "postprocess_one",
    "scale_input",
    "undo_letterbox",
    "unpack_detections",
]
