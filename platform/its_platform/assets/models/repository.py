"""File-level operations on a Triton model repository (no Dagster, no Triton client).

Contract: ``<repository>/<model>/<version>/model.onnx`` with integer version
folders; any other file in a version folder (e.g. a python-backend
``model.py``) is carried over from the previous version when publishing.
Rolled-back versions move to an archive folder, never deleted.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from itscam.errors import ModelError

MODEL_FILE = "model.onnx"


def versions(model_dir: Path) -> list[int]:
    """Version numbers present in ``model_dir`` (ascending)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def serving_version(model_dir: Path) -> int | None:
    """The version Triton serves under the ``latest: 1`` policy: the highest one."""
    found = versions(model_dir)
    return found[-1] if found else None


def next_version(model_dir: Path, archive_dir: Path, also_used: list[int] | None = None) -> int:
    """One above every version ever used here, archived ones included (numbers are never reused)."""
    used = versions(model_dir) + (also_used or [])
    archived = (
        [int(p.name.split("-")[0]) for p in archive_dir.glob("*") if p.name.split("-")[0].isdigit()]
        if archive_dir.is_dir()
        else []
    )
    return max(used + archived + [0]) + 1


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def publish(model_dir: Path, onnx: Path, version: int) -> Path:
    """Create ``<model_dir>/<version>/`` with ``onnx`` as model.onnx; return the folder.

    Written into a hidden staging folder first and renamed, so a polling
    server never sees a half-copied version.
    """
    if (model_dir / str(version)).exists():
        raise ModelError(
            f"version {version} of {model_dir.name} already exists; pick the next free number"
        )
    previous = serving_version(model_dir)
    stage = model_dir / f".staging-{version}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    if previous is not None:
        for item in (model_dir / str(previous)).iterdir():
            if item.name != MODEL_FILE and item.is_file():
                shutil.copy2(item, stage / item.name)
    shutil.copy2(onnx, stage / MODEL_FILE)
    final = model_dir / str(version)
    stage.rename(final)
    return final


def archive_version(model_dir: Path, version: int, archive_dir: Path, reason: str) -> Path:
    """Move version ``version`` out of the repository into ``archive_dir``; return where it went."""
    src = model_dir / str(version)
    if not src.is_dir():
        raise ModelError(f"{model_dir.name} has no version {version} to archive")
    archive_dir.mkdir(parents=True, exist_ok=True)
    dest = archive_dir / f"{version}-{reason}"
    n = 1
    while dest.exists():
        dest = archive_dir / f"{version}-{reason}-{n}"
        n += 1
    shutil.move(str(src), str(dest))
    return dest
