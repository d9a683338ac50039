"""Accuracy of the analyser alone: simulator ground-truth boxes in, scored like ``itscam evaluate``.

In process, no services: each shipped scenario (or those named) is rendered
(the renderer decides which vehicles are visible enough to label), its
labelled boxes go to :class:`itscam.domain.analyzer.CameraAnalyzer` frame by
frame as detections, and the crossings and events are scored against the
simulator's truth with the functions of :mod:`streaming.evaluate`. This
measures tracking, counting, speed and events apart from the detector and the
stream; ``itscam evaluate --oracle`` does the same through the real services,
``itscam evaluate`` with the detector.

Rendering dominates (minutes per 10-minute scenario on 2 cores). Prints one
JSON line with the same summary keys as ``itscam evaluate``.

usage: .venv/bin/python scripts/oracle_counts.py [--duration S] [SCENARIO ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from itscam.domain.analyzer import CameraAnalyzer
from itscam.ingest.sources import SimulatorSource
from itscam.sim.scenario import shipped_scenarios
from streaming.evaluate import score_source, summarise
from streaming.precomputed import truth_detections


def run_one(name: str, duration_s: float | None) -> dict:
    src = SimulatorSource(name, duration_s=duration_s)
    analyzer = CameraAnalyzer(src.config, run_id="oracle")
    crossings: list[dict] = []
    events: dict[str, dict] = {}
    last_flush = float("-inf")
    for fr in src.frames():
        out = analyzer.update(fr.capture_ts, fr.seq, truth_detections(fr.truth, fr.image.shape[0]))
        crossings += out.crossings
        events.update((e["event_id"], e) for e in out.events)
        if fr.capture_ts - last_flush >= 1.0:  # the stream's idle timer
            last_flush = fr.capture_ts
            events.update((e["event_id"], e) for e in analyzer.flush(fr.capture_ts).events)
    end = src.scenario.start_ts + src.duration_s
    events.update((e["event_id"], e) for e in analyzer.flush(end).events)
    return score_source(src, crossings, list(events.values()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", help="default: all shipped")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default 600)")
    args = p.parse_args(argv)
    names = args.scenarios or shipped_scenarios()
    t0 = time.perf_counter()
    per = {name: run_one(name, args.duration) for name in names}
    print(json.dumps({**summarise(per), "detector": "oracle-in-process",
                      "seconds": round(time.perf_counter() - t0, 1), "scenarios": per},
                     separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
