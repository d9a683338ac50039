"""Local services manager: start, health-check and stop the real services of the
local profile on 127.0.0.1, with data and logs under ``settings.state_dir``.

Services: a Kafka-protocol development broker (noida-db; production is Apache
Kafka), PostgreSQL 15, Triton Inference Server (from the nvidia-pytriton
wheel), InfluxDB 1.x and Redis. ``up`` is idempotent; ``down`` stops every
process it started (each runs in its own process group, recorded in a pid
file) and leaves none behind. When called as root, the servers run as the
unprivileged system user ``itscam`` (PostgreSQL refuses root; the broker is an
unaudited binary).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from itscam.errors import ServiceError
from itscam.settings import REPO_ROOT, Settings

SERVICE_USER = "itscam"
ALL_SERVICES = ("postgres", "kafka", "redis", "influxdb", "triton")
PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Launch:
    """How to run one service in the foreground."""

    argv: list[str]
    port: int
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    as_service_user: bool = True
    stop_signal: int = signal.SIGTERM


@dataclass
class ServiceStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    port: int
    log: Path

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "running": self.running,
            "healthy": self.healthy,
            "pid": self.pid,
            "port": self.port,
            "log": str(self.log),
        }


def _port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def _http_ok(url: str, codes: Iterable[int] = (200, 204)) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return resp.status in set(codes)
    except Exception:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class ServiceManager:
    """Start/stop/status of the local services. Safe to use from tests and the CLI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = Path(settings.state_dir).resolve()
        self.run_dir = self.state / "run"
        self.log_dir = self.state / "logs"

    # ----------------------------------------------------------------- paths
    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _read_pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_path(name).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    # ------------------------------------------------------- service user
    def _drop_privileges(self) -> bool:
        return os.geteuid() == 0

    def _ensure_user(self) -> tuple[int, int] | None:
        if not self._drop_privileges():
            return None
        try:
            pw = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                check=True,
                capture_output=True,
            )
            pw = pwd.getpwnam(SERVICE_USER)
        return pw.pw_uid, pw.pw_gid

    def _prepare_dir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        ids = self._ensure_user()
        if ids:
            for p in [path, *path.rglob("*")]:
                with contextlib.suppress(OSError):
                    os.chown(p, *ids, follow_symlinks=False)
        return path

    # ------------------------------------------------------------ launches
    def _launch(self, name: str) -> Launch:
        s = self.settings
        data = self._prepare_dir(self.state / name)
        if name == "postgres":
            pgdata = data / "data"
            sock = self._prepare_dir(data / "run")
            if not (pgdata / "PG_VERSION").exists():
                self._init_postgres(pgdata)
            return Launch(
                argv=[
                    str(PG_BIN / "postgres"),
                    "-D",
                    str(pgdata),
                    "-p",
                    str(s.postgres_port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={sock}",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=256MB",
                    "-c",
                    "fsync=on",
                    "-c",
                    "logging_collector=off",
                ],
                port=s.postgres_port,
                ready=lambda: _pg_ready(s),
                stop_signal=signal.SIGINT,  # "fast" shutdown
            )
        if name == "kafka":
            # The wheel's own binary, not the venv's Python wrapper: the
            # unprivileged user may not be able to run the venv's interpreter.
            import noida_db  # type: ignore[import-not-found]

            broker = Path(noida_db.__file__).parent / "noida-db"
            if not broker.exists():
                raise ServiceError(
                    f"The development Kafka broker binary is missing ({broker}). "
                    "Run `make venv` (it installs requirements/broker.txt)."
                )
            return Launch(
                argv=[
                    str(broker),
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--only",
                    "kafka",
                    "--kafka-port",
                    str(s.kafka_port),
                    "--data-dir",
                    str(data),
                ],
                port=s.kafka_port,
                ready=lambda: _port_open(s.kafka_port),
            )
        if name == "redis":
            return Launch(
                argv=[
                    _which("redis-server"),
                    "--port",
                    str(s.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(data),
                    "--save",
                    "60 1000",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                    "--daemonize",
                    "no",
                ],
                port=s.redis_port,
                ready=lambda: _redis_ready(s.redis_port),
            )
        if name == "influxdb":
            conf = data / "influxdb.conf"
            conf.write_text(_influx_conf(data, s.influx_port))
            self._prepare_dir(data)
            return Launch(
                argv=[_which("influxd"), "-config", str(conf)],
                port=s.influx_port,
                ready=lambda: _http_ok(f"http://127.0.0.1:{s.influx_port}/ping"),
            )
        if name == "triton":
            from itscam.services.triton import triton_launch

            check_model_repository(s)

            argv, env, ready_url = triton_launch(s)
            self._prepare_dir(data)
            return Launch(
                argv=argv,
                env=env,
                port=s.triton_http_port,
                ready=lambda: _http_ok(ready_url),
                timeout_s=90.0,
                # The python-backend stub runs the venv's interpreter, which may
                # live under root's home; the server binds loopback only.
                as_service_user=False,
            )
        raise ServiceError(f"Unknown service {name!r}; known services: {', '.join(ALL_SERVICES)}.")

    def _init_postgres(self, pgdata: Path) -> None:
        self._prepare_dir(pgdata)
        argv = [
            str(PG_BIN / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            self.settings.postgres_user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        ]
        res = subprocess.run(self._as_user(argv), capture_output=True, text=True)
        if res.returncode != 0:
            log = self.log_path("postgres")
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(res.stdout + res.stderr)
            raise ServiceError(
                f"postgres: initdb failed (see {log}). Remove {pgdata} to start from an empty database."
            )

    def _check_state_access(self) -> None:
        if not self._drop_privileges():
            return
        res = subprocess.run(
            ["runuser", "-u", SERVICE_USER, "--", "test", "-w", str(self.state)],
            capture_output=True,
        )
        if res.returncode != 0:
            raise ServiceError(
                f"The services run as the unprivileged user '{SERVICE_USER}', which cannot write to the "
                f"state directory {self.state} (a parent folder is not traversable). Choose a state "
                "directory under a world-traversable path with ITSCAM_STATE_DIR."
            )

    def _as_user(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        if not self._drop_privileges():
            return argv
        self._ensure_user()
        prefix = ["runuser", "-u", SERVICE_USER, "--"]
        if env:
            prefix += ["env", *[f"{k}={v}" for k, v in env.items()]]
        return prefix + argv

    # --------------------------------------------------------------- control
    def up(
        self, names: Iterable[str] | None = None, progress: Callable[[str], None] | None = None
    ) -> None:
        """Start the named services (default: all); already-running ones are left alone."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_dir(self.state)
        self._check_state_access()
        started: list[tuple[str, subprocess.Popen[bytes], Launch]] = []
        for name in names or ALL_SERVICES:
            if self._read_pid(name):
                continue
            launch = self._launch(name)
            if _port_open(launch.port):
                raise ServiceError(
                    f"{name}: port {launch.port} on 127.0.0.1 is already in use by another process. "
                    f"Stop that process or choose another port (ITSCAM_{_port_var(name)}=...). "
                    f"Log: {self.log_path(name)}."
                )
            if progress:
                progress(f"starting {name} on 127.0.0.1:{launch.port}")
            log = open(self.log_path(name), "ab")  # noqa: SIM115 -- handed to the child
            env = {**os.environ, **launch.env}
            ids = self._ensure_user() if launch.as_service_user else None
            if ids:
                env.update(HOME=str(self.state / name), USER=SERVICE_USER, LOGNAME=SERVICE_USER)
            proc = subprocess.Popen(
                launch.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=str(self.state / name),
                start_new_session=True,
                user=ids[0] if ids else None,
                group=ids[1] if ids else None,
                extra_groups=[] if ids else None,
            )
            log.close()
            self._pid_path(name).write_text(str(proc.pid))
            started.append((name, proc, launch))
        for name, proc, launch in started:
            deadline = time.monotonic() + launch.timeout_s
            while not launch.ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    why = (
                        "exited"
                        if proc.poll() is not None
                        else f"was not ready after {launch.timeout_s:.0f} s"
                    )
                    tail = _tail(self.log_path(name))
                    self.down([name])
                    raise ServiceError(
                        f"{name} failed to start on 127.0.0.1:{launch.port}: the process {why}. "
                        f"Last log lines ({self.log_path(name)}): {tail}"
                    )
                time.sleep(0.1)
            if progress:
                progress(f"{name} ready")

    def down(self, names: Iterable[str] | None = None, timeout_s: float = 20.0) -> list[str]:
        """Stop the named services (default: all). Returns those that were stopped."""
        stopped = []
        for name in reversed(list(names or ALL_SERVICES)):
            pid = self._read_pid(name)
            if pid is None:
                self._pid_path(name).unlink(missing_ok=True)
                continue
            sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + timeout_s
            while _group_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _group_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                time.sleep(0.2)
            _reap(pid)
            if name == "triton":
                from itscam.services.triton import remove_stale_shm

                remove_stale_shm(self.settings)  # a server killed hard leaves its regions behind
            self._pid_path(name).unlink(missing_ok=True)
            stopped.append(name)
        return stopped

    def status(self) -> list[ServiceStatus]:
        out = []
        s = self.settings
        ports = {
            "postgres": s.postgres_port,
            "kafka": s.kafka_port,
            "redis": s.redis_port,
            "influxdb": s.influx_port,
            "triton": s.triton_http_port,
        }
        checks: dict[str, Callable[[], bool]] = {
            "postgres": lambda: _pg_ready(s),
            "kafka": lambda: _port_open(s.kafka_port),
            "redis": lambda: _redis_ready(s.redis_port),
            "influxdb": lambda: _http_ok(f"http://127.0.0.1:{s.influx_port}/ping"),
            "triton": lambda: _http_ok(f"http://127.0.0.1:{s.triton_http_port}/v2/health/ready"),
        }
        for name in ALL_SERVICES:
            pid = self._read_pid(name)
            out.append(
                ServiceStatus(
                    name,
                    pid is not None,
                    pid is not None and checks[name](),
                    pid,
                    ports[name],
                    self.log_path(name),
                )
            )
        return out

    def running(self) -> list[str]:
        return [st.name for st in self.status() if st.running]


def _endpoint_checks(s: Settings) -> dict[str, tuple[str, str, Callable[[], bool]]]:
    """name -> (address, the variable that sets it, reachability check)."""

    def kafka_ok() -> bool:
        host, _, port = s.kafka_servers.split(",")[0].rpartition(":")
        return _port_open(int(port), host or "127.0.0.1", timeout=2)

    def pg_ok() -> bool:
        import psycopg

        try:
            with psycopg.connect(s.pg_dsn, connect_timeout=2):
                return True
        except Exception:
            return False

    def triton_ok() -> bool:
        import tritonclient.grpc as grpcclient

        try:
            return bool(
                grpcclient.InferenceServerClient(s.triton_grpc).is_server_ready(client_timeout=2)
            )
        except Exception:
            return False

    def redis_ok() -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(s.redis, socket_connect_timeout=2).ping())
        except Exception:
            return False

    return {
        "kafka": (s.kafka_servers, "ITSCAM_KAFKA_BOOTSTRAP", kafka_ok),
        "postgres": (s.pg_dsn, "ITSCAM_POSTGRES_DSN", pg_ok),
        "triton": (s.triton_grpc, "ITSCAM_TRITON_URL", triton_ok),
        "influxdb": (s.influx, "ITSCAM_INFLUX_URL", lambda: _http_ok(f"{s.influx}/ping")),
        "redis": (s.redis, "ITSCAM_REDIS_URL", redis_ok),
    }


def check_endpoints(settings: Settings, names: Iterable[str] | None = None) -> dict[str, bool]:
    """Check that each configured endpoint answers; raise one ServiceError naming every one that does not."""
    checks = _endpoint_checks(settings)
    result = {name: checks[name][2]() for name in (names or checks)}
    down = [n for n, ok in result.items() if not ok]
    if down:
        parts = [f"{n} at {checks[n][0]}" for n in down]
        hint = (
            "run `itscam services up` to start the local services"
            if settings.profile == "local"
            else "check that the servers are up and reachable"
        )
        raise ServiceError(
            f"Cannot reach {', '.join(parts)}. On the local profile {hint}; to use other servers set "
            + ", ".join(checks[n][1] for n in down)
            + "."
            if settings.profile == "local"
            else f"Cannot reach {', '.join(parts)}: {hint}, or fix "
            + ", ".join(checks[n][1] for n in down)
            + "."
        )
    return result


def check_model_repository(settings: Settings) -> None:
    """The detector's ONNX file must be in the repository Triton will serve."""
    from itscam.errors import ModelError
    from itscam.inference.repository import DETECTOR, MODEL_FILE

    repo = Path(settings.model_repository)
    if not sorted(repo.glob(f"{DETECTOR}/[0-9]*/{MODEL_FILE}")):
        raise ModelError(
            f"No detector model in the Triton model repository {repo}: expected "
            f"{repo}/{DETECTOR}/<version>/{MODEL_FILE}. Restore it with `git checkout triton_models/`, "
            "install one with `itscam model install`, or point ITSCAM_MODEL_REPOSITORY at a repository "
            "that has it."
        )


def _reap(pid: int, timeout_s: float = 3.0) -> None:
    """Collect the exit status of a child we started (no zombie left behind)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child (started by another process): init reaps it
        if done:
            return
        time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process remains in process group ``pgid``."""
    return _group_alive(pgid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left? Check the leader.
    return _pid_alive(pgid) or _any_in_group(pgid)


def _any_in_group(pgid: int) -> bool:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().split(")")[-1].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def _which(prog: str) -> str:
    path = shutil.which(prog) or shutil.which(prog, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path:
        raise ServiceError(
            f"{prog} is not installed. Run `make system` (installs Debian's redis-server, influxdb, "
            "postgresql-15) or install it with apt-get."
        )
    return path


def _port_var(name: str) -> str:
    return {
        "postgres": "POSTGRES_PORT",
        "kafka": "KAFKA_PORT",
        "redis": "REDIS_PORT",
        "influxdb": "INFLUX_PORT",
        "triton": "TRITON_HTTP_PORT",
    }[name]


def _tail(path: Path, n: int = 6) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()[-n:]
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in lines) or "(empty log)"


def _pg_ready(s: Settings) -> bool:
    if not _port_open(s.postgres_port):
        return False
    import psycopg

    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={s.postgres_port} user={s.postgres_user} dbname=postgres",
            connect_timeout=1,
            autocommit=True,
        ) as conn:
            if s.postgres_db != "postgres":
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (s.postgres_db,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{s.postgres_db}"')
        return True
    except Exception:
        return False


def _redis_ready(port: int) -> bool:
    if not _port_open(port):
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _influx_conf(data: Path, port: int) -> str:
    # Every listener bound to loopback; the RPC (backup) port derived from ours.
    return f"""reporting-disabled = true
bind-address = "127.0.0.1:{port + 2}"
[meta]
  dir = "{data}/meta"
[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = true
  run-interval = "10s"
"""


@contextlib.contextmanager
def local_services(settings: Settings, *, keep: bool = False) -> Iterator[list[str]]:
    """Run a block with the pipeline's local services up and the schema migrated.

    Starts what is not running yet (Triton only when inference may use it) and,
    unless ``keep``, stops afterwards exactly the services this call started.
    Yields their names. A no-op outside the local profile.
    """
    if settings.profile != "local":
        yield []
        return
    mgr = ServiceManager(settings)
    before = set(mgr.running())
    names = [
        n for n in ALL_SERVICES if n != "triton" or settings.inference_backend != "onnxruntime"
    ]
    started: list[str] = []
    try:
        mgr.up(names)
        started = [n for n in names if n not in before]
        from itscam.db.migrate import migrate

        migrate(settings)
        yield started
    finally:
        if started and not keep:
            mgr.down(started)


def status_json(manager: ServiceManager) -> str:
    return json.dumps([st.as_dict() for st in manager.status()])


__all__ = ["ALL_SERVICES", "REPO_ROOT", "ServiceManager", "ServiceStatus"]
