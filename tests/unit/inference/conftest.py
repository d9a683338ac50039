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
def ort_detector(model_file):
    from itscam.inference.inprocess import OnnxRuntimeDetector

    return OnnxRuntimeDetector(model_file)
