"""File-level operations on the Triton model repository."""

from __future__ import annotations

import pytest
from its_platform.assets.models import newest_inbox_file
from its_platform.assets.models import repository as repo

from itscam.errors import ModelError


@pytest.fixture()
def model_dir(tmp_path):
    d = tmp_path / "triton_models" / "yolo11n"
    (d / "1").mkdir(parents=True)
    (d / "1" / "model.onnx").write_bytes(b"v1")
    (d / "1" / "model.py").write_text("# python backend shim")
    (d / "config.pbtxt").write_text('name: "yolo11n"')
    return d


def test_publish_creates_next_version_and_carries_backend_files(model_dir, tmp_path) -> None:
    cand = tmp_path / "new.onnx"
    cand.write_bytes(b"v2")
    archive = tmp_path / "archive"
    version = repo.next_version(model_dir, archive)
    assert version == 2
    folder = repo.publish(model_dir, cand, version)
    assert (folder / "model.onnx").read_bytes() == b"v2"
    assert (folder / "model.py").read_text() == "# python backend shim"
    assert repo.versions(model_dir) == [1, 2]
    assert repo.serving_version(model_dir) == 2
    assert not list(model_dir.glob(".staging-*"))


def test_publish_refuses_an_existing_version(model_dir, tmp_path) -> None:
    cand = tmp_path / "new.onnx"
    cand.write_bytes(b"v2")
    with pytest.raises(ModelError, match="already exists"):
        repo.publish(model_dir, cand, 1)


def test_archived_versions_are_never_reused(model_dir, tmp_path) -> None:
    archive = tmp_path / "archive"
    cand = tmp_path / "new.onnx"
    cand.write_bytes(b"v2")
    repo.publish(model_dir, cand, 2)
    moved = repo.archive_version(model_dir, 2, archive, "rolled-back")
    assert moved.name == "2-rolled-back" and (moved / "model.onnx").exists()
    assert repo.versions(model_dir) == [1]
    assert repo.next_version(model_dir, archive) == 3
    assert repo.next_version(model_dir, archive, also_used=[7]) == 8


def test_newest_inbox_file_ignores_other_files(tmp_path) -> None:
    assert newest_inbox_file(tmp_path / "missing") is None
    (tmp_path / "a.onnx").write_bytes(b"a")
    (tmp_path / "readme.md").write_text("x")
    assert newest_inbox_file(tmp_path) == tmp_path / "a.onnx"
