from __future__ import annotations

import os
from pathlib import Path

import pytest

from itscam.errors import ServiceError
from itscam.services import triton as launch
from itscam.settings import load_settings

pytestmark = pytest.mark.skipif(
    not (launch.TRITON_VENV / "bin" / "python").exists(), reason=".venv-triton is not installed"
)


def _settings(tmp_path: Path, **over):
    (tmp_path / "repo").mkdir(exist_ok=True)
    values = {
        "state_dir": tmp_path / "state",
        "model_repository": tmp_path / "repo",
        "triton_http_port": 28100,
        "triton_grpc_port": 28101,
        "triton_metrics_port": 28102,
    }
    return load_settings(**{**values, **over})


def test_launch_command_serves_the_repository_on_loopback_in_explicit_mode(tmp_path):
    argv, _env, ready_url = launch.triton_launch(_settings(tmp_path))
    assert Path(argv[0]).name == "tritonserver" and os.access(argv[0], os.X_OK)
    args = set(argv[1:])
    assert f"--model-repository={tmp_path / 'repo'}" in args
    for proto in ("http", "grpc", "metrics"):
        assert f"--{proto}-address=127.0.0.1" in args
    assert {"--http-port=28100", "--grpc-port=28101", "--metrics-port=28102"} <= args
    assert {"--model-control-mode=explicit", "--load-model=*", "--exit-on-error=false"} <= args
    assert "--backend-config=python,shm-region-prefix-name=itscam_triton_28101_" in args
    assert ready_url == "http://127.0.0.1:28100/v2/health/ready"


def test_launch_prepares_the_python_backend_and_its_environment(tmp_path):
    argv, env, _ = launch.triton_launch(_settings(tmp_path))
    backend_dir = Path(
        next(a for a in argv if a.startswith("--backend-directory=")).split("=", 1)[1]
    )
    python_dir = backend_dir / "python"
    for name in (
        "libtriton_python.so",
        "triton_python_backend_utils.py",
        "triton_python_backend_stub",
    ):
        assert (python_dir / name).is_file(), name
    assert os.access(python_dir / "triton_python_backend_stub", os.X_OK)
    # The stub runs the first python on PATH and needs this interpreter's own libpython.
    assert env["PATH"].split(os.pathsep)[0] == str(launch.TRITON_VENV / "bin")
    libdir = Path(env["LD_LIBRARY_PATH"].split(os.pathsep)[0])
    assert list(libdir.glob("libpython3.11.so*"))
    # The models' import path holds only the itscam package.
    path = Path(env["ITSCAM_MODEL_PYTHONPATH"])
    assert [p.name for p in path.iterdir()] == ["itscam"]
    assert (path / "itscam" / "vision" / "__init__.py").is_file()


def test_missing_repository_is_a_service_error_that_says_what_to_do(tmp_path):
    settings = _settings(tmp_path, model_repository=tmp_path / "nope")
    with pytest.raises(ServiceError, match="itscam triton render"):
        launch.triton_launch(settings)


def test_remove_stale_shm_removes_only_this_servers_regions(tmp_path):
    settings = _settings(tmp_path)
    ours = Path("/dev/shm") / f"{launch.shm_prefix(settings)}test-region"
    other = Path("/dev/shm") / "itscam_triton_1_test-region"
    ours.write_bytes(b"x")
    other.write_bytes(b"x")
    try:
        assert launch.remove_stale_shm(settings) == [ours]
        assert not ours.exists() and other.exists()
    finally:
        ours.unlink(missing_ok=True)
        other.unlink(missing_ok=True)
