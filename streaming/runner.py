"""Run the whole stream for a bounded set of sources: ingest + Faust worker(s) -> sinks.

:func:`run_pipeline` is what ``itscam demo``, ``itscam evaluate`` and the
benchmarks call. Workers are subprocesses (``python -m streaming worker``),
exactly what a deployment runs, configured through the same ``ITSCAM_*``
environment. A run is complete when the ingest has finished and the
worker group's committed offsets have caught up with every topic it reads
(sinks commit only after their database transaction), twice in a row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from itscam.clients.kafka import (
    TOPICS,
    end_offsets,
    ensure_topics,
    evict_group_members,
    group_lag,
)
from itscam.errors import ServiceError
from itscam.settings import REPO_ROOT, Settings
from streaming.app import APP_ID
from streaming.ingest import Backlog, IngestStats, run_ingest

log = logging.getLogger(__name__)

#: Topics the worker group consumes (all must be drained for a run to be complete).
CONSUMED = ("frames", "detections", "crossings", "counts_1m", "events")
#: A worker group that commits nothing for this long (s) while records wait is restarted.
STALL_RESTART_S = 120.0


def settings_env(settings: Settings) -> dict[str, str]:
    """``ITSCAM_*`` variables reproducing ``settings`` in a subprocess."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"ITSCAM_{name.upper()}"] = str(value)
    return env


def _run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even when called inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


class WorkerPool:
    """``n`` Faust worker subprocesses; logs under ``state_dir/logs/stream-worker-<i>.log``."""

    def __init__(
        self,
        settings: Settings,
        n: int = 1,
        *,
        extra_env: dict[str, str] | None = None,
        metrics_port: int = 0,
        module: str = "streaming",
        group_id: str = APP_ID,
    ) -> None:
        self.settings = settings
        self.module = module
        self.group_id = group_id
        self.n = n
        self.extra_env = extra_env or {}
        self.metrics_port = metrics_port
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def _evict_dead_members(self) -> None:
        # Called only when no worker of this pool is alive: members left in the
        # group are dead ones that the development broker would never expire.
        n = _run_sync(evict_group_members(self.settings, self.group_id))
        if n:
            log.info("removed %d stale member(s) from consumer group %s", n, self.group_id)

    def start(self) -> WorkerPool:
        self._evict_dead_members()
        log_dir = Path(self.settings.state_dir) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for i in range(self.n):
            self.logs.append(log_dir / f"{self.module.replace('.', '-')}-worker-{i}.log")
            self.procs.append(self._popen(i, self.metrics_port + i if self.metrics_port else 0))
        return self

    def check(self) -> None:
        for proc, path in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                tail = path.read_text(errors="replace")[-1500:]
                raise ServiceError(
                    f"stream worker exited with status {proc.returncode}; see {path}. Last lines:\n{tail}"
                )

    def kill(self, index: int = 0) -> None:
        """Kill one worker hard (SIGKILL), as a crash would."""
        proc = self.procs[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def dump_stacks(self, wait_s: float = 1.0) -> None:
        """Have every live worker write its threads' stacks and asyncio tasks to its log.

        SIGUSR1, which mode's worker answers with ``cry``: each thread's stack
        and every task of its event loop, the consumer thread's included. Called
        before a stalled pool is restarted, so the log shows what it waited on.
        """
        sent = 0
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGUSR1)
                    sent += 1
        if sent:
            time.sleep(wait_s)

    def restart(self, index: int = 0) -> None:
        """Kill worker ``index`` hard and start a fresh one in its place."""
        self.kill(index)
        if all(p.poll() is not None for p in self.procs):
            self._evict_dead_members()
        self.procs[index] = self._popen(index)

    def restart_all(self) -> None:
        """Kill every worker hard and start fresh ones; the group re-forms from its commits."""
        for i in range(len(self.procs)):
            self.kill(i)
        self._evict_dead_members()
        for i in range(len(self.procs)):
            self.procs[i] = self._popen(i)

    def _popen(self, index: int, metrics_port: int = 0) -> subprocess.Popen:
        """Start worker ``index`` (appending to its log); a restarted one serves no metrics."""
        env = {
            **os.environ,
            **settings_env(self.settings),
            **self.extra_env,
            "ITSCAM_METRICS_PORT": str(metrics_port),
            "PYTHONUNBUFFERED": "1",
        }
        with self.logs[index].open("ab") as fh:
            prof = os.environ.get("ITSCAM_WORKER_CPROFILE")
            pre = ["-m", "cProfile", "-o", f"{prof}.{self.module}.{index}"] if prof else []
            return subprocess.Popen(
                [sys.executable, *pre, "-m", self.module, "worker", "-l", "info", "--without-web"],
                cwd=str(REPO_ROOT),
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, timeout_s: float = 20.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        t_end = time.monotonic() + timeout_s
        for proc in self.procs:
            try:
                proc.wait(max(0.1, t_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_drained(
    settings: Settings,
    pool: WorkerPool | None = None,
    *,
    timeout_s: float = 600.0,
    poll_s: float = 1.0,
    stall_s: float = STALL_RESTART_S,
    lag_fn: Any = None,
) -> float:
    """Wait until the worker group has committed every record of :data:`CONSUMED` topics.

    A group that commits nothing for ``stall_s`` while records wait has stopped (seen
    twice: a worker that left the group after Faust's poll interval and never rejoined
    on the development broker, and a freshly started worker that never fetched); its
    workers are then restarted (``pool.restart_all``) and carry on from the committed
    offsets, which the idempotent sinks make safe.
    """
    topics = [settings.topic(t) for t in CONSUMED]
    lag_fn = lag_fn or (lambda: group_lag(settings, APP_ID, topics))
    t0 = time.monotonic()
    clean = 0
    last_total, last_change = None, t0
    while True:
        if pool is not None:
            pool.check()
        lag = await lag_fn()
        total = sum(lag.values())
        now = time.monotonic()
        if total != last_total:
            last_total, last_change = total, now
        clean = clean + 1 if total == 0 else 0
        if clean >= 2:
            return now - t0
        if pool is not None and total > 0 and now - last_change > stall_s:
            log.warning(
                "stream workers committed nothing for %.0f s with lag %s: restarting them"
                " (their stacks are in their logs)",
                now - last_change,
                lag,
            )
            pool.dump_stacks()
            pool.restart_all()
            last_change = now
        if now - t0 > timeout_s:
            raise ServiceError(
                f"stream workers did not drain within {timeout_s:.0f} s (lag {lag}); "
                "see the worker logs under state_dir/logs/"
            )
        await asyncio.sleep(poll_s)


def run_counts(settings: Settings, run_id: str) -> dict[str, int]:
    """Rows of ``run_id`` in every sink table."""
    from itscam.clients.postgres import connect

    q = {
        "frames_inferred": "SELECT count(*) FROM camera_data.frame_metadata WHERE run_id = %s",
        "detections": "SELECT count(*) FROM analytics.vehicle_detections WHERE run_id = %s",
        "crossings": "SELECT count(*) FROM analytics.crossings WHERE run_id = %s",
        "minute_rows": "SELECT count(*) FROM analytics.lane_counts_1m WHERE run_id = %s",
        "events": "SELECT count(*) FROM analytics.events WHERE run_id = %s",
    }
    with connect(settings, autocommit=True) as conn:
        return {
            k: int(cast(tuple, conn.execute(sql, (run_id,)).fetchone())[0]) for k, sql in q.items()
        }


async def _dead_letter_end(settings: Settings) -> int:
    ends = await end_offsets(settings, [settings.topic("dead_letter")])
    return sum(ends.values())


def register_sources(settings: Settings, cameras: Sequence[Any]) -> int:
    """Put each source's camera config (``source.config``, a ``CameraConfig``) in the registry table."""
    from streaming.cameras import register_cameras

    configs = [c.config for c in cameras if getattr(c, "config", None) is not None]
    return register_cameras(settings, configs) if configs else 0


async def run_pipeline_async(
    settings: Settings,
    cameras: Sequence[Any],
    duration_s: float | None,
    run_id: str,
    *,
    workers: int = 1,
    pool: WorkerPool | None = None,
    fps: float | None = None,
    realtime: bool = False,
    drain_timeout_s: float = 3600.0,
    worker_env: dict[str, str] | None = None,
    on_frame: Any = None,
) -> dict[str, Any]:
    t0 = time.monotonic()
    await ensure_topics(settings, TOPICS)
    register_sources(settings, cameras)
    dl_before = await _dead_letter_end(settings)
    own_pool = pool is None
    pool = pool or WorkerPool(settings, workers, extra_env=worker_env).start()
    # Paced (live-like) cameras cannot wait; file and simulated ones stay a bounded
    # distance ahead of the workers (ITSCAM_INGEST_MAX_AHEAD).
    limit = 0 if realtime else settings.ingest_max_ahead
    try:
        async with Backlog(settings, pool.group_id, limit) as backlog:
            stats: IngestStats = await run_ingest(
                settings,
                cameras,
                run_id=run_id,
                duration_s=duration_s,
                fps=fps,
                realtime=realtime,
                on_frame=on_frame,
                backlog=backlog,
            )
        drain_s = await wait_drained(settings, pool, timeout_s=drain_timeout_s)
    finally:
        if own_pool:
            pool.stop()
    counts = run_counts(settings, run_id)
    dead = await _dead_letter_end(settings) - dl_before
    return {
        "run_id": run_id,
        "cameras": len(cameras),
        "frames_ingested": stats.total,
        "frames_inferred": counts["frames_inferred"],
        "detections": counts["detections"],
        "crossings": counts["crossings"],
        "minute_rows": counts["minute_rows"],
        "events": counts["events"],
        "dead_letters": dead,
        "ingest_s": round(stats.seconds, 2),
        "drain_s": round(drain_s, 2),
        "seconds": round(time.monotonic() - t0, 2),
        "ingest_errors": stats.errors,
        "ingest_waited_s": round(backlog.waited_s, 2),
    }


def run_pipeline(
    settings: Settings, cameras: list[Any], duration_s: float | None, run_id: str, **kwargs: Any
) -> dict[str, Any]:
    """Run ingest + Faust worker(s) until the sources end (or ``duration_s``) and all is sunk.

    Returns counts for ``run_id``: ``frames_ingested``, ``frames_inferred``,
    ``detections`` (rows in ``analytics.vehicle_detections``), ``crossings``,
    ``events``, ``dead_letters`` (records added to the dead-letter topic during
    the run), plus timings.
    """
    return asyncio.run(run_pipeline_async(settings, cameras, duration_s, run_id, **kwargs))
