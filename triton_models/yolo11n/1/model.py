"""Triton python model: YOLO11 run by ONNX Runtime on CPU (the local profile).

The standalone Triton available here has only the python backend, so this
model plays the part of Triton's ONNX Runtime backend: it concatenates the
requests of a dynamic batch into one ``[N, 3, H, W]`` float32 tensor (``H, W`` from
this model's config, rendered from ``itscam.vision.INPUT_HW``: 544x960; uint8
inputs are scaled to [0, 1] in the same pass, ``itscam.vision.scale_input``), runs the
session once and splits ``output0`` ``[N, 8, A]`` (A = 10710) back per request.
An ONNX file exported at another fixed size fails the load with the reason.
"""

import json
import os
import sys
from pathlib import Path

# The python-backend stub ignores PYTHONPATH; the project's launcher
# (itscam/services/triton.py) passes the import path of itscam.vision here.
for _path in os.environ.get("ITSCAM_MODEL_PYTHONPATH", "").split(os.pathsep)[::-1]:
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

from itscam.vision import scale_input  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        value = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        path = Path(args["model_repository"]) / args["model_version"] / value["model_file"]
        if not path.is_file():
            raise pb_utils.TritonModelException(
                f"{path} does not exist. Install a detector with `itscam model install` "
                "(or train one with `itscam model train`), then load the model again."
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(value["intra_op_threads"])
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", value.get("allow_spinning", "1")
        )
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        # uint8 in [0, 255] (the local profile's preprocess): scaled here, in the
        # same pass that concatenates the batch.
        self.uint8 = config["input"][0]["data_type"] == "TYPE_UINT8"
        want = [int(d) for d in config["input"][0]["dims"]][1:]  # [3, H, W] -> [H, W]
        have = self.session.get_inputs()[0].shape[2:]
        if all(isinstance(d, int) for d in have) and list(have) != want:
            raise pb_utils.TritonModelException(
                f"{path} takes {have[0]}x{have[1]} (height x width) input images, but this "
                f"model's config serves {want[0]}x{want[1]}. Re-export the checkpoint at that "
                "size (`itscam model install --weights PT` or `itscam model import PT`)."
            )

    def execute(self, requests):
        batches = [pb_utils.get_input_tensor_by_name(r, "images").as_numpy() for r in requests]
        try:
            x = scale_input(batches) if self.uint8 else np.concatenate(batches)
            raw = self.session.run(None, {self.input_name: x})[0]
        except Exception as exc:  # one failed run fails every request of the batch
            error = pb_utils.TritonError(f"yolo11n: ONNX Runtime failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        responses, start = [], 0
        for batch in batches:
            out = raw[start : start + len(batch)]
            start += len(batch)
            responses.append(
                pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("output0", out)])
            )
        return responses
