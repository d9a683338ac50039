"""How to launch the standalone Triton Inference Server of the local profile.

The only Triton binary installable here ships inside the ``nvidia-pytriton``
wheel (Triton 2.51, python backend only). It is run as a plain server, not
through PyTriton's Python wrapper:

- the python backend (``libtriton_python.so``, ``triton_python_backend_utils.py``
  and the Python 3.11 stub) is copied into ``<state_dir>/triton/backends/python``;
- ``LD_LIBRARY_PATH`` holds the interpreter's own ``lib`` dir (its
  ``libpython3.11.so``; another libpython breaks the stub with ``'_thread.RLock'
  object has no attribute '_recursion_count'``) and the wheel's bundled libraries;
- ``PATH`` starts with the python-backend venv's ``bin`` (``.venv-triton``:
  numpy < 2, because numpy 2 in the stub makes Triton return empty outputs
  without an error), since the stub runs the first ``python`` on ``PATH``;
- ``ITSCAM_MODEL_PYTHONPATH`` names a directory with only an ``itscam`` link,
  which the python models put on ``sys.path`` to import :mod:`itscam.vision`
  (the stub ignores ``PYTHONPATH``, and with the server's working directory on
  the path the whole repository would shadow the stub's environment);
- models load explicitly (``--load-model=*``) so the model-control API can load
  a new version and roll it back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from itscam.errors import ServiceError
from itscam.settings import REPO_ROOT, Settings

#: The python-backend environment (numpy < 2, onnxruntime, opencv-python-headless, pytriton).
TRITON_VENV = Path(os.environ.get("ITSCAM_TRITON_VENV", REPO_ROOT / ".venv-triton"))
_BACKEND_FILES = (
    "backends/python/libtriton_python.so",
    "backends/python/triton_python_backend_utils.py",
    "python_backend_stubs/3.11/triton_python_backend_stub",
)


def _venv_python() -> Path:
    python = TRITON_VENV / "bin" / "python"
    if not python.exists():
        raise ServiceError(
            f"The Triton python-backend environment is missing ({python}). "
            "Run `make venv` to create .venv-triton from requirements/triton.txt."
        )
    return python


def _introspect(python: Path) -> tuple[Path, Path]:
    """(site-packages, interpreter lib dir) of the python-backend venv."""
    code = (
        "import sysconfig; print(sysconfig.get_paths()['purelib']); "
        "print(sysconfig.get_config_var('LIBDIR'))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ServiceError(
            f"{python} does not run ({out.stderr.strip()}); re-create it with `make venv`."
        )
    site, libdir = out.stdout.split("\n")[:2]
    return Path(site), Path(libdir)


def triton_home(site_packages: Path) -> Path:
    home = site_packages / "pytriton" / "tritonserver"
    if not (home / "bin" / "tritonserver").exists():
        raise ServiceError(
            f"tritonserver is not in {home}. Install nvidia-pytriton into .venv-triton (`make venv`)."
        )
    return home


def prepare_backends(state: Path, home: Path) -> Path:
    """Copy the python backend into ``state/backends/python``; returns the backend dir."""
    backend_dir = state / "backends"
    python_dir = backend_dir / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for rel in _BACKEND_FILES:
        src, dst = home / rel, python_dir / Path(rel).name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)
    return backend_dir


def prepare_pythonpath(state: Path) -> Path:
    """A directory holding only ``itscam`` (a link to the package) for the models' imports."""
    path = state / "pythonpath"
    path.mkdir(parents=True, exist_ok=True)
    link = path / "itscam"
    target = REPO_ROOT / "itscam"
    if link.is_symlink() and Path(os.readlink(link)) != target:
        link.unlink()
    if not link.exists():
        link.symlink_to(target, target_is_directory=True)
    return path


def shm_prefix(settings: Settings) -> str:
    """Prefix of the python backend's shared-memory regions of this server."""
    return f"itscam_triton_{settings.triton_grpc_port}_"


def remove_stale_shm(settings: Settings) -> list[Path]:
    """Delete /dev/shm regions a dead server of these settings left behind."""
    removed = []
    for path in Path("/dev/shm").glob(shm_prefix(settings) + "*"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def triton_launch(
    settings: Settings, *, model_control: str = "explicit", extra_args: list[str] | None = None
) -> tuple[list[str], dict[str, str], str]:
    """Command line, extra environment and readiness URL of the local Triton server.

    Prepares ``<state_dir>/triton`` (backend copy, import path) as a side effect.
    The server binds 127.0.0.1 on the settings' HTTP/gRPC/metrics ports and
    serves ``settings.model_repository``. A model that fails to load (e.g. no
    ``model.onnx`` yet) does not stop the server; the client reports it.

    Returns:
        ``(argv, env, ready_url)``: ``env`` holds only the variables to set on top
        of the caller's environment; ``ready_url`` answers 200 once the server has
        finished loading models.
    """
    python = _venv_python()
    site, libdir = _introspect(python)
    home = triton_home(site)
    state = Path(settings.state_dir) / "triton"
    backend_dir = prepare_backends(state, home)
    pythonpath = prepare_pythonpath(state)
    repo = Path(settings.model_repository)
    if not repo.is_dir():
        raise ServiceError(
            f"Triton model repository {repo} does not exist. Set ITSCAM_MODEL_REPOSITORY or "
            "render one with `itscam triton render --profile local --out DIR`."
        )
    argv = [
        str(home / "bin" / "tritonserver"),
        f"--model-repository={repo}",
        f"--backend-directory={backend_dir}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        f"--http-port={settings.triton_http_port}",
        f"--grpc-port={settings.triton_grpc_port}",
        f"--metrics-port={settings.triton_metrics_port}",
        "--exit-on-error=false",
        # Server readiness = up and done loading; model readiness is the client's check.
        "--strict-readiness=false",
        f"--model-control-mode={model_control}",
        "--log-verbose=0",
        # A per-server name for the python backend's /dev/shm regions, so that the
        # regions of a crashed (SIGKILLed) server can be found and removed.
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(settings)}",
    ]
    if model_control == "explicit":
        argv.append("--load-model=*")
    argv += extra_args or []
    env = {
        "PATH": f"{TRITON_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "LD_LIBRARY_PATH": os.pathsep.join(
            [str(libdir), str(site / "nvidia_pytriton.libs"), os.environ.get("LD_LIBRARY_PATH", "")]
        ).rstrip(os.pathsep),
        # Not PYTHONPATH: the python-backend stub ignores it (see the models' model.py).
        "ITSCAM_MODEL_PYTHONPATH": str(pythonpath),
        "VIRTUAL_ENV": str(TRITON_VENV),
        # Each stub would otherwise spawn one BLAS/OpenMP thread per core and fight
        # ONNX Runtime's own pool for the same cores.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    ready_url = f"http://127.0.0.1:{settings.triton_http_port}/v2/health/ready"
    return argv, env, ready_url


class TritonProcess:
    """A standalone Triton started from :func:`triton_launch` and owned by the caller.

    For benchmarks and tests that need their own server (own ports, own
    repository); the long-running local service is the service manager's.
    """

    def __init__(self, settings: Settings, log: Path, *, cwd: Path | None = None) -> None:
        self.settings = settings
        self.log = Path(log)
        self.cwd = Path(cwd) if cwd else self.log.parent
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> TritonProcess:
        import time
        import urllib.request

        argv, env, ready_url = triton_launch(self.settings)
        remove_stale_shm(self.settings)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                # Not the repository: nothing may be importable from the working directory by accident.
                cwd=str(self.cwd),
            )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise ServiceError(
                        f"Triton did not become ready within {timeout_s:.0f} s; see {self.log}:\n{tail}"
                    ) from None
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the server and its python stubs (as a crash would)."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        # Stubs die with their server, but nobody unlinks their regions.
        remove_stale_shm(self.settings)

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def __enter__(self) -> TritonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
