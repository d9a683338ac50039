"""``itscam bench simulator``: rendering cost of the scene simulator.

Runs a shipped scenario's traffic once (after a warm-up so the road is full),
keeps the vehicle states of ``--frames`` steps, then renders exactly those
states at 640x360 (the baseline) and 1280x720 and times the rendering alone
(vehicles, shadows, id mask and sensor noise; the static background is drawn
once per camera, outside the timing). Prints one JSON line with frames/s per
resolution and the 720p/360p ratio.
"""

from __future__ import annotations

import argparse
import json
import time

from itscam.sim.render import Renderer
from itscam.sim.scenario import Scenario
from itscam.sim.traffic import TrafficSim


def _states(sc: Scenario, n: int, warmup_s: float) -> list[list]:
    sim = TrafficSim(sc.layout, sc.traffic, sc.seed)
    dt = 1.0 / sc.fps
    for _ in range(round(warmup_s * sc.fps)):
        sim.step(dt)
    out = []
    for _ in range(n):
        out.append([v.state() for v in sim.vehicles])
        sim.step(dt)
    return out


def bench(name: str, frames: int, warmup_s: float) -> dict:
    base = Scenario.load(name)
    states = _states(base, frames, warmup_s)
    result: dict = {
        "bench": "simulator",
        "scenario": name,
        "frames": frames,
        "vehicles_on_road_mean": round(sum(map(len, states)) / len(states), 1),
    }
    fps = {}
    for w, h in ((640, 360), (1280, 720)):
        cam = base.cameras[0]
        r = Renderer(base.layout, cam.camera.resized(w, h), cam.look, seed=base.seed)
        visible = 0
        t0 = time.perf_counter()
        for i, st in enumerate(states):
            visible += len(r.render(st, i).boxes)
        elapsed = time.perf_counter() - t0
        fps[f"{w}x{h}"] = frames / elapsed
        result[f"fps_{w}x{h}"] = round(frames / elapsed, 2)
        result[f"visible_vehicles_mean_{w}x{h}"] = round(visible / frames, 1)
    result["ratio_1280x720_vs_640x360"] = round(fps["1280x720"] / fps["640x360"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="itscam bench simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--scenario", default="highway")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--warmup-s", type=float, default=60.0)
    args = ap.parse_args(argv)
    print(json.dumps(bench(args.scenario, args.frames, args.warmup_s)))
    return 0
