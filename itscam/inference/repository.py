"""The Triton model repository, described once and rendered per deployment profile.

``itscam triton render --profile local|t4 [--out DIR]`` writes ``config.pbtxt``
files from :func:`describe`:

- ``local`` (what is committed under ``triton_models/``): every model on the
  python backend, YOLO11 itself run by ONNX Runtime inside ``yolo11n/1/model.py``
  on CPU instances. This is what the standalone Triton 2.51 that ships in
  PyTriton can serve (it has no ONNX Runtime or TensorRT backend).
- ``t4`` (the production node pool, NVIDIA T4): YOLO11 on Triton's ONNX Runtime
  backend with the TensorRT execution provider at FP16 on ``KIND_GPU``
  instances, larger batches; pre/post-processing stay python models on CPU
  (JPEG decode and NMS are CPU work either way).

Every config is built as a Triton ``ModelConfig`` protobuf message (the schema
shipped in tritonclient) and written with protobuf's text format, so a typo in
a field name fails here rather than when the server loads the model.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from itscam.errors import ConfigError
from itscam.settings import REPO_ROOT, get_settings
from itscam.vision import INPUT_HW, PAD_VALUE, NmsConfig, anchor_count

PROFILES = ("local", "t4")
ENSEMBLE = "yolo11_detector"
PREPROCESS = "preprocess"
DETECTOR = "yolo11n"
POSTPROCESS = "postprocess"
#: Models in load order (the ensemble last: it needs the other three).
MODELS = (PREPROCESS, DETECTOR, POSTPROCESS, ENSEMBLE)
#: Where the committed (local-profile) repository lives; model.py sources are copied from it.
SOURCE_REPOSITORY = REPO_ROOT / "triton_models"
MODEL_FILE = "model.onnx"
NUM_CLASSES = 4
#: YOLO11 anchors at strides 8, 16 and 32 for the input size (10710 at 544x960).
NUM_ANCHORS = anchor_count(INPUT_HW)
#: Thresholds of the postprocess model and of the in-process backend (one source).
NMS = NmsConfig(conf_threshold=0.25, iou_threshold=0.7, max_detections=100)
HEADER = (
    "# Rendered by `itscam triton render --profile {profile}` from itscam/inference/repository.py.\n"
    "# Edit the description there and re-render; tests check this file matches it.\n"
)


@dataclass(frozen=True)
class Batching:
    """Scheduling of one model: batch limit, dynamic batcher and instances."""

    max_batch_size: int
    preferred: tuple[int, ...]
    queue_delay_us: int
    instances: int
    kind: str = "KIND_CPU"


@dataclass(frozen=True)
class Profile:
    name: str
    preprocess: Batching
    detector: Batching
    postprocess: Batching
    intra_op_threads: int = 2

    @property
    def detector_threads(self) -> int:
        """ONNX Runtime threads the detector has in all (instances x intra-op threads)."""
        return self.detector.instances * self.intra_op_threads


# Local (2 CPU cores): two detector instances of one ONNX Runtime intra-op
# thread each, so one runs a batch while the other waits for its next one (one
# instance with 2 threads left the cores idle between batches: 14.5-14.9 vs
# 16.2-16.7 frames/s end to end, interleaved A/B on a fresh broker, session 10).
# The queue delays are short because at concurrency 1 every request waits for
# them, while under load a busy instance accumulates a batch anyway.
LOCAL = Profile(
    "local",
    preprocess=Batching(8, (4, 8), 200, 1),
    detector=Batching(8, (4, 8), 1000, 2),
    postprocess=Batching(8, (4, 8), 200, 1),
    intra_op_threads=1,
)
# T4 node (16 GB, 4-8 vCPU): two TensorRT FP16 contexts on the GPU keep it busy
# while the other copies in/out; YOLO11n at 544x960 fits batch 32 comfortably.
# JPEG decode is the CPU bottleneck, hence 4 preprocess instances.
T4 = Profile(
    "t4",
    preprocess=Batching(32, (8, 16, 32), 500, 4),
    detector=Batching(32, (8, 16, 32), 2000, 2, kind="KIND_GPU"),
    postprocess=Batching(32, (8, 16, 32), 500, 2),
)
_PROFILE_BY_NAME = {p.name: p for p in (LOCAL, T4)}


def _schedule(b: Batching) -> dict[str, Any]:
    return {
        "max_batch_size": b.max_batch_size,
        "dynamic_batching": {
            "preferred_batch_size": list(b.preferred),
            "max_queue_delay_microseconds": b.queue_delay_us,
        },
        "instance_group": [{"count": b.instances, "kind": b.kind}],
    }


def _params(values: dict[str, object]) -> dict[str, Any]:
    return {k: {"string_value": str(v)} for k, v in values.items()}


def _tensor(name: str, dtype: str, dims: list[int], **extra: Any) -> dict[str, Any]:
    return {"name": name, "data_type": dtype, "dims": dims, **extra}


#: The detector input between preprocess and the detector. The local profile passes it
#: as uint8 (the python detector model scales it while batching): a quarter of the
#: bytes through the python backend's shared memory, where the float32 frame's copies
#: (preprocess output and detector input) cost 5.9-7.3 ms of a core per 544x960 frame
#: and the uint8 frame's 1.3-2.1 (Triton's statistics, `itscam bench inference`,
#: session 19). The ONNX Runtime backend of the GPU profiles takes the float32
#: tensor the model was exported with.
IMAGES = _tensor("images", "TYPE_FP32", [3, *INPUT_HW])
IMAGES_U8 = _tensor("images", "TYPE_UINT8", [3, *INPUT_HW])
LETTERBOX = _tensor("letterbox", "TYPE_FP32", [5])
RAW = _tensor("output0", "TYPE_FP32", [4 + NUM_CLASSES, NUM_ANCHORS])
DETECTIONS = _tensor("detections", "TYPE_FP32", [NMS.max_detections, 6])
NUM_DETECTIONS = _tensor("num_detections", "TYPE_INT32", [1])


def _shape_spec(batch: int) -> str:
    """TensorRT profile shape of the detector input, e.g. ``images:8x3x544x960``."""
    return f"images:{batch}x3x{INPUT_HW[0]}x{INPUT_HW[1]}"


def describe(profile: str, nms: NmsConfig | None = None) -> dict[str, dict[str, Any]]:
    """Model name -> Triton model config (protobuf JSON form) for ``profile``.

    ``nms`` overrides the postprocess thresholds (tests and experiments); the
    number of rows ``K`` of the ``detections`` tensor stays ``NMS.max_detections``.
    """
    thresholds = nms or NMS
    if thresholds.max_detections > NMS.max_detections:
        raise ConfigError(
            f"max_detections {thresholds.max_detections} exceeds the {NMS.max_detections} rows "
            "of the detections tensor."
        )
    if profile not in _PROFILE_BY_NAME:
        raise ConfigError(
            f"Unknown Triton profile {profile!r}; choose one of {', '.join(PROFILES)}."
        )
    p = _PROFILE_BY_NAME[profile]
    images = IMAGES_U8 if profile == "local" else IMAGES
    pre = {
        "name": PREPROCESS,
        "backend": "python",
        # Encoded frames differ in length; each request keeps its own shape.
        "input": [_tensor("image", "TYPE_UINT8", [-1], allow_ragged_batch=True)],
        "output": [images, LETTERBOX],
        **_schedule(p.preprocess),
        "parameters": _params(
            {"input_height": INPUT_HW[0], "input_width": INPUT_HW[1], "pad_value": PAD_VALUE}
        ),
    }
    det: dict[str, Any] = {
        "name": DETECTOR,
        "input": [images],
        "output": [RAW],
        **_schedule(p.detector),
        "version_policy": {"latest": {"num_versions": 1}},
    }
    if profile == "local":
        det["backend"] = "python"
        # No spin-waiting: ONNX Runtime's idle threads would otherwise burn the
        # cores that the preprocess/postprocess stubs and the gRPC front end need.
        det["parameters"] = _params(
            {"model_file": MODEL_FILE, "intra_op_threads": p.intra_op_threads, "allow_spinning": 0}
        )
    else:
        det["backend"] = "onnxruntime"
        det["default_model_filename"] = MODEL_FILE
        det["optimization"] = {
            "execution_accelerators": {
                "gpu_execution_accelerator": [
                    {
                        "name": "tensorrt",
                        "parameters": {
                            "precision_mode": "FP16",
                            "max_workspace_size_bytes": str(1 << 30),
                            # Engines are built once per node (minutes on a T4) and
                            # reused from the pod's cache volume after restarts.
                            "trt_engine_cache_enable": "1",
                            "trt_engine_cache_path": "/tmp/trt_cache",
                            "trt_timing_cache_enable": "1",
                            "trt_timing_cache_path": "/tmp/trt_cache",
                            # One optimisation profile covering every batch the
                            # dynamic batcher can form, instead of an engine per size.
                            "trt_profile_min_shapes": _shape_spec(1),
                            "trt_profile_opt_shapes": _shape_spec(p.detector.preferred[-2]),
                            "trt_profile_max_shapes": _shape_spec(p.detector.max_batch_size),
                        },
                    }
                ]
            },
        }
        # Build the TensorRT engine at load time, not on the first camera frame.
        det["model_warmup"] = [
            {
                "name": "zeros_batch8",
                "batch_size": 8,
                "inputs": {
                    "images": {"data_type": "TYPE_FP32", "dims": [3, *INPUT_HW], "zero_data": True}
                },
            }
        ]
    post = {
        "name": POSTPROCESS,
        "backend": "python",
        "input": [RAW, LETTERBOX],
        "output": [DETECTIONS, NUM_DETECTIONS],
        **_schedule(p.postprocess),
        "parameters": _params(
            {
                "conf_threshold": thresholds.conf_threshold,
                "iou_threshold": thresholds.iou_threshold,
                "max_detections": thresholds.max_detections,
            }
        ),
    }
    ens = {
        "name": ENSEMBLE,
        "platform": "ensemble",
        "max_batch_size": p.preprocess.max_batch_size,
        "input": [_tensor("image", "TYPE_UINT8", [-1])],
        "output": [DETECTIONS, NUM_DETECTIONS],
        "ensemble_scheduling": {
            "step": [
                {
                    "model_name": PREPROCESS,
                    "model_version": -1,
                    "input_map": {"image": "image"},
                    "output_map": {"images": "images", "letterbox": "letterbox"},
                },
                {
                    "model_name": DETECTOR,
                    "model_version": -1,
                    "input_map": {"images": "images"},
                    "output_map": {"output0": "raw"},
                },
                {
                    "model_name": POSTPROCESS,
                    "model_version": -1,
                    "input_map": {"output0": "raw", "letterbox": "letterbox"},
                    "output_map": {
                        "detections": "detections",
                        "num_detections": "num_detections",
                    },
                },
            ]
        },
    }
    return {PREPROCESS: pre, DETECTOR: det, POSTPROCESS: post, ENSEMBLE: ens}


def to_message(config: dict[str, Any]) -> model_config_pb2.ModelConfig:
    """Parse a JSON-form config into Triton's ``ModelConfig`` (unknown fields fail)."""
    return json_format.ParseDict(config, model_config_pb2.ModelConfig())


def render_text(profile: str, name: str, nms: NmsConfig | None = None) -> str:
    """The ``config.pbtxt`` text of one model."""
    return HEADER.format(profile=profile) + text_format.MessageToString(
        to_message(describe(profile, nms)[name])
    )


def config_json(name: str, profile: str = "local", **overrides: Any) -> str:
    """Full model config as JSON for Triton's load API (``load_model(config=...)``).

    Triton replaces the whole ``config.pbtxt`` with this text, so it is always
    rendered from the description, with ``overrides`` (e.g. a ``version_policy``)
    applied on top.
    """
    config = {**describe(profile)[name], **overrides}
    to_message(config)  # validate
    return json.dumps(config)


def render(
    profile: str, out: Path, model_file: Path | None = None, nms: NmsConfig | None = None
) -> list[Path]:
    """Write the repository for ``profile`` into ``out``.

    Config files are always (re)written. When ``out`` is not the source
    repository, the python models' ``model.py`` files are copied from it, and the
    detector's ONNX file (``model_file``, default the committed one) is copied to
    ``yolo11n/1/model.onnx`` when it exists.

    Returns:
        The files written.
    """
    out = Path(out)
    written: list[Path] = []
    same = out.resolve() == SOURCE_REPOSITORY.resolve()
    configs = describe(profile, nms)
    for name, config in configs.items():
        model_dir = out / name
        (model_dir / "1").mkdir(parents=True, exist_ok=True)
        path = model_dir / "config.pbtxt"
        path.write_text(render_text(profile, name, nms))
        written.append(path)
        if same:
            continue
        if config.get("backend") == "python":
            src = SOURCE_REPOSITORY / name / "1" / "model.py"
            shutil.copy2(src, model_dir / "1" / "model.py")
            written.append(model_dir / "1" / "model.py")
        if name == DETECTOR:
            onnx = model_file or (SOURCE_REPOSITORY / DETECTOR / "1" / MODEL_FILE)
            if Path(onnx).is_file():
                shutil.copy2(onnx, model_dir / "1" / MODEL_FILE)
                written.append(model_dir / "1" / MODEL_FILE)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="itscam triton render", description="Render the Triton model repository."
    )
    parser.add_argument("--profile", choices=PROFILES, default="local")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: the served repository for local, build/triton-t4 for t4)",
    )
    parser.add_argument("--model-file", type=Path, default=None, help="ONNX file to copy in")
    args = parser.parse_args(argv)
    out = args.out or (
        get_settings().model_repository
        if args.profile == "local"
        else REPO_ROOT / "build" / "triton-t4"
    )
    written = render(args.profile, out, args.model_file)
    onnx = Path(out) / DETECTOR / "1" / MODEL_FILE
    print(f"rendered profile {args.profile} into {out} ({len(written)} files)")
    if not onnx.is_file():
        print(
            f"note: {onnx} is missing; the detector will not load until a model is installed "
            "(`itscam model install`, or pass --model-file)."
        )
    return 0
