"""``itscam`` command line.

Sub-commands import their modules lazily so ``itscam --help`` stays fast (Dagster
and Great Expectations take seconds to import). Every :class:`ItscamError`
is printed as one paragraph, without a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.console import Console

from itscam.errors import ItscamError

console = Console(stderr=True)
app = typer.Typer(
    help="ITS Camera AI: traffic-camera analytics on Kafka, Faust, Triton and Dagster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _call(target: str, argv: list[str]) -> Any:
    """Run ``module:function(argv)`` (an argparse-style main) and return its exit status."""
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(argv)


def _forward(name: str, target: str, help_text: str, parent: typer.Typer) -> None:
    @parent.command(name, context_settings=PASSTHROUGH, help=help_text, add_help_option=False)
    def _cmd(ctx: typer.Context) -> None:
        rc = _call(target, list(ctx.args))
        raise typer.Exit(int(rc or 0))


services = typer.Typer(
    help="Local services (broker, PostgreSQL, Triton, InfluxDB, Redis).", no_args_is_help=True
)
db = typer.Typer(help="Database schema.", no_args_is_help=True)
model = typer.Typer(help="Detector: dataset, training, evaluation, import.", no_args_is_help=True)
triton = typer.Typer(help="Triton model repository.", no_args_is_help=True)
bench = typer.Typer(help="Benchmarks (each prints one JSON line).", no_args_is_help=True)
app.add_typer(services, name="services")
app.add_typer(db, name="db")
app.add_typer(model, name="model")
app.add_typer(triton, name="triton")
app.add_typer(bench, name="bench")

_forward("up", "itscam.services.cli:up", "Start every local service (idempotent).", services)
_forward("down", "itscam.services.cli:down", "Stop every local service.", services)
_forward("status", "itscam.services.cli:status", "Show local service status.", services)
_forward(
    "check", "itscam.services.cli:check", "Check that the configured endpoints answer.", services
)
_forward("migrate", "itscam.db.migrate:main", "Apply versioned SQL migrations (idempotent).", db)
_forward("demo", "itscam.demo:main", "Run the end-to-end demo on the local profile.", app)
_forward(
    "evaluate",
    "streaming.evaluate:main",
    "Run simulated scenarios end to end and compare with ground truth.",
    app,
)
_forward(
    "dataset",
    "itscam.model.dataset:main",
    "Render a YOLO-format dataset from the simulator.",
    model,
)
_forward("train", "itscam.model.train:main", "Train the demo YOLO11n detector (resumable).", model)
_forward(
    "evaluate",
    "itscam.model.evaluate:main",
    "Evaluate the installed model on the held-out set.",
    model,
)
_forward(
    "import", "itscam.model.importer:main", "Import an Ultralytics YOLO11 checkpoint (.pt).", model
)
_forward(
    "install", "itscam.model.install:main", "Install an exported ONNX into triton_models/.", model
)
_forward(
    "render",
    "itscam.inference.repository:main",
    "Render the Triton repository for a profile.",
    triton,
)
_forward("simulator", "itscam.bench.simulator:main", "Rendering frames/s.", bench)
_forward("inference", "itscam.bench.inference:main", "Triton vs in-process ONNX Runtime.", bench)
_forward(
    "pipeline",
    "itscam.bench.pipeline:main",
    "End-to-end stream throughput and analysis cost.",
    bench,
)
_forward("platform", "itscam.bench.platform:main", "Dagster statistics vs one SQL query.", bench)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv)
    except ItscamError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
