"""Triton python model: encoded frames -> letterboxed model input (maths in itscam.vision).

Input ``image``: ``[B, L]`` uint8, one JPEG/PNG per row (rows may carry trailing
zero padding). Outputs ``images`` ``[B, 3, H, W]`` (``H, W`` from this model's
config parameters, rendered from ``itscam.vision.INPUT_HW``: 544x960): float32 in
[0, 1], or uint8 in [0, 255] where the config declares uint8 (the local profile)
and ``letterbox`` ``[B, 5]`` float32 (orig_h, orig_w, scale, pad_x, pad_y). A frame that does not
decode fails its own request only, with the reason.
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

from itscam.errors import DataError  # noqa: E402
from itscam.vision import decode_image, letterbox  # noqa: E402


def _error(message):
    try:
        return pb_utils.TritonError(message, pb_utils.TritonError.INVALID_ARG)
    except (AttributeError, TypeError):
        return pb_utils.TritonError(message)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        value = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.input_hw = (int(value["input_height"]), int(value["input_width"]))
        self.pad_value = int(value["pad_value"])
        # The local profile hands the detector uint8 (a quarter of the bytes), the
        # GPU profiles float32 in [0, 1]: whatever this model's config declares.
        images = {o["name"]: o["data_type"] for o in config["output"]}
        self.scaled = images["images"] != "TYPE_UINT8"

    def execute(self, requests):
        responses = []
        for request in requests:
            rows = pb_utils.get_input_tensor_by_name(request, "image").as_numpy()
            try:
                tensors, boxes = [], []
                for row in rows:
                    tensor, lb = letterbox(
                        decode_image(row), self.input_hw, self.pad_value, scaled=self.scaled
                    )
                    tensors.append(tensor)
                    boxes.append(lb.as_array())
            except (DataError, ValueError) as exc:
                responses.append(pb_utils.InferenceResponse(error=_error(f"preprocess: {exc}")))
                continue
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("images", np.stack(tensors)),
                        pb_utils.Tensor("letterbox", np.stack(boxes)),
                    ]
                )
            )
        return responses
