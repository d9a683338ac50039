"""Switch the served YOLO11 version through Triton's model-control API, without downtime.

Triton (explicit model-control mode) loads the requested version next to the
serving one and swaps only once it is ready; requests in flight finish on the
old version. The ensemble steps name version ``-1`` (latest loaded), so it
follows the switch. The detector's config is sent whole with each load (Triton
replaces ``config.pbtxt`` with it), rendered from the one repository
description with a ``specific`` version policy.
"""

from __future__ import annotations

from pathlib import Path

from tritonclient.grpc import aio as grpc_aio
from tritonclient.utils import InferenceServerException

from itscam.errors import ModelError
from itscam.inference.repository import DETECTOR, MODEL_FILE, config_json


async def ready_versions(
    client: grpc_aio.InferenceServerClient, model: str = DETECTOR
) -> list[int]:
    """Versions of ``model`` that are READY, ascending."""
    index = await client.get_model_repository_index(as_json=True)
    return sorted(
        int(m["version"])
        for m in index.get("models", [])
        if m.get("name") == model and m.get("state") == "READY" and m.get("version")
    )


async def serve_version(
    client: grpc_aio.InferenceServerClient,
    version: int,
    *,
    model: str = DETECTOR,
    profile: str = "local",
) -> list[int]:
    """Make ``version`` the only served version of ``model`` (deploy or roll back).

    Returns:
        The versions ready afterwards (``[version]``).

    Raises:
        ModelError: the version does not exist or fails to load; the previously
            served version keeps serving.
    """
    config = config_json(model, profile, version_policy={"specific": {"versions": [version]}})
    try:
        await client.load_model(model, config=config)
    except InferenceServerException as exc:
        raise ModelError(
            f"Loading {model} version {version} failed: {exc.message()}. The previous version "
            f"keeps serving. Check that {model}/{version}/ exists in the model repository and "
            "holds a valid model.onnx."
        ) from None
    versions = await ready_versions(client, model)
    if versions != [version]:
        raise ModelError(
            f"After loading {model} version {version}, the ready versions are {versions}; "
            "check the Triton log."
        )
    return versions


def validate_model(onnx: Path) -> None:
    """Check an ONNX file honours the detector contract before it is served.

    Runs it once on a zero batch: input ``images`` ``[N, 3, *INPUT_HW]`` float32,
    output ``[N, 4 + 4, NUM_ANCHORS]`` float32 with finite values (``[N, 3, 544, 960]``
    and 10710 anchors). A model exported at another fixed size is refused on load.

    Raises:
        ModelError: what is wrong and what to do.
    """
    import numpy as np

    from itscam.inference.inprocess import OnnxRuntimeDetector
    from itscam.inference.repository import NUM_ANCHORS, NUM_CLASSES
    from itscam.vision import INPUT_HW

    det = OnnxRuntimeDetector(onnx)
    inputs = det.session.get_inputs()
    if [i.name for i in inputs] != ["images"]:
        raise ModelError(
            f"{onnx} takes inputs {[i.name for i in inputs]}, expected one named 'images'. "
            "Export with Ultralytics (`format=onnx`) or rename the input."
        )
    out = det.run_raw(np.zeros((2, 3, *INPUT_HW), np.float32))
    expected = (2, 4 + NUM_CLASSES, NUM_ANCHORS)
    if out.shape != expected or out.dtype != np.float32 or not np.isfinite(out).all():
        raise ModelError(
            f"{onnx} returns {out.dtype} {out.shape} for a batch of 2, expected float32 "
            f"{expected} (4 box rows + {NUM_CLASSES} vehicle classes, {INPUT_HW[0]}x{INPUT_HW[1]} "
            f"input, dynamic batch). Re-export with imgsz={INPUT_HW}, dynamic=True, nc=4 "
            "(`itscam model install --weights PT` or `itscam model import PT`)."
        )


def stage_version(repository: Path, onnx: Path, *, model: str = DETECTOR) -> int:
    """Validate ``onnx`` and copy it into the next version directory of ``model``.

    The new directory gets the python model (``model.py``) of the newest existing
    version, so it serves exactly like it. Nothing is loaded: call
    :func:`serve_version` to switch, and again with the old number to roll back.

    Returns:
        The new version number.
    """
    import shutil

    validate_model(onnx)
    base = Path(repository) / model
    versions = sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())
    if not versions:
        raise ModelError(
            f"{base} has no version directory to copy from; render the repository first "
            "(`itscam triton render --profile local --out DIR`)."
        )
    new = versions[-1] + 1
    target = base / str(new)
    staging = base / f".staging-{new}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for extra in (base / str(versions[-1])).glob("*.py"):
        shutil.copy2(extra, staging / extra.name)
    shutil.copy2(onnx, staging / MODEL_FILE)
    # Appear complete or not at all: Triton must never see a half-copied version.
    staging.rename(target)
    return new
