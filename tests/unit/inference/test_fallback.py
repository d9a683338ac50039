"""Client behaviour against an unreachable Triton (a real closed port, no stand-ins)."""

from __future__ import annotations

import pytest

from itscam.domain.detections import Detections
from itscam.errors import ServiceError
from itscam.inference import DetectionError, make_detector
from itscam.inference.fallback import FallbackDetector
from itscam.inference.inprocess import OnnxRuntimeDetector
from itscam.inference.triton import TritonDetector
from itscam.settings import load_settings
from tests.unit.inference.factories import free_port
from tests.unit.inference.reference import assert_same_detections
from tests.unit.vision.factories import make_jpeg, truncate


def _closed_url() -> str:
    return f"127.0.0.1:{free_port()}"


async def test_unreachable_triton_gives_transient_errors_after_retries():
    det = TritonDetector(_closed_url(), timeout_s=0.5, retries=2, backoff_s=0.01)
    try:
        results = await det.detect([make_jpeg(seed=s) for s in range(3)])
    finally:
        await det.close()
    assert len(results) == 3
    for r in results:
        assert isinstance(r, DetectionError) and r.transient
        assert "3 attempt(s)" in str(r) and "UNAVAILABLE" in str(r)


async def test_ready_on_an_unreachable_url_says_what_to_do():
    det = TritonDetector(_closed_url(), timeout_s=0.5)
    try:
        with pytest.raises(ServiceError, match="itscam services up") as info:
            await det.ready()
    finally:
        await det.close()
    assert "ITSCAM_INFERENCE_BACKEND=onnxruntime" in str(info.value)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_fallback_serves_every_frame_when_triton_is_unreachable(
    model_file, nms, ort_detector
):
    clock = _Clock()
    primary = TritonDetector(_closed_url(), timeout_s=0.5, retries=1, backoff_s=0.01)
    det = FallbackDetector(
        primary, lambda: OnnxRuntimeDetector(model_file, nms), cooldown_s=5, clock=clock
    )
    frames = [make_jpeg(seed=s) for s in range(5)]
    frames[2] = truncate(frames[2])
    try:
        assert det.model_version.startswith("triton:")
        results = await det.detect(frames)
        assert det.using_fallback
        assert det.model_version == ort_detector.model_version
        expected = ort_detector.detect_sync(frames)
        for got, want in zip(results, expected, strict=True):
            if isinstance(want, DetectionError):
                assert isinstance(got, DetectionError) and not got.transient
                continue
            assert isinstance(got, Detections)
            assert_same_detections(
                (got.xyxy, got.confidence, got.class_id),
                (want.xyxy, want.confidence, want.class_id),
            )
        # While cooling down Triton is not tried at all.
        attempts = primary.attempts
        assert attempts == 2 * 5  # one retry per frame
        assert all(isinstance(r, Detections) for r in await det.detect(frames[:2]))
        assert primary.attempts == attempts
        clock.now = 6.0
        assert not det.using_fallback  # probes Triton again with the next call
        results = await det.detect(frames[:1])
        assert isinstance(results[0], Detections)
        assert primary.attempts == attempts + 2
        assert det.using_fallback
    finally:
        await det.close()


@pytest.mark.parametrize(
    ("backend", "expected"),
    [("triton", TritonDetector), ("onnxruntime", OnnxRuntimeDetector), ("auto", FallbackDetector)],
)
def test_make_detector_honours_the_backend_setting(model_file, tmp_path, backend, expected):
    repo = tmp_path / "repo"
    (repo / "yolo11n" / "1").mkdir(parents=True)
    (repo / "yolo11n/1/model.onnx").write_bytes(model_file.read_bytes())
    settings = load_settings(inference_backend=backend, model_repository=repo)
    assert isinstance(make_detector(settings), expected)


def test_onnxruntime_backend_without_a_model_fails_with_instructions(tmp_path):
    from itscam.errors import ModelError

    settings = load_settings(inference_backend="onnxruntime", model_repository=tmp_path)
    with pytest.raises(ModelError, match="itscam model install"):
        make_detector(settings)


def test_the_triton_window_and_deadline_come_from_the_settings(tmp_path):
    settings = load_settings(
        inference_backend="triton",
        model_repository=tmp_path,
        triton_max_in_flight=3,
        triton_timeout_s=7.5,
    )
    det = make_detector(settings)
    assert (det._max_in_flight, det.timeout_s) == (3, 7.5)
    assert make_detector(settings, max_in_flight=5)._max_in_flight == 5
    defaults = load_settings()
    # 8 frames in flight at the CPU model's slowest observed rate (~5/s) fit the deadline.
    assert defaults.triton_max_in_flight / 5.0 < defaults.triton_timeout_s
