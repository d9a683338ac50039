"""Triton backend: encoded frames to the ``yolo11_detector`` ensemble over async gRPC.

Each frame is its own request (a ``[1, L]`` uint8 tensor), so a bad frame fails
only itself and Triton's dynamic batchers form the batches server-side. The
client bounds requests in flight, gives each a deadline, retries transient
failures (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) with exponential
backoff, and pins the model version when one is configured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.grpc import aio as grpc_aio
from tritonclient.utils import InferenceServerException

from itscam.domain.detections import Detections
from itscam.errors import ModelError, ServiceError
from itscam.inference.base import (
    BATCH_SIZE,
    ERRORS,
    IN_FLIGHT,
    LATENCY,
    RETRIES,
    DetectionError,
    DetectionResult,
)
from itscam.vision import unpack_detections

#: Worth another attempt at the same server after a pause.
RETRYABLE = {
    "StatusCode.UNAVAILABLE",
    "StatusCode.DEADLINE_EXCEEDED",
    "StatusCode.RESOURCE_EXHAUSTED",
}
#: The frame itself is at fault; every other failure (server down, model not
#: loaded, model crashed) is the server's, so another backend may still succeed.
FRAME_AT_FAULT = {"StatusCode.INVALID_ARGUMENT"}
_KIND = {
    "StatusCode.UNAVAILABLE": "unavailable",
    "StatusCode.DEADLINE_EXCEEDED": "deadline",
    "StatusCode.RESOURCE_EXHAUSTED": "unavailable",
    "StatusCode.INVALID_ARGUMENT": "bad_image",
    "StatusCode.NOT_FOUND": "model",
}


#: tritonclient's own channel defaults, plus a short reconnect backoff: gRPC's
#: default backoff grows towards 120 s over a long outage, during which a
#: restarted Triton would stay unused (after a 20 s outage the client was back
#: 0.7 s after the server with these settings, 1.4 s with gRPC's defaults).
CHANNEL_ARGS = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.keepalive_time_ms", 2**31 - 1),
    ("grpc.keepalive_timeout_ms", 20000),
    ("grpc.keepalive_permit_without_calls", False),
    ("grpc.http2.max_pings_without_data", 2),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


@dataclass
class TransferStats:
    """Bytes on the wire (serialized gRPC messages) and requests, for the benchmark."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


class TritonDetector:
    """Detector backed by a Triton server.

    Args:
        url: gRPC ``host:port``.
        model: ensemble name.
        version: model version ('' = the server's choice, i.e. the latest loaded).
        timeout_s: deadline of one attempt.
        max_in_flight: requests awaiting a response at once (back-pressure).
        retries: extra attempts after a transient failure.
        backoff_s: first retry delay; doubles per attempt.
        count_bytes: measure serialized request/response sizes (benchmark only).
    """

    name = "triton"

    def __init__(
        self,
        url: str,
        model: str = "yolo11_detector",
        version: str = "",
        *,
        timeout_s: float = 2.0,
        max_in_flight: int = 16,
        retries: int = 2,
        backoff_s: float = 0.05,
        count_bytes: bool = False,
        version_refresh_s: float = 60.0,
    ) -> None:
        self.url = url
        self.model = model
        self.version = version
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.count_bytes = count_bytes
        self.transfer = TransferStats()
        #: gRPC infer calls made, retries included.
        self.attempts = 0
        #: Which detector version answers, e.g. ``triton:yolo11n/2`` (refreshed periodically,
        #: so a rollout shows up in the detections it produced).
        self.model_version = f"triton:{model}/{version or 'latest'}"
        self.version_refresh_s = version_refresh_s
        self._version_checked = float("-inf")
        self._max_in_flight = max_in_flight
        self._semaphore: asyncio.Semaphore | None = None
        self._client: grpc_aio.InferenceServerClient | None = None
        self._outputs = [InferRequestedOutput("detections"), InferRequestedOutput("num_detections")]

    def _get_client(self) -> grpc_aio.InferenceServerClient:
        # Created lazily: a grpc.aio channel belongs to the running event loop.
        if self._client is None:
            self._client = grpc_aio.InferenceServerClient(self.url, channel_args=CHANNEL_ARGS)
            self._semaphore = asyncio.Semaphore(self._max_in_flight)
        return self._client

    async def ready(self) -> None:
        """Check the server is live and the model ready.

        Raises:
            ServiceError: the server cannot be reached.
            ModelError: the server is up but the model is not ready.
        """
        client = self._get_client()
        try:
            live = await client.is_server_live(client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            live = False
            reason = exc.message()
        else:
            reason = "server not live"
        if not live:
            raise ServiceError(
                f"Triton at {self.url} cannot be reached ({reason}). Start it with "
                "`itscam services up`, or set ITSCAM_TRITON_URL to a running server, or run "
                "with ITSCAM_INFERENCE_BACKEND=onnxruntime (or auto) to infer in-process."
            )
        if not await client.is_model_ready(self.model, self.version, client_timeout=self.timeout_s):
            raise ModelError(
                f"Triton at {self.url} is up but model {self.model!r}"
                f"{' version ' + self.version if self.version else ''} is not ready. Check the "
                "server log (a missing triton_models/yolo11n/1/model.onnx is the usual cause: "
                "`itscam model install`), then load it again."
            )
        await self.refresh_model_version()

    async def refresh_model_version(self, detector: str = "yolo11n") -> str:
        """Ask the server which version of the detector model is ready (best effort)."""
        self._version_checked = time.monotonic()
        try:
            index = await self._get_client().get_model_repository_index(
                as_json=True, client_timeout=self.timeout_s
            )
        except InferenceServerException:
            return self.model_version
        ready = sorted(
            int(m["version"])
            for m in index.get("models", [])
            if m.get("name") == detector and m.get("state") == "READY" and m.get("version")
        )
        if ready:
            self.model_version = f"triton:{detector}/{ready[-1]}"
        return self.model_version

    async def detect(self, images: Sequence[bytes]) -> list[DetectionResult]:
        self._get_client()
        if time.monotonic() - self._version_checked > self.version_refresh_s:
            await self.refresh_model_version()
        if images:
            BATCH_SIZE.labels(self.name).observe(len(images))
        return list(await asyncio.gather(*(self.detect_one(img) for img in images)))

    async def detect_one(self, image: bytes) -> DetectionResult:
        """One frame, with bounded concurrency, a deadline per attempt and retries."""
        client = self._get_client()
        assert self._semaphore is not None
        data = np.frombuffer(image, dtype=np.uint8)[None]
        attempt = 0
        async with self._semaphore:
            start = time.perf_counter()
            while True:
                tensor = InferInput("image", list(data.shape), "UINT8")
                tensor.set_data_from_numpy(data)
                IN_FLIGHT.labels(self.name).inc()
                self.attempts += 1
                try:
                    result = await client.infer(
                        self.model,
                        [tensor],
                        model_version=self.version,
                        outputs=self._outputs,
                        client_timeout=self.timeout_s,
                    )
                except InferenceServerException as exc:
                    status = exc.status() or ""
                    transient = status not in FRAME_AT_FAULT
                    if status in RETRYABLE and attempt < self.retries:
                        RETRIES.labels(self.name).inc()
                        await asyncio.sleep(self.backoff_s * (2**attempt))
                        attempt += 1
                        continue
                    ERRORS.labels(self.name, _KIND.get(status, "other")).inc()
                    return DetectionError(
                        f"Triton {self.url} {self.model}: {exc.message()} ({status or 'no status'},"
                        f" {attempt + 1} attempt(s))",
                        transient=transient,
                        backend=self.name,
                    )
                finally:
                    IN_FLIGHT.labels(self.name).dec()
                break
        LATENCY.labels(self.name).observe(time.perf_counter() - start)
        if self.count_bytes:
            self.transfer.requests += 1
            self.transfer.bytes_sent += _request_size(
                self.model, tensor, self.version, self._outputs
            )
            self.transfer.bytes_received += result.get_response().ByteSize()
        xyxy, score, class_id = unpack_detections(
            result.as_numpy("detections")[0], result.as_numpy("num_detections")[0]
        )
        return Detections(xyxy, score, class_id)

    async def statistics(self, model: str = "") -> dict:
        """Triton's per-model statistics (queue / compute times), as JSON."""
        return await self._get_client().get_inference_statistics(model, as_json=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _request_size(model: str, tensor: InferInput, version: str, outputs: list) -> int:
    from tritonclient.grpc._utils import _get_inference_request

    request = _get_inference_request(
        model_name=model,
        inputs=[tensor],
        model_version=version,
        request_id="",
        outputs=outputs,
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        parameters=None,
    )
    return request.ByteSize()
