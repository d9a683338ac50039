from __future__ import annotations

import pytest

from itscam.errors import ModelError
from itscam.inference.repository import render
from itscam.inference.rollout import stage_version, validate_model


def test_validate_accepts_a_model_that_honours_the_contract(model_file):
    validate_model(model_file)


def test_validate_refuses_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x01 not a graph")
    with pytest.raises(ModelError):
        validate_model(bad)


def test_stage_version_adds_complete_numbered_versions(tmp_path, model_file):
    render("local", tmp_path, model_file)
    assert stage_version(tmp_path, model_file) == 2
    assert stage_version(tmp_path, model_file) == 3
    for version in ("2", "3"):
        d = tmp_path / "yolo11n" / version
        assert (d / "model.onnx").read_bytes() == model_file.read_bytes()
        assert (d / "model.py").read_text() == (tmp_path / "yolo11n/1/model.py").read_text()
    assert not list((tmp_path / "yolo11n").glob(".staging-*"))


def test_stage_version_refuses_an_invalid_model_and_stages_nothing(tmp_path, model_file):
    render("local", tmp_path, model_file)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"junk")
    with pytest.raises(ModelError):
        stage_version(tmp_path, bad)
    assert sorted(p.name for p in (tmp_path / "yolo11n").iterdir() if p.is_dir()) == ["1"]
