"""The input size of exported models: one constant, checked wherever a model is loaded."""

from __future__ import annotations

import numpy as np
import pytest

from itscam.errors import ModelError
from itscam.model.export import check_onnx
from itscam.model.install import training_paragraph
from itscam.vision import INPUT_HW
from tests.unit.inference.factories import fixed_size_model

OLD_HW = (256, 416)  # a size served before INPUT_HW became 544x960


@pytest.fixture(scope="module")
def old_size_model():
    path = fixed_size_model(OLD_HW)
    if path is None:
        pytest.skip(".venv-train is absent: cannot export a model at another size")
    return path


def test_contract_check_refuses_a_model_exported_at_another_size(old_size_model):
    with pytest.raises(ModelError, match=r"takes 256x416 .* serves 544x960"):
        check_onnx(old_size_model, nc=4)
    assert check_onnx(old_size_model, nc=4, hw=OLD_HW) == (2, 8, 2184)


def test_evaluation_letterboxes_a_fixed_size_model_at_its_own_size(old_size_model):
    from itscam.model.evaluate import detect

    frames = [np.full((360, 640, 3), 90, np.uint8)]
    _, hw = detect(old_size_model, frames)
    assert hw == OLD_HW


@pytest.mark.parametrize(
    ("args", "expected", "absent"),
    [
        (
            {
                "name": "r640",
                "imgsz": 640,
                "rect": True,
                "batch": 16,
                "epochs": 40,
                "model": "/x/runs/detect/vehicles-ft/weights/best.pt",
            },
            [
                "run `r640`",
                "imgsz 640",
                "rectangular batches (640 wide, 384 high",
                "40 epochs",
                "from `/x/runs/detect/vehicles-ft/weights/best.pt`",
                f"served at {INPUT_HW[0]}x{INPUT_HW[1]}",
            ],
            ["square"],
        ),
        (
            {
                "name": "r960",
                "imgsz": 960,
                "rect": True,
                "batch": 8,
                "epochs": 10,
                "model": "/x/runs/detect/r640/weights/best.pt",
            },
            ["run `r960`", "rectangular batches (960 wide, 544 high", "10 epochs"],
            ["served at"],  # trained at the served size
        ),
        (
            {
                "name": "r416",
                "imgsz": 416,
                "rect": False,
                "batch": 16,
                "epochs": 30,
                "model": "yolo11n.yaml",
            },
            [
                "imgsz 416",
                "square 416x416 batches",
                "from scratch",
                f"served at {INPUT_HW[0]}x{INPUT_HW[1]}",
            ],
            ["rectangular"],
        ),
        (
            {
                "name": "g960",
                "imgsz": 960,
                "rect": False,
                "batch": 32,
                "epochs": 60,
                "model": "runs/detect/vehicles-far/weights/best.pt",
                "device": "0",
                "warmup_epochs": 1.0,
                "warmup_bias_lr": 0.0,
            },
            ["GPU (torch device 0)", "square 960x960 batches", "from bias lr 0.0"],
            ["CPU."],
        ),
        ({}, ["YOLO11n", "CPU."], ["imgsz", "GPU"]),
    ],
)
def test_card_training_paragraph_comes_from_the_runs_args(args, expected, absent):
    text = training_paragraph(args)
    for part in expected:
        assert part in text
    for part in absent:
        assert part not in text
