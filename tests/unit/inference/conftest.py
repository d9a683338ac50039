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
    from tests.unit.inference.factories import probing_nms
    from tests.unit.vision.factories import make_jpeg

    return probing_nms(model_file, [make_jpeg(640, 360, seed) for seed in range(4)])


@pytest.fixture(scope="session")
def ort_detector(model_file, nms):
    from itscam.inference.inprocess import OnnxRuntimeDetector

    return OnnxRuntimeDetector(model_file, nms)


@pytest.fixture(scope="session")
def distinct_scores(model_file, nms):
    """Skip a comparison with another NMS implementation when the model's scores tie."""
    from tests.unit.inference.factories import ties_in_scores
    from tests.unit.vision.factories import make_jpeg

    frames = [make_jpeg(w, h, seed) for w, h in [(640, 360), (1280, 720)] for seed in range(3)]
    if ties_in_scores(model_file, frames, nms):
        pytest.skip(
            "the installed model scores anchors alike (untrained placeholder): tie order differs"
        )
