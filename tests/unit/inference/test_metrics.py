from __future__ import annotations

from prometheus_client import REGISTRY

from tests.unit.vision.factories import make_jpeg, truncate


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_in_process_detector_records_latency_batch_size_and_errors(ort_detector):
    lat = _value("itscam_inference_latency_seconds_count", backend="onnxruntime")
    batches = _value("itscam_inference_batch_size_count", backend="onnxruntime")
    bad = _value("itscam_inference_errors_total", backend="onnxruntime", kind="bad_image")
    frames = [make_jpeg(seed=1), truncate(make_jpeg(seed=2)), make_jpeg(seed=3)]
    ort_detector.detect_sync(frames)
    assert _value("itscam_inference_latency_seconds_count", backend="onnxruntime") == lat + 3
    assert _value("itscam_inference_batch_size_count", backend="onnxruntime") == batches + 1
    assert _value("itscam_inference_batch_size_sum", backend="onnxruntime") >= 3
    assert (
        _value("itscam_inference_errors_total", backend="onnxruntime", kind="bad_image") == bad + 1
    )
