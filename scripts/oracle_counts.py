"""Accuracy of the analyser alone: simulator boxes (or cached detections) in, scored like ``itscam evaluate``.

In process, no services: each shipped scenario (or those named) is rendered
(the renderer decides which vehicles are visible enough to label), its
labelled boxes go to :class:`itscam.domain.analyzer.CameraAnalyzer` frame by
frame as detections, and the crossings and events are scored against the
simulator's truth with the functions of :mod:`streaming.evaluate`. This
measures tracking, counting, speed and events apart from the detector and the
stream; ``itscam evaluate --oracle`` does the same through the real services,
``itscam evaluate`` with the detector.

Rendering dominates (minutes per 10-minute scenario on 2 cores), so
``--cache DIR`` keeps what a render produced (timestamps, labelled boxes, the
camera's registry entry and the truth) and later runs replay it in seconds:
the loop for tuning the analyser. ``--detector`` also runs the in-process
ONNX detector on each frame's JPEG (as the stream's ingest encodes it) and
analyses its boxes instead of the labelled ones; ``--detector triton`` asks the
local Triton server instead (the stream's path, `itscam services up`); with
``--cache`` those detections are cached too. Either way the replay analyses
the boxes rounded as the detections records carry them, as the stream does.
``--jitter PX --seed N`` perturbs the detector's boxes first (up to PX pixels,
confidences up to PX/100): a result that changes under 0.1 px stands on a
knife edge. Prints one JSON line with the same summary keys as
``itscam evaluate``.

usage: .venv/bin/python scripts/oracle_counts.py [--duration S] [--fps F]
       [--cache DIR] [--detector [inprocess|triton]] [--jitter PX --seed N]
       [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from itscam.domain.analyzer import CameraAnalyzer
from itscam.domain.detections import Detections
from itscam.domain.registry import parse_camera
from itscam.ingest.sources import SimulatorSource
from itscam.sim.scenario import shipped_scenarios
from streaming.contracts import as_recorded
from streaming.evaluate import score_source, summarise
from streaming.precomputed import from_rows, rows_of, truth_detections

CACHE_VERSION = 1


def _pack(dets: list[Detections]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([len(d) for d in dets], np.int64)
    rows = [rows_of(d) for d in dets]
    return counts, (np.concatenate(rows) if rows else np.zeros((0, 6), np.float32))


def _unpack(counts: np.ndarray, rows: np.ndarray) -> list[Detections]:
    ends = np.cumsum(counts)
    return [from_rows(rows[s:e]) for s, e in zip(ends - counts, ends, strict=True)]


def _triton_detect(jpegs: list[bytes]) -> list[Detections]:
    """Boxes of ``jpegs`` from the local Triton server (``itscam services up``)."""
    import asyncio

    from itscam.inference import make_detector
    from itscam.settings import get_settings

    # The stream's Triton client, with its settings; never the in-process fallback.
    s = get_settings().model_copy(update={"inference_backend": "triton"})

    async def run() -> list[Detections]:
        det: Any = make_detector(s)
        await det.ready()
        out = await det.detect(jpegs)
        for d in out:
            if isinstance(d, Exception):
                raise d
        return out

    return asyncio.run(run())


def render(
    name: str, duration_s: float | None, fps: float | None, detector: str | None
) -> dict[str, Any]:
    """Render a scenario once: per-frame timestamps and boxes, the camera entry, the truth.

    ``detector``: ``None`` (labelled boxes only), ``inprocess`` (the ONNX model
    in this process) or ``triton`` (the local Triton server, the stream's path).
    """
    src = SimulatorSource(name, fps=fps, duration_s=duration_s)
    det = None
    if detector == "inprocess":
        from itscam.inference.inprocess import OnnxRuntimeDetector, model_path
        from itscam.settings import get_settings

        s = get_settings()
        det = OnnxRuntimeDetector(
            model_path(s.model_repository, s.triton_model_version), max_batch=8
        )
    from streaming.ingest import encode_jpeg

    ts, seq, oracle, found, jpegs = [], [], [], [], []
    for fr in src.frames():
        ts.append(fr.capture_ts)
        seq.append(fr.seq)
        oracle.append(truth_detections(fr.truth, fr.image.shape[0]))
        if detector is not None:
            jpegs.append(encode_jpeg(fr.image))
            if det is not None and len(jpegs) == 8:
                found += det.detect_sync(jpegs)
                jpegs = []
    if det is not None and jpegs:
        found += det.detect_sync(jpegs)
    elif detector == "triton":
        found = _triton_detect(jpegs)
    return {
        "ts": np.asarray(ts),
        "seq": np.asarray(seq),
        "oracle": oracle,
        "detector": found if detector else None,
        "meta": {
            "version": CACHE_VERSION,
            "camera": src.registry_entry,
            "truth": {"crossings": src.truth.crossings, "events": src.truth.events},
            "observed": sorted(src.observed),
            "start_ts": src.scenario.start_ts,
            "duration_s": src.duration_s,
            "analysis_fps": src.analysis_fps,
        },
    }


def save(path: Path, r: dict[str, Any]) -> None:
    arrays = {"ts": r["ts"], "seq": r["seq"]}
    arrays["oracle_counts"], arrays["oracle_rows"] = _pack(r["oracle"])
    if r["detector"] is not None:
        arrays["det_counts"], arrays["det_rows"] = _pack(r["detector"])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(f"{path}.npz", **arrays)
    Path(f"{path}.json").write_text(json.dumps(r["meta"]))


def load(path: Path) -> dict[str, Any] | None:
    meta_path, arrays_path = Path(f"{path}.json"), Path(f"{path}.npz")
    if not meta_path.exists() or not arrays_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("version") != CACHE_VERSION:
        return None
    a = np.load(arrays_path)
    return {
        "ts": a["ts"],
        "seq": a["seq"],
        "oracle": _unpack(a["oracle_counts"], a["oracle_rows"]),
        "detector": _unpack(a["det_counts"], a["det_rows"]) if "det_counts" in a else None,
        "meta": meta,
    }


def jittered(dets: list[Detections], px: float, rng: np.random.Generator) -> list[Detections]:
    """``dets`` with every box corner moved by up to ``px`` pixels and every
    confidence by up to ``px / 100`` (uniform): a check for knife edges."""
    return [
        Detections(
            d.xyxy + rng.uniform(-px, px, d.xyxy.shape),
            np.clip(d.confidence + rng.uniform(-px / 100, px / 100, len(d)), 0.0, 1.0),
            d.class_id,
        )
        for d in dets
    ]


def replay(
    r: dict[str, Any],
    *,
    detector: str | None,
    jitter: tuple[float, np.random.Generator] | None = None,
) -> dict[str, Any]:
    """Analyse the frames of a render and score them like ``itscam evaluate``.

    ``jitter``: ``(px, rng)`` to perturb the detector's boxes first (:func:`jittered`).
    """
    m = r["meta"]
    analyzer = CameraAnalyzer(parse_camera(m["camera"]), run_id="oracle")
    crossings: list[dict] = []
    minutes: list[dict] = []
    events: dict[str, dict] = {}
    last_flush = float("-inf")
    # The detect agent analyses boxes as its detections records carry them
    # (streaming.contracts.as_recorded: 0.1 px, confidence to 1e-3); so does the
    # replay, or a knife-edge vehicle is counted here and not in the stream.
    found = r["detector"] if detector else None
    if found is not None and jitter is not None:
        found = jittered(found, *jitter)
    frames = [as_recorded(d) for d in found] if found is not None else r["oracle"]
    for ts, seq, dets in zip(r["ts"].tolist(), r["seq"].tolist(), frames, strict=True):
        out = analyzer.update(ts, seq, dets)
        crossings += out.crossings
        minutes += out.minute_rows
        events.update((e["event_id"], e) for e in out.events)
        if ts - last_flush >= 1.0:  # the stream's idle timer
            last_flush = ts
            flushed = analyzer.flush(ts)
            crossings += flushed.crossings
            minutes += flushed.minute_rows
            events.update((e["event_id"], e) for e in flushed.events)
    end = m["start_ts"] + m["duration_s"]
    # As the stream at the end of a simulated camera: the last minute and the
    # crossings still waiting for their class.
    for flushed in (analyzer.flush(end), analyzer.end_of_stream()):
        crossings += flushed.crossings
        minutes += flushed.minute_rows
        events.update((e["event_id"], e) for e in flushed.events)
    src = SimpleNamespace(
        camera_id=m["camera"]["camera_id"],
        truth=SimpleNamespace(**m["truth"]),
        observed=set(m["observed"]),
        scenario=SimpleNamespace(start_ts=m["start_ts"]),
        duration_s=m["duration_s"],
        analysis_fps=m["analysis_fps"],
    )
    return score_source(src, crossings, list(events.values()), minutes)


def run_one(
    name: str,
    duration_s: float | None,
    fps: float | None = None,
    *,
    cache: Path | None = None,
    detector: str | None = None,
    jitter: tuple[float, np.random.Generator] | None = None,
) -> dict:
    r = None
    path = None
    if cache is not None:
        dur = f"{duration_s:g}s" if duration_s else "full"
        rate = f"{fps:g}fps" if fps else "native"
        via = "_triton" if detector == "triton" else ""
        path = cache / f"{name}_{dur}_{rate}{via}".replace(".", "p")
        r = load(path)
        if r is not None and detector and r["detector"] is None:
            r = None  # cached without detections: render again with them
    if r is None:
        r = render(name, duration_s, fps, detector)
        if path is not None:
            save(path, r)
    return replay(r, detector=detector, jitter=jitter)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", help="default: all shipped")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default 600)")
    p.add_argument("--fps", type=float, default=None, help="analysis fps (default: the scenario's)")
    p.add_argument(
        "--cache", type=Path, default=None, help="keep renders here and replay them on later runs"
    )
    p.add_argument(
        "--detector",
        nargs="?",
        const="inprocess",
        choices=("inprocess", "triton"),
        default=None,
        help="analyse the detector's boxes instead of the labelled ones: the in-process "
        "ONNX model (the default) or the local Triton server (`itscam services up`)",
    )
    p.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        metavar="PX",
        help="with --detector: move each box corner by up to PX pixels and each confidence "
        "by up to PX/100 before the analysis (e.g. 0.1; a robustness check for knife edges)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --jitter")
    args = p.parse_args(argv)
    if args.jitter and not args.detector:
        p.error("--jitter perturbs the detector's boxes: add --detector")
    jitter = (args.jitter, np.random.default_rng(args.seed)) if args.jitter else None
    names = args.scenarios or shipped_scenarios()
    t0 = time.perf_counter()
    per = {
        name: run_one(
            name, args.duration, args.fps, cache=args.cache, detector=args.detector, jitter=jitter
        )
        for name in names
    }
    print(
        json.dumps(
            {
                **summarise(per),
                "detector": args.detector or "oracle",
                "seconds": round(time.perf_counter() - t0, 1),
                "scenarios": per,
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
