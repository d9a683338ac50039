"""Triton resources: the model-control client and the model repository on disk."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from itscam.errors import ServiceError
from itscam.settings import get_settings


class TritonResource(ConfigurableResource):
    """Triton's gRPC endpoint, used for model control (load/unload) and readiness."""

    url: str = Field(
        "", description="host:port of Triton gRPC; empty = ITSCAM_TRITON_URL or the local server"
    )
    timeout_s: float = Field(
        60.0, description="Deadline of a load request (model loading can be slow)"
    )

    def endpoint(self) -> str:
        return self.url or get_settings().triton_grpc

    def client(self):  # type: ignore[no-untyped-def]
        import tritonclient.grpc as grpcclient

        try:
            return grpcclient.InferenceServerClient(url=self.endpoint())
        except Exception as exc:
            raise ServiceError(
                f"Cannot create a Triton client for {self.endpoint()}: {exc}"
            ) from None


class ModelRepositoryResource(ConfigurableResource):
    """The Triton model repository and the folders around it."""

    repository: str = Field(
        "", description="Model repository path; empty = ITSCAM_MODEL_REPOSITORY"
    )
    model_name: str = Field("yolo11n", description="Model whose versions this platform publishes")
    inbox: str = Field(
        "", description="Watched folder for new weights; empty = <state_dir>/model_inbox"
    )
    archive: str = Field(
        "", description="Where rolled-back versions go; empty = <state_dir>/model_archive"
    )
    latency_budget_ms: float = Field(
        150.0, description="Gate: median single-image latency on this machine's CPU (onnxruntime)"
    )
    accuracy_tolerance: float = Field(
        0.0, description="Gate: candidate mAP50 may be at most this far below"
    )

    def repository_path(self) -> Path:
        return Path(self.repository) if self.repository else get_settings().model_repository

    def model_dir(self) -> Path:
        return self.repository_path() / self.model_name

    def inbox_path(self) -> Path:
        return Path(self.inbox) if self.inbox else get_settings().state_dir / "model_inbox"

    def archive_path(self) -> Path:
        return Path(self.archive) if self.archive else get_settings().state_dir / "model_archive"
