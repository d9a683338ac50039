"""Switch the served YOLO11 version through Triton's model-control API, without downtime.

Triton (explicit model-control mode) loads the requested version next to the
serving one and swaps only once it is ready; requests in flight finish on the
old version. The ensemble steps name version ``-1`` (latest loaded), so it
follows the switch. The detector's config is sent whole with each load (Triton
replaces ``config.pbtxt`` with it), rendered from the one repository
description with a ``specific`` version policy.
"""

from __future__ import annotations

from tritonclient.grpc import aio as grpc_aio
from tritonclient.utils import InferenceServerException

from itscam.errors import ModelError
from itscam.inference.repository import DETECTOR, config_json


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
