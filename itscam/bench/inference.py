"""``itscam bench inference``: the Triton ensemble against raw ONNX Runtime, in one run.

Prints ONE JSON line:

- ``raw``: ONNX Runtime in this process (same model, same intra-op thread count
  as Triton's detector), pre-letterboxed tensors, batch 1/4/8: images/s and
  p50/p99 latency per call;
- ``triton``: the ``yolo11_detector`` ensemble over gRPC from JPEG bytes at
  concurrency 1/4/8 (one frame per request; Triton batches): images/s, p50/p99
  latency per frame, bytes sent/received per frame (serialized gRPC messages);
- ``inprocess_from_jpeg``: the in-process backend from JPEG bytes (decode,
  letterbox, model, NMS) at batch 1: the serverless floor for Triton's latency;
- ``breakdown``: per ensemble step, Triton's own statistics for the Triton
  runs: mean queue / compute_input / compute_infer / compute_output ms per
  request and the mean batch size the dynamic batcher formed;
- ``triton_vs_raw`` = best Triton images/s / best raw images/s (target >= 0.85),
  ``p99_c1_minus_raw_b1_ms`` (target <= 15).

The server is a fresh standalone Triton on free ports serving a repository
rendered from the description (unless ``--url`` points at a running one).
Frames are rendered by the traffic simulator (640x360 JPEG, quality 90).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from itscam.inference.inprocess import OnnxRuntimeDetector, model_path
from itscam.inference.repository import DETECTOR, ENSEMBLE, LOCAL, MODELS, render
from itscam.inference.triton import TritonDetector
from itscam.settings import get_settings, load_settings
from itscam.vision import decode_image, letterbox


def _frames(n: int, seed: int) -> list[bytes]:
    from itscam.sim.snapshot import random_snapshot, render_snapshot

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image = render_snapshot(random_snapshot(rng), seed=seed + i).image
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        out.append(buf.tobytes())
    return out


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 2) if values else float("nan")


class RawPoint:
    """Raw ONNX Runtime at one batch size, measured over several interleaved slices."""

    def __init__(self, det: OnnxRuntimeDetector, tensors: list[np.ndarray], batch: int) -> None:
        self.det, self.batch = det, batch
        self.batches = [
            np.stack([tensors[(i + j) % len(tensors)] for j in range(batch)])
            for i in range(len(tensors))
        ]
        det.run_raw(self.batches[0])  # warm-up
        self.lat: list[float] = []
        self.images = 0
        self.elapsed = 0.0

    def measure(self, seconds: float) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            self.det.run_raw(self.batches[len(self.lat) % len(self.batches)])
            self.lat.append(time.perf_counter() - t)
            self.images += self.batch
        self.elapsed += time.perf_counter() - start

    def summary(self) -> dict:
        return {
            "batch": self.batch,
            "images_per_s": round(self.images / self.elapsed, 2),
            "p50_ms": _pct(self.lat, 50),
            "p99_ms": _pct(self.lat, 99),
        }


def _stats_by_model(stats: dict) -> dict[str, dict[str, int]]:
    out = {}
    for m in stats["model_stats"]:
        s = m.get("inference_stats", {})
        out[m["name"]] = {
            # Protobuf JSON omits zero values.
            "requests": int(s.get("success", {}).get("count", 0)),
            "executions": int(m.get("execution_count", 0)),
            "inferences": int(m.get("inference_count", 0)),
            **{
                k: int(s.get(k, {}).get("ns", 0))
                for k in ("queue", "compute_input", "compute_infer", "compute_output")
            },
        }
    return out


def _breakdown(delta: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    out = {}
    for name in MODELS:
        row_in = delta.get(name)
        if not row_in or row_in["requests"] <= 0:
            continue
        n = row_in["requests"]
        row = {
            f"{k}_ms": round(row_in[k] / n / 1e6, 3)
            for k in ("queue", "compute_input", "compute_infer", "compute_output")
        }
        row["requests"] = n
        if row_in["executions"] > 0 and name != ENSEMBLE:
            row["mean_batch"] = round(row_in["inferences"] / row_in["executions"], 2)
        out[name] = row
    return out


class InProcessPoint:
    """The in-process backend end to end (JPEG bytes -> detections), one frame per call.

    Not part of ``triton_vs_raw``: it shows what decode + letterbox + NMS add to
    the raw model time without any server, i.e. the floor for Triton's latency.
    """

    def __init__(self, det: OnnxRuntimeDetector, frames: list[bytes]) -> None:
        self.det, self.frames = det, frames
        det.detect_sync(frames[:1])
        self.lat: list[float] = []
        self.elapsed = 0.0

    def measure(self, seconds: float) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            self.det.detect_sync([self.frames[len(self.lat) % len(self.frames)]])
            self.lat.append(time.perf_counter() - t)
        self.elapsed += time.perf_counter() - start

    def summary(self) -> dict:
        return {
            "batch": 1,
            "images_per_s": round(len(self.lat) / self.elapsed, 2),
            "p50_ms": _pct(self.lat, 50),
            "p99_ms": _pct(self.lat, 99),
        }


class TritonPoint:
    """The ensemble at one concurrency, measured over several interleaved slices."""

    def __init__(self, url: str, frames: list[bytes], concurrency: int) -> None:
        self.frames, self.concurrency = frames, concurrency
        self.det = TritonDetector(
            url, timeout_s=30, retries=0, max_in_flight=concurrency, count_bytes=True
        )
        self.lat: list[float] = []
        self.errors = 0
        self.elapsed = 0.0
        self.before: dict = {}
        self.stats: dict[str, dict[str, int]] = {}

    async def warm_up(self) -> None:
        await self.det.ready()
        await self.det.detect(self.frames[: self.concurrency])
        self.det.transfer.__init__()  # type: ignore[misc]

    async def measure(self, seconds: float) -> None:
        before = _stats_by_model(await self.det.statistics())
        stop_at = time.perf_counter() + seconds

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                res = await self.det.detect_one(self.frames[i % len(self.frames)])
                self.lat.append(time.perf_counter() - t)
                self.errors += not hasattr(res, "xyxy")
                i += self.concurrency

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(self.concurrency)))
        self.elapsed += time.perf_counter() - start
        after = _stats_by_model(await self.det.statistics())
        for name, row in after.items():
            acc = self.stats.setdefault(name, dict.fromkeys(row, 0))
            for key, value in row.items():
                acc[key] += value - before.get(name, {}).get(key, 0)

    def summary(self) -> dict:
        n = max(self.det.transfer.requests, 1)
        return {
            "concurrency": self.concurrency,
            "images_per_s": round(len(self.lat) / self.elapsed, 2),
            "p50_ms": _pct(self.lat, 50),
            "p99_ms": _pct(self.lat, 99),
            "errors": self.errors,
            "bytes_sent_per_image": round(self.det.transfer.bytes_sent / n),
            "bytes_received_per_image": round(self.det.transfer.bytes_received / n),
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _measure(
    raw_det: OnnxRuntimeDetector, frames: list[bytes], url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Interleave short slices of every point, round after round.

    The host is shared (other jobs come and go), so measuring raw first and
    Triton afterwards would compare different machines; interleaving gives
    both the same mix of background load.
    """
    tensors = [letterbox(decode_image(f))[0] for f in frames]
    raw = [RawPoint(raw_det, tensors, b) for b in args.batches]
    e2e = InProcessPoint(raw_det, frames)
    triton = [TritonPoint(url, frames, c) for c in args.concurrency]
    for point in triton:
        await point.warm_up()
    slice_s = args.seconds / args.rounds
    try:
        for _ in range(args.rounds):
            for r in raw:
                r.measure(slice_s)
            e2e.measure(slice_s)
            for t in triton:
                await t.measure(slice_s)
    finally:
        for t in triton:
            await t.det.close()
    return {
        "raw": [r.summary() for r in raw],
        "inprocess_from_jpeg": e2e.summary(),
        "triton": [t.summary() for t in triton],
        "breakdown": {f"c{t.concurrency}": _breakdown(t.stats) for t in triton},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = get_settings()
    onnx = Path(args.model) if args.model else model_path(settings.model_repository)
    # Raw gets the threads the local profile gives the model in all: two
    # instances of one thread serve two requests at once, a single raw session
    # runs each batch on both threads.
    threads = LOCAL.detector_threads
    raw_det = OnnxRuntimeDetector(onnx, intra_op_threads=threads)
    frames = _frames(args.frames, args.seed)
    result: dict[str, Any] = {
        "bench": "inference",
        "host": platform.node(),
        "model": str(onnx),
        "frames": len(frames),
        "frame_bytes_mean": round(sum(map(len, frames)) / len(frames)),
        "seconds_per_point": args.seconds,
        "rounds": args.rounds,
        "raw_intra_op_threads": threads,
        "triton_instances_x_threads": f"{LOCAL.detector.instances}x{LOCAL.intra_op_threads}",
    }

    with tempfile.TemporaryDirectory(prefix="itscam-bench-") as tmp:
        server = None
        url = args.url
        if not url:
            from itscam.services.triton import TritonProcess

            render("local", Path(tmp) / "repo", onnx)
            srv_settings = load_settings(
                state_dir=Path(tmp) / "state",
                model_repository=Path(tmp) / "repo",
                triton_http_port=_free_port(),
                triton_grpc_port=_free_port(),
                triton_metrics_port=_free_port(),
            )
            server = TritonProcess(srv_settings, Path(tmp) / "triton.log").start()
            url = srv_settings.triton_grpc
        try:
            result.update(asyncio.run(_measure(raw_det, frames, url, args)))
        finally:
            if server is not None:
                server.stop()

    best_raw = max(r["images_per_s"] for r in result["raw"])
    best_triton = max(r["images_per_s"] for r in result["triton"])
    result["triton_vs_raw"] = round(best_triton / best_raw, 3)
    raw_b1 = next((r for r in result["raw"] if r["batch"] == 1), None)
    tri_c1 = next((r for r in result["triton"] if r["concurrency"] == 1), None)
    if raw_b1 and tri_c1:
        result["p99_c1_minus_raw_b1_ms"] = round(tri_c1["p99_ms"] - raw_b1["p99_ms"], 2)
    result["targets_met"] = {
        "triton_vs_raw>=0.85": result["triton_vs_raw"] >= 0.85,
        "p99_c1<=raw_p99+15ms": result.get("p99_c1_minus_raw_b1_ms", float("inf")) <= 15,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="itscam bench inference", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", help=f"ONNX file (default: the repository's {DETECTOR})")
    parser.add_argument(
        "--url", help="use a running Triton (gRPC host:port) instead of starting one"
    )
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="measured time per point, over all rounds"
    )
    parser.add_argument("--rounds", type=int, default=4, help="interleaved slices per point")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, separators=(",", ":")))
    return 0
