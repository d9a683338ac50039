"""``itscam demo``: the main job on the local profile, end to end.

1. start every local service (broker, PostgreSQL, Triton, InfluxDB, Redis) and
   migrate the schema;
2. run simulated cameras of different road geometries (or a video file with
   ``--video``) through ingest -> Kafka ``frames`` -> Faust ``detect`` (Triton,
   YOLO11) -> ``detections`` -> tracking/analysis -> PostgreSQL/InfluxDB/Redis;
3. materialize the Dagster assets for the demo's time span in-process
   (statistics, checks, cost report);
4. print a summary, ending with one line ``DEMO_SUMMARY {json}``;
5. stop the services unless ``--keep-services``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from itscam.errors import ItscamError, ModelError, ServiceError
from itscam.services.manager import ALL_SERVICES, ServiceManager, check_endpoints
from itscam.settings import Settings, get_settings

console = Console()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="itscam demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--cameras", type=int, default=4, help="simulated cameras (default 4, different geometries)"
    )
    p.add_argument(
        "--seconds", type=float, default=30.0, help="simulated seconds per camera (default 30)"
    )
    p.add_argument(
        "--video", help="use this video file as the only camera instead of the simulator"
    )
    p.add_argument(
        "--keep-services", action="store_true", help="leave the services running afterwards"
    )
    return p


def _check_triton(settings: Settings) -> None:
    import tritonclient.grpc as grpcclient

    try:
        client = grpcclient.InferenceServerClient(settings.triton_grpc)
        ready = client.is_model_ready(settings.triton_model)
    except Exception as exc:  # tritonclient raises several types for "unreachable"
        raise ServiceError(
            f"Cannot reach Triton at {settings.triton_grpc} ({type(exc).__name__}). On the local profile "
            "`itscam services up` starts it; otherwise check ITSCAM_TRITON_URL and that the server is up."
        ) from None
    if not ready:
        raise ModelError(
            f"Triton at {settings.triton_grpc} is up but model '{settings.triton_model}' is not ready. "
            "See the Triton log (itscam services status shows its path) for the model that failed to load."
        )


def _sources(args: argparse.Namespace, settings: Settings) -> tuple[list[Any], int | None]:
    """Camera sources and, for simulated cameras, how many true vehicles they show."""
    from itscam.ingest import sources

    if args.video:
        return [
            sources.VideoFileSource(args.video, camera_id="video-1", fps=settings.analysis_fps)
        ], None
    return sources.demo_sources(
        n_cameras=args.cameras, seconds=args.seconds, fps=settings.analysis_fps
    )


def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    t0 = time.monotonic()
    run_id = uuid.uuid4().hex[:12]
    mgr = ServiceManager(settings)
    summary: dict[str, Any] = {"run_id": run_id}
    if settings.profile == "local":
        with console.status("starting services") as spinner:
            mgr.up(ALL_SERVICES, progress=spinner.update)
    else:
        check_endpoints(settings)
    from itscam.db.migrate import migrate

    migrate(settings)
    _check_triton(settings)

    cams, true_vehicles = _sources(args, settings)
    from streaming.runner import run_pipeline

    console.print(
        f"[bold]streaming[/] {len(cams)} camera(s) through Kafka -> Faust -> Triton -> sinks"
    )
    started = datetime.now(UTC)
    counts = run_pipeline(settings, cams, duration_s=None, run_id=run_id)
    ended = datetime.now(UTC)

    from itscam.clients.postgres import connect

    with connect(settings) as conn:

        def one(query: str) -> tuple:
            row = conn.execute(query, (run_id,)).fetchone()
            assert row is not None  # aggregates always return a row
            return row

        db_detections = one("SELECT count(*) FROM analytics.vehicle_detections WHERE run_id = %s")[
            0
        ]
        # What the detector returned, frame by frame (independent of the detection rows).
        detected = one(
            "SELECT coalesce(sum(num_detections), 0) FROM camera_data.frame_metadata"
            " WHERE run_id = %s"
        )[0]
        span = one(
            "SELECT min(capture_ts), max(capture_ts) FROM camera_data.frame_metadata"
            " WHERE run_id = %s"
        )
    start = min(filter(None, [span[0], started])) - timedelta(minutes=1)
    end = max(filter(None, [span[1], ended])) + timedelta(minutes=1)

    console.print("[bold]dagster[/] materializing statistics, checks and the cost report")
    from its_platform.demo import materialize_for_demo

    platform = materialize_for_demo(settings, start, end)
    summary.update(
        cameras=len(cams),
        frames_ingested=int(counts.get("frames_ingested", 0)),
        frames_inferred=int(counts.get("frames_inferred", 0)),
        detections=int(detected),
        detections_in_db=int(db_detections),
        crossings=int(counts.get("crossings", 0)),
        events=int(counts.get("events", 0)),
        dead_letters=int(counts.get("dead_letters", 0)),
        assets_materialized=int(platform.get("assets_materialized", 0)),
        asset_checks_passed=int(platform.get("asset_checks_passed", 0)),
        asset_checks_failed=int(platform.get("asset_checks_failed", 0)),
        asset_checks_warned=int(platform.get("asset_checks_warned", 0)),
    )
    if platform.get("failed_checks"):
        console.print("[red]failed asset checks:[/] " + ", ".join(platform["failed_checks"]))
    if platform.get("warned_checks"):
        console.print(
            "[yellow]asset checks that warn[/] (completeness; a short run covers its"
            " 15-minute intervals only partly): " + ", ".join(platform["warned_checks"])
        )
    if true_vehicles is not None:
        summary["true_vehicles"] = int(true_vehicles)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    return summary


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="ITS Camera AI demo")
    table.add_column("what")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k.replace("_", " "), str(v))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    mgr = ServiceManager(settings)
    try:
        summary = run(args, settings)
    finally:
        if settings.profile == "local" and not args.keep_services:
            mgr.down()
    _print_summary(summary)
    if summary["detections"] != summary["detections_in_db"]:
        raise ItscamError(
            f"The pipeline reported {summary['detections']} detections but "
            f"{summary['detections_in_db']} rows are in analytics.vehicle_detections for run "
            f"{summary['run_id']}: data was lost or duplicated; see the worker logs."
        )
    print("DEMO_SUMMARY " + json.dumps(summary, sort_keys=False), flush=True)
    return 0
