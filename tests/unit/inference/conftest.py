from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.inference.factories import any_model


@pytest.fixture(scope="session")
def model_file() -> Path:
    path = any_model()
    if path is None:
        pytest.skip("no detector model: neither triton_models/yolo11n/1/model.onnx nor .venv-train")
    return path


@pytest.fixture(scope="session")
def nms(model_file):
    """Thresholds under which the model under test yields plenty of boxes (see probing_nms)."""
    from tests.unit.inference.factories import equality_frames, probing_nms

    return probing_nms(model_file, equality_frames())


@pytest.fixture(scope="session")
def ort_detector(model_file, nms):
    from itscam.inference.inprocess import OnnxRuntimeDetector

    return OnnxRuntimeDetector(model_file, nms)


@pytest.fixture(scope="session")
def distinct_scores(model_file, nms):
    """Skip a comparison with another NMS implementation when the model's scores tie."""
    from tests.unit.inference.factories import equality_frames, ties_in_scores

    if ties_in_scores(model_file, equality_frames(), nms):
        pytest.skip(
            "the installed model scores anchors alike (untrained placeholder): tie order differs"
        )
