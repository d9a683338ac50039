"""``itscam bench pipeline``: stream throughput and latency, against baselines measured in the same run.

Prints ONE JSON line:

- ``raw_detector_fps``: the in-process detector (ONNX Runtime, batches of 8)
  on the benchmark's JPEG frames: decode + letterbox + model + NMS, nothing else,
  in two arrangements of the cores (one session with 2 threads, ``_1x2``; two
  sessions with 1 thread each on alternate batches, ``_2x1``, as Triton's local
  profile runs the model); measured before and after the end-to-end phase,
  the fastest of the four counts.
- ``pipeline_fps``: frames/s end to end -- producer -> broker -> Faust detect
  agent -> configured detector (Triton when up) -> detections -> tracking and
  analysis -> PostgreSQL sinks -- measured from the worker group's first
  offset commit to the moment every topic it reads is drained. The frames are
  produced as cameras stream them, at most ``--backlog`` (64) ahead of the
  worker's commits, so the worker never waits for frames and the broker never
  holds the whole run (``--backlog 0``: all of them first). Commits come
  once a second, so the drain is seen up to a second late: 600 frames (about
  45 s here) keep that under 2 %; with 300 (about 23 s) it can reach 4 %.
  The faster of two such passes counts (``pipeline_fps_runs``, ``--passes``),
  as the raw figure is a best of passes.
  ``pipeline_vs_raw = pipeline_fps / raw_detector_fps``.
- ``null_fps``: the same worker with inference replaced by precomputed
  detections (about 40 vehicles per frame), i.e. the cost of everything
  around the model; ``naive_fps``: a naive one-record-at-a-time JSON Faust
  agent (:mod:`streaming.naive`) doing the same work over the same frames;
  ``null_vs_naive = null_fps / naive_fps``.
- ``analysis_*``/``mota``/``idf1``/``peer_*``: from
  :func:`itscam.domain.bench_analysis.run_analysis_bench` (ours vs Roboflow
  ``trackers`` ByteTrack + supervision ``LineZone``).
- ``latency_p50_ms``/``latency_p99_ms``: frames produced at half of
  ``pipeline_fps`` with capture time = send time; latency of each crossing
  record = its broker timestamp - the capture time of the frame whose analysis
  emitted it (``frame_ts``), i.e. frame to event. ``crossing_ts_latency_*``
  measures from the crossing time instead: a record waits
  ``CLASS_SETTLE_S`` (1 s) after its crossing was found so that the class is
  voted over what was seen after the line too, plus up to one frame interval,
  or seconds more for a hidden crossing (a vehicle first seen past the line,
  its crossing time extrapolated back). ``detect_latency_*`` are capture
  -> detections record.

``broker_cores_*``: the local broker's CPU (cores) during each timed run. It
rewrites its whole log after each write, so it costs more the more it holds;
the stream worker deletes the frames it has consumed (``ITSCAM_FRAMES_PURGE_S``)
and before each timed run the bench deletes the records of the runs before it
from the topics the worker consumes (frames, detections, crossings, counts,
events); the analyser-state changelog stays (workers restore from it).

Every worker is a real subprocess on the real broker and database. Before each
timed phase the bench waits (at most a minute) for the CPUs to be mostly idle
(``quiet_wait_s`` in all): the local broker stays busy for a while after a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from itscam.errors import ItscamError
from itscam.settings import Settings

log = logging.getLogger(__name__)

# Bytes after a JPEG's end-of-image marker are ignored by decoders: a trailer
# makes every produced frame unique (for lookups) without re-encoding it.
_TRAILER = b"ITSCAMSEQ"


def unique_jpeg(base: bytes, n: int) -> bytes:
    return base + _TRAILER + str(n).encode()


def render_frames(name: str, n: int, fps: float = 10.0) -> tuple[Any, list[bytes]]:
    """``n`` JPEG frames of a shipped scenario's camera, and its camera config."""
    from streaming.evaluate import scenario_source
    from streaming.ingest import encode_jpeg

    src = scenario_source(name, now=time.time(), duration_s=n / fps + 1, fps=fps)
    jpegs = []
    for fr in src.frames():
        jpegs.append(encode_jpeg(fr.image))
        if len(jpegs) >= n:
            break
    return src.config, jpegs


def _cpu_idle_busy() -> tuple[float, float]:
    """Idle (incl. iowait) and total jiffies of all CPUs, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        vals = [float(v) for v in f.readline().split()[1:]]
    return vals[3] + vals[4], sum(vals[:8])


QUIET_WAITED: list[float] = []


def wait_quiet(max_s: float = 60.0, idle_frac: float = 0.85, window_s: float = 2.0) -> float:
    """Wait until the CPUs are mostly idle; returns the seconds waited (also kept in
    ``QUIET_WAITED``).

    The local broker keeps a core busy for about 45 s after a burst of traffic; a
    phase measured meanwhile (the raw detector above all) ran at 60 % of its speed
    and swung ``pipeline_vs_raw`` between 0.53 and 0.91 from run to run.
    """
    if not os.path.exists("/proc/stat"):
        return 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < max_s:
        idle0, total0 = _cpu_idle_busy()
        time.sleep(window_s)
        idle1, total1 = _cpu_idle_busy()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= idle_frac:
            break
    waited = time.monotonic() - t0
    QUIET_WAITED.append(waited)
    return waited


def raw_detector_fps(
    settings: Settings, jpegs: list[bytes], batch: int = 8, repeats: int = 3
) -> dict[str, float]:
    """Images/s of the in-process detector over ``jpegs`` (decode, letterbox, model,
    NMS) in two arrangements of the threads Triton's local profile gives the model,
    each the best of ``repeats`` passes after a whole pass to warm up: ``1x2`` one
    ONNX Runtime session with all of them, batches in turn; ``2x1`` as many
    sessions as the profile has detector instances, each with its share of the
    threads and every other batch, from its own thread. Keys are
    ``<sessions>x<threads>``; the baseline is the faster arrangement.

    A fresh ONNX Runtime session on this machine ran its first seconds at half
    speed (8 images/s, then 15-16), so one warm-up batch was not enough and a
    single timed pass swung the baseline by a factor of two.
    """
    import threading

    from itscam.inference.inprocess import OnnxRuntimeDetector, model_path
    from itscam.inference.repository import LOCAL

    path = model_path(settings.model_repository, settings.triton_model_version)
    instances, threads = LOCAL.detector.instances, LOCAL.intra_op_threads
    total = LOCAL.detector_threads
    arrangements = {
        f"{k}x{t}": [
            OnnxRuntimeDetector(path, max_batch=batch, intra_op_threads=t) for _ in range(k)
        ]
        for k, t in sorted({(1, total), (instances, threads)})
    }
    wait_quiet()

    def one_pass(sessions: list[OnnxRuntimeDetector]) -> float:
        def work(k: int) -> None:
            step = len(sessions) * batch
            for i in range(k * batch, len(jpegs), step):
                sessions[k].detect_sync(jpegs[i : i + batch])

        t0 = time.perf_counter()
        workers = [threading.Thread(target=work, args=(k,)) for k in range(len(sessions))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return len(jpegs) / (time.perf_counter() - t0)

    for sessions in arrangements.values():
        one_pass(sessions)
    best = dict.fromkeys(arrangements, 0.0)
    for _ in range(repeats):  # interleaved: every arrangement sees the same machine
        for name, sessions in arrangements.items():
            best[name] = max(best[name], one_pass(sessions))
    return best


def _raw_figures(out: dict[str, Any], raw: list[dict[str, float]]) -> None:
    """``raw_detector_fps`` (the fastest arrangement of any measurement) and, per
    arrangement, each measurement (``raw_detector_fps_1x2``, ``_2x1``)."""
    for k in raw[0]:
        out[f"raw_detector_fps_{k}"] = [round(r[k], 2) for r in raw]
    out["raw_detector_fps"] = round(max(max(r.values()) for r in raw), 2)


async def _wait_stable(
    settings: Settings, group: str, members: int, timeout_s: float = 120.0
) -> None:
    from itscam.clients.kafka import group_state

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        try:
            state, n = await group_state(settings, group)
            if state == "Stable" and n >= members:
                return
        except Exception:  # group not created yet
            pass
        await asyncio.sleep(0.5)
    raise ItscamError(f"consumer group {group} did not become stable in {timeout_s:.0f} s")


async def _send_frame(
    producer: Any, topic: str, camera_id: str, image: bytes, ts: float, seq: int, run_id: str
) -> Any:
    """Send one 640x360 frame record (JPEG value, CloudEvents headers); its delivery future."""
    from streaming.contracts import Frame, frame_headers

    f = Frame(
        camera_id=camera_id,
        capture_ts_us=round(ts * 1e6),
        seq=seq,
        width=640,
        height=360,
        image=image,
        event_id=f"{run_id}/{seq}",
        run_id=run_id,
    )
    return await producer.send(topic, value=image, key=camera_id.encode(), headers=frame_headers(f))


async def _produce_frames(
    settings: Settings,
    camera_id: str,
    jpegs: list[bytes],
    n: int,
    *,
    run_id: str,
    rate: float | None = None,
    start_ts: float | None = None,
    fps: float = 10.0,
    first_seq: int = 0,
    ahead: tuple[str, int] | None = None,
) -> float:
    """Produce ``n`` frames cycling ``jpegs``; capture time = send time when paced (``rate``).

    ``ahead=(group, k)``: keep at most ``k`` frames ahead of what ``group`` has
    committed (:class:`streaming.ingest.Backlog`; k = 0: no limit): a closed-loop load that never
    lets the worker starve and never piles the whole run up in the broker.
    """
    from itscam.clients.kafka import start_producer
    from streaming.ingest import Backlog

    producer = await start_producer(settings, linger_ms=5)
    topic = settings.topic("frames")
    t0 = time.time()
    base_ts = start_ts if start_ts is not None else t0 - n / fps - 60.0
    futs = []
    group, limit = ahead if ahead is not None else ("", 0)
    try:
        async with Backlog(settings, group, limit, poll_s=0.1) as backlog:
            for i in range(n):
                await backlog.room()
                backlog.sent += 1
                if rate:
                    wait = t0 + i / rate - time.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    ts = time.time()
                else:
                    ts = base_ts + i / fps
                seq = first_seq + i
                img = unique_jpeg(jpegs[i % len(jpegs)], seq)
                futs.append(await _send_frame(producer, topic, camera_id, img, ts, seq, run_id))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return time.time() - t0


def broker_cpu_s(settings: Settings) -> float | None:
    """CPU seconds the local broker process has used so far (None when it is not ours)."""
    try:
        pid = int((Path(settings.state_dir) / "run" / "kafka.pid").read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def purge_consumed(settings: Settings, group: str, topics: list[str]) -> None:
    """Delete ``topics``' records below ``group``'s committed offsets, so that the next
    phase starts on a broker log without the records of the runs before it: the local
    broker rewrites its whole log after each write, at a cost that grows with what it
    holds. Called after :func:`skip_to_end` (the group has given those records up)."""
    from aiokafka.admin import AIOKafkaAdminClient

    from itscam.clients.kafka import delete_committed

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        for topic in topics:
            await delete_committed(settings, admin, group, topic)
    finally:
        await admin.close()


async def _measure(
    settings: Settings,
    group: str,
    first: str,
    topics: list[str],
    n: int,
    timeout_s: float = 900.0,
    poll_s: float = 0.2,
    base: int | None = None,
) -> dict[str, Any]:
    """Frames/s of ``group`` over ``n`` new records on ``first``, until ``topics`` are drained.

    Timed from the first offset commit seen on ``first`` to the first poll with
    every topic drained; commits happen every second, so both ends carry the
    same quantisation and ``n`` should span many seconds. ``base``: ``group``'s
    committed offsets on ``first`` (summed) before the ``n`` records, for records
    still being produced while this runs (all of them already there otherwise).
    """
    from itscam.clients.kafka import group_offsets, lag_by_topic

    t0 = time.monotonic()
    t_first, lag_first, broker_first = None, None, None
    while True:
        committed, ends = await group_offsets(settings, group, topics)
        lag = lag_by_topic(topics, committed, ends)
        if base is not None:  # still to do = n - committed so far (some not yet produced)
            lag[first] = n - sum(o for tp, o in committed.items() if tp.topic == first) + base
        now = time.monotonic()
        if t_first is None and lag[first] < n:
            t_first, lag_first, broker_first = now, lag[first], broker_cpu_s(settings)
        if t_first is not None and sum(lag.values()) == 0:
            done = lag_first or 0  # what was still to do when the clock started
            secs = max(now - t_first, 1e-3)
            broker_end = broker_cpu_s(settings)
            cores = (
                round((broker_end - broker_first) / secs, 3)
                if broker_end is not None and broker_first is not None
                else None
            )
            return {
                "fps": done / secs,
                "frames": n,
                "seconds": round(now - t0, 2),
                "broker_cores": cores,
            }
        if now - t0 > timeout_s:
            raise ItscamError(
                f"{group} did not drain {topics} within {timeout_s:.0f} s (lag {lag})"
            )
        await asyncio.sleep(poll_s)


async def _read_latencies(
    settings: Settings, offsets: dict[Any, int], run_id: str
) -> dict[str, list[float]]:
    """Latencies (ms) of detections and crossings records of ``run_id`` after ``offsets``."""
    from aiokafka import AIOKafkaConsumer

    from itscam.clients.kafka import end_offsets

    topics = sorted({tp.topic for tp in offsets})
    ends = await end_offsets(settings, topics)  # also installs the empty-fetch pause
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    out: dict[str, list[float]] = {"detections": [], "crossings": [], "crossing_ts": []}
    try:
        consumer.assign(list(ends))
        for tp in ends:
            consumer.seek(tp, offsets.get(tp, 0))
        remaining = {tp for tp, e in ends.items() if e > offsets.get(tp, 0)}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                break
            for tp, msgs in batch.items():
                for m in msgs:
                    rec = json.loads(m.value)
                    if rec.get("run_id") != run_id:
                        continue
                    if tp.topic == settings.topic("detections"):
                        out["detections"].append(m.timestamp - rec["capture_ts_us"] / 1000)
                    else:
                        out["crossings"].append(m.timestamp - rec["frame_ts_us"] / 1000)
                        out["crossing_ts"].append(m.timestamp - rec["crossing_ts_us"] / 1000)
                if msgs and msgs[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return out


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


async def pipeline_phase(
    settings: Settings,
    camera: Any,
    jpegs: list[bytes],
    n: int,
    latency_s: float,
    backlog: int = 64,
    passes: int = 2,
) -> dict[str, Any]:
    """End-to-end throughput with the real detector, the best of ``passes`` runs of
    ``n`` frames (produced at most ``backlog`` ahead of the worker; 0 = all ``n``
    first), then latency at half that rate."""
    from itscam.clients.kafka import (
        TOPICS,
        end_offsets,
        ensure_topics,
        group_offsets,
        skip_to_end,
    )
    from streaming.app import APP_ID
    from streaming.cameras import register_cameras
    from streaming.runner import CONSUMED, WorkerPool

    topics = [settings.topic(t) for t in CONSUMED]
    register_cameras(settings, [camera])
    await ensure_topics(settings, TOPICS)
    await skip_to_end(settings, APP_ID, topics)
    await purge_consumed(settings, APP_ID, topics)
    pool = WorkerPool(settings, 1).start()
    try:
        await _wait_stable(settings, APP_ID, 1)
        # Warm up (model load, first Triton call, JIT paths) outside the measurement.
        await _produce_frames(
            settings, camera.camera_id, jpegs, 16, run_id=f"bench-warm-{uuid.uuid4().hex[:6]}"
        )
        await _measure(settings, APP_ID, topics[0], topics, 16)
        # Two passes, the faster counts (the raw baseline is also a best of passes).
        # Capture times are consecutive across the passes and end a minute ago.
        fps = 10.0
        base_ts = time.time() - passes * n / fps - 60.0
        runs = []
        for k in range(passes):
            run_id = f"bench-e2e-{uuid.uuid4().hex[:8]}"
            await asyncio.to_thread(wait_quiet)
            # Produced while measured (the worker consumes as they come either way).
            committed, _ = await group_offsets(settings, APP_ID, topics[:1])
            producing = asyncio.create_task(
                _produce_frames(
                    settings,
                    camera.camera_id,
                    jpegs,
                    n,
                    run_id=run_id,
                    start_ts=base_ts + k * n / fps,
                    fps=fps,
                    first_seq=100 + k * n,
                    ahead=(APP_ID, backlog),
                )
            )
            try:
                runs.append(
                    await _measure(
                        settings, APP_ID, topics[0], topics, n, base=sum(committed.values())
                    )
                )
            finally:
                await producing
        e2e = max(runs, key=lambda r: r["fps"])
        rate = e2e["fps"] / 2
        lat_run = f"bench-lat-{uuid.uuid4().hex[:8]}"
        before = await end_offsets(
            settings, [settings.topic("detections"), settings.topic("crossings")]
        )
        n_lat = max(10, int(rate * latency_s))
        await _produce_frames(
            settings,
            camera.camera_id,
            jpegs,
            n_lat,
            run_id=lat_run,
            rate=rate,
            first_seq=100 + passes * n,
        )
        await _measure(settings, APP_ID, topics[0], topics, n_lat)
        lat = await _read_latencies(settings, before, lat_run)
    finally:
        pool.stop()
    return {
        "pipeline_fps": round(e2e["fps"], 2),
        "pipeline_fps_runs": [round(r["fps"], 2) for r in runs],
        "pipeline_backlog": backlog or n,
        "broker_cores_e2e": e2e["broker_cores"],
        "pipeline_frames": n,
        "latency_rate_fps": round(rate, 2),
        "latency_frames": n_lat,
        "latency_p50_ms": _pct(lat["crossings"], 50),
        "latency_p99_ms": _pct(lat["crossings"], 99),
        "latency_events": len(lat["crossings"]),
        "crossing_ts_latency_p50_ms": _pct(lat["crossing_ts"], 50),
        "crossing_ts_latency_p99_ms": _pct(lat["crossing_ts"], 99),
        "detect_latency_p50_ms": _pct(lat["detections"], 50),
        "detect_latency_p99_ms": _pct(lat["detections"], 99),
    }


def _null_frames(
    settings: Settings, n: int, base_jpeg: bytes
) -> tuple[Any, list[tuple[bytes, Any, float]], Path]:
    """A ~40-vehicle synthetic stream as (jpeg, detections, ts) frames and its lookup file."""
    from itscam.domain.bench_analysis import synthetic_stream
    from streaming.precomputed import save

    stream = synthetic_stream(seconds=n / 10.0 + 0.1, fps=10.0)
    frames = [
        (unique_jpeg(base_jpeg, i), stream.detections[i], float(stream.ts[i]))
        for i in range(min(n, len(stream.detections)))
    ]
    path = Path(settings.state_dir) / "bench" / "precomputed.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    save(path, [(j, d) for j, d, _ in frames])
    return stream.camera, frames, path


async def _produce_null(
    settings: Settings,
    camera_id: str,
    frames: list[tuple[bytes, Any, float]],
    run_id: str,
    *,
    naive: bool,
) -> None:
    from itscam.clients.kafka import start_producer

    producer = await start_producer(settings, linger_ms=5)
    shift = time.time() - 120.0 - frames[-1][2]  # capture times end two minutes ago
    futs = []
    try:
        for seq, (jpeg, _, ts) in enumerate(frames):
            cts = ts + shift
            if naive:
                value = json.dumps(
                    {
                        "camera_id": camera_id,
                        "capture_ts": cts,
                        "seq": seq,
                        "width": 640,
                        "height": 360,
                        "image_b64": base64.b64encode(jpeg).decode(),
                        "run_id": run_id,
                    }
                ).encode()
                futs.append(
                    await producer.send(
                        settings.topic("bench_naive"), value=value, key=camera_id.encode()
                    )
                )
            else:
                futs.append(
                    await _send_frame(
                        producer, settings.topic("frames"), camera_id, jpeg, cts, seq, run_id
                    )
                )
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def null_phase(settings: Settings, n: int, base_jpeg: bytes) -> dict[str, Any]:
    """Our worker with precomputed detections vs the naive agent, same frames, same run."""
    from itscam.clients.kafka import TOPICS, end_offsets, ensure_topics, skip_to_end
    from streaming.app import APP_ID
    from streaming.cameras import register_cameras
    from streaming.naive import NAIVE_APP_ID
    from streaming.runner import CONSUMED, WorkerPool

    camera, frames, path = _null_frames(settings, n, base_jpeg)
    register_cameras(settings, [camera])
    env = {"ITSCAM_PRECOMPUTED_DETECTIONS": str(path)}
    topics = [settings.topic(t) for t in CONSUMED]
    # Create the topics with their partition counts before a producer or a
    # worker can auto-create them with one partition (a fresh broker).
    await ensure_topics(settings, TOPICS)
    await skip_to_end(settings, APP_ID, topics)
    # Each run starts on a broker log without the frames of the phase before it.
    await purge_consumed(settings, APP_ID, topics)
    await _produce_null(
        settings, camera.camera_id, frames, f"bench-null-{uuid.uuid4().hex[:8]}", naive=False
    )
    # Checkpoints written: the analyser-state changelog's growth over our run.
    changelog = [f"{APP_ID}-analyzer_state-changelog"]
    ck_before = sum((await end_offsets(settings, changelog)).values())
    await asyncio.to_thread(wait_quiet)
    pool = WorkerPool(settings, 1, extra_env=env).start()
    try:
        ours = await _measure(settings, APP_ID, topics[0], topics, len(frames))
        checkpoints = sum((await end_offsets(settings, changelog)).values()) - ck_before
    finally:
        pool.stop()
    await purge_consumed(settings, APP_ID, topics)

    await ensure_topics(settings, ("bench_naive", "bench_naive_crossings"))
    naive_topics = [settings.topic("bench_naive")]
    await skip_to_end(settings, NAIVE_APP_ID, naive_topics)
    await purge_consumed(settings, NAIVE_APP_ID, naive_topics)
    await _produce_null(
        settings, camera.camera_id, frames, f"bench-naive-{uuid.uuid4().hex[:8]}", naive=True
    )
    await asyncio.to_thread(wait_quiet)
    naive_pool = WorkerPool(
        settings, 1, extra_env=env, module="streaming.naive", group_id=NAIVE_APP_ID
    ).start()
    try:
        naive = await _measure(settings, NAIVE_APP_ID, naive_topics[0], naive_topics, len(frames))
    finally:
        naive_pool.stop()
    await purge_consumed(settings, NAIVE_APP_ID, naive_topics)
    objects = float(np.mean([len(d) for _, d, _ in frames]))
    return {
        "null_fps": round(ours["fps"], 1),
        "naive_fps": round(naive["fps"], 1),
        "null_vs_naive": round(ours["fps"] / naive["fps"], 2) if naive["fps"] else None,
        "broker_cores_null": ours["broker_cores"],
        "broker_cores_naive": naive["broker_cores"],
        "null_frames": len(frames),
        "null_objects_per_frame": round(objects, 1),
        "null_checkpoints_per_1k_frames": round(1000 * checkpoints / len(frames), 1),
    }


#: The acceptance targets of issue 5 for this bench's figures: (key, comparison, target).
TARGETS: tuple[tuple[str, str, float | str], ...] = (
    ("pipeline_vs_raw", ">=", 0.80),
    ("null_vs_naive", ">=", 5.0),
    ("analysis_vs_peer", "<=", 1.0),
    ("mota", ">=", "peer_mota"),
    ("idf1", ">=", "peer_idf1"),
)


def target_lines(out: dict[str, Any]) -> list[str]:
    """One line per target whose figure this run measured: figure, target, met or not."""
    lines = []
    for key, op, target in TARGETS:
        value = out.get(key)
        bound = out.get(target) if isinstance(target, str) else target
        if value is None or bound is None:
            continue
        met = value >= bound if op == ">=" else value <= bound
        name = f"{target} {bound}" if isinstance(target, str) else f"{bound}"
        lines.append(f"{key} {value} (target {op} {name}): {'met' if met else 'NOT met'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="itscam bench pipeline", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--frames",
        type=int,
        default=600,
        help="frames for the end-to-end phase (the drain is seen through offset "
        "commits, one a second: a short run reads slow by up to a second)",
    )
    p.add_argument("--null-frames", type=int, default=3000, help="frames for null vs naive")
    p.add_argument(
        "--backlog",
        type=int,
        default=64,
        help="end-to-end phase: produce frames at most this many ahead of the worker's "
        "commits (cameras stream; 0 = produce all of them first, as before 2026-11-27)",
    )
    p.add_argument("--latency-s", type=float, default=20.0, help="seconds of paced traffic")
    p.add_argument("--passes", type=int, default=2, help="end-to-end passes (the best counts)")
    p.add_argument("--scenario", default="highway", help="scenario whose camera renders the frames")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["raw", "pipeline", "null", "analysis"],
        help="leave a phase out (repeatable)",
    )
    p.add_argument("--keep-services", action="store_true")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    from itscam.services.manager import local_services
    from itscam.settings import get_settings

    settings = get_settings()
    out: dict[str, Any] = {"bench": "pipeline"}
    try:
        with local_services(settings, keep=args.keep_services):
            camera, jpegs = render_frames(args.scenario, 60)
            out["frame_bytes_mean"] = int(np.mean([len(j) for j in jpegs]))
            raw: list[dict[str, float]] = []
            if "raw" not in args.skip:
                raw.append(raw_detector_fps(settings, jpegs))
                _raw_figures(out, raw)
            if "pipeline" not in args.skip:
                out["inference_backend"] = settings.inference_backend
                out.update(
                    asyncio.run(
                        pipeline_phase(
                            settings,
                            camera,
                            jpegs,
                            args.frames,
                            args.latency_s,
                            args.backlog,
                            max(1, args.passes),
                        )
                    )
                )
                if out.get("raw_detector_fps"):
                    # The raw figure again: on 2 cores a broker still busy with the
                    # previous run's traffic slowed one measurement to 10 images/s
                    # and another, minutes later, ran at 16.7. The faster of the two
                    # is the baseline (the ratio can only come out lower for it).
                    raw.append(raw_detector_fps(settings, jpegs))
                    _raw_figures(out, raw)
                    out["pipeline_vs_raw"] = round(out["pipeline_fps"] / out["raw_detector_fps"], 3)
            if "null" not in args.skip:
                out.update(asyncio.run(null_phase(settings, args.null_frames, jpegs[0])))
            if "analysis" not in args.skip:
                from itscam.domain.bench_analysis import run_analysis_bench

                a = run_analysis_bench()
                out.update(
                    {
                        k: a.get(k)
                        for k in (
                            "analysis_ms_per_frame",
                            "peer_ms_per_frame",
                            "analysis_vs_peer",
                            "mota",
                            "idf1",
                            "peer_mota",
                            "peer_idf1",
                        )
                    }
                )
    except ItscamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    out["quiet_wait_s"] = round(sum(QUIET_WAITED), 1)
    for line in target_lines(out):
        print(line, file=sys.stderr)
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
