"""What a new user runs into gives one paragraph that says what to do, not a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from itscam.settings import Settings

pytestmark = pytest.mark.integration
ITSCAM = str(Path(sys.executable).parent / "itscam")


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ITSCAM, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400", **env},
    )


def _assert_one_paragraph(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr.strip()
    assert err.startswith("error:"), err
    assert "\n\n" not in err
    for needle in needles:
        assert needle in err, err


@pytest.fixture
def state_dir(settings: Settings):
    path = settings.state_dir / f"cli-{uuid.uuid4().hex[:8]}"
    yield path
    subprocess.run(
        [ITSCAM, "services", "down"],
        env={**os.environ, "ITSCAM_STATE_DIR": str(path)},
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(path, ignore_errors=True)


def test_port_in_use(state_dir: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        proc = _run(
            ["services", "up", "redis"],
            ITSCAM_STATE_DIR=str(state_dir),
            ITSCAM_REDIS_PORT=str(port),
        )
    _assert_one_paragraph(proc, f"port {port}", "already in use", "ITSCAM_REDIS_PORT", "redis.log")


def test_missing_model_file(state_dir: Path, tmp_path: Path, settings: Settings) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(settings.model_repository, repo, ignore=shutil.ignore_patterns("*.onnx"))
    proc = _run(
        ["services", "up", "triton"],
        ITSCAM_STATE_DIR=str(state_dir),
        ITSCAM_MODEL_REPOSITORY=str(repo),
    )
    _assert_one_paragraph(proc, "model.onnx", "itscam model install", "ITSCAM_MODEL_REPOSITORY")


def test_unreachable_triton_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proc = _run(["services", "check", "triton"], ITSCAM_TRITON_URL=f"127.0.0.1:{port}")
    _assert_one_paragraph(proc, f"127.0.0.1:{port}", "ITSCAM_TRITON_URL")


def test_bad_setting_fails_at_start() -> None:
    proc = _run(["services", "status"], ITSCAM_REDIS_PORT="99999")
    _assert_one_paragraph(proc, "ITSCAM_REDIS_PORT", "99999")
