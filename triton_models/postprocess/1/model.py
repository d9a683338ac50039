"""Triton python model: raw YOLO11 output -> padded detections (maths in itscam.vision).

Inputs ``output0`` ``[B, 8, A]`` (A = 10710 anchors at 544x960) and ``letterbox`` ``[B, 5]``; outputs
``detections`` ``[B, K, 6]`` float32 rows ``(x1, y1, x2, y2, score, class_id)`` in
original-frame pixels, zero beyond the count, and ``num_detections`` ``[B, 1]``
int32. Thresholds come from this model's config parameters.
"""

import json
import os
import sys

# The python-backend stub ignores PYTHONPATH; the project's launcher
# (itscam/services/triton.py) passes the import path of itscam.vision here. In a
# production image itscam is installed and the variable is unset.
for _path in os.environ.get("ITSCAM_MODEL_PYTHONPATH", "").split(os.pathsep)[::-1]:
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

from itscam.vision import Letterbox, NmsConfig, pack_detections, postprocess_one  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.config = NmsConfig.from_parameters({k: v["string_value"] for k, v in params.items()})

    def execute(self, requests):
        responses = []
        for request in requests:
            raw = pb_utils.get_input_tensor_by_name(request, "output0").as_numpy()
            boxes = pb_utils.get_input_tensor_by_name(request, "letterbox").as_numpy()
            try:
                packed = [
                    pack_detections(
                        *postprocess_one(pred, Letterbox.from_array(lb), self.config),
                        self.config.max_detections,
                    )
                    for pred, lb in zip(raw, boxes, strict=True)
                ]
            except ValueError as exc:
                error = pb_utils.TritonError(f"postprocess: {exc}")
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("detections", np.stack([d for d, _ in packed])),
                        pb_utils.Tensor("num_detections", np.stack([n for _, n in packed])),
                    ]
                )
            )
        return responses
