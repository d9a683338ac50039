"""``itscam model train``: train the demo YOLO11n from ``yolo11n.yaml`` (no pretrained weights).

Runs :mod:`itscam.model.yolo_train_worker` under the training venv
(``.venv-train``: torch CPU + ultralytics; the main venv has no torch).
Checkpoints go to ``runs/detect/<name>/weights/{last,best}.pt``; running the
command again resumes from ``last.pt``. Use ``--background`` to detach it
(log in ``runs/detect/<name>.log``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from itscam.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TRAIN_PYTHON = ROOT / ".venv-train" / "bin" / "python"
WORKER = Path(__file__).with_name("yolo_train_worker.py")
PROJECT = ROOT / "runs" / "detect"
#: Default training size: the frames' own long side. The model is served larger
#: (``itscam.vision.INPUT_HW``, 1.5x) so far vehicles reach it at 15 px and more.
TRAIN_IMGSZ = 640


def train_python() -> Path:
    py = Path(os.environ.get("ITSCAM_TRAIN_PYTHON", TRAIN_PYTHON))
    if not py.exists():
        raise ConfigError(
            f"training interpreter {py} not found: create .venv-train "
            "(torch + ultralytics, see requirements/) or set ITSCAM_TRAIN_PYTHON"
        )
    return py


def worker_command(args: argparse.Namespace) -> list[str]:
    data = Path(args.data).resolve()
    if not data.exists():
        raise ConfigError(f"{data} not found: run `itscam model dataset` first")
    cmd = [
        str(train_python()),
        str(WORKER),
        "--data",
        str(data),
        "--project",
        str(PROJECT),
        "--name",
        args.name,
        "--epochs",
        str(args.epochs),
        "--imgsz",
        str(args.imgsz),
        "--batch",
        str(args.batch),
        "--workers",
        str(args.workers),
        "--config-dir",
        str(ROOT / ".itscam" / "ultralytics"),
    ]
    if args.set_epochs:
        cmd += ["--set-epochs", str(args.set_epochs)]
    cmd += [
        "--close-mosaic",
        str(args.close_mosaic),
        "--lr0",
        str(args.lr0),
        "--mosaic",
        str(args.mosaic),
        "--warmup-epochs",
        str(args.warmup_epochs),
        "--warmup-bias-lr",
        str(args.warmup_bias_lr),
    ]
    if args.rect:
        cmd.append("--rect")
    if args.device != "cpu":
        cmd += ["--device", args.device, "--threads", str(max(2, args.workers))]
    if args.until:
        cmd += ["--deadline", str(_deadline(args.until))]
    if args.fresh:
        cmd.append("--fresh")
    if args.init:
        cmd += ["--init", str(Path(args.init).resolve())]
    return cmd


def _deadline(hhmm: str) -> float:
    """Next occurrence of ``HH:MM`` UTC as epoch seconds."""
    import datetime as dt

    try:
        h, m = (int(x) for x in hhmm.split(":"))
        now = dt.datetime.now(dt.UTC)
        t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    except ValueError:
        raise ConfigError(f"--until {hhmm!r}: use HH:MM (UTC)") from None
    if t <= now:
        t += dt.timedelta(days=1)
    return t.timestamp()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="itscam model train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--data", default="data/vehicles/data.yaml")
    ap.add_argument("--name", default="vehicles")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument(
        "--imgsz",
        type=int,
        default=TRAIN_IMGSZ,
        help="training size, default the frames' long side (640); the model is "
        "served at itscam.vision.INPUT_HW (960x544)",
    )
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--set-epochs",
        type=int,
        default=0,
        help="retarget an existing run to this many epochs and resume",
    )
    ap.add_argument(
        "--close-mosaic", type=int, default=10, help="last N epochs without mosaic augmentation"
    )
    ap.add_argument(
        "--until",
        default="",
        metavar="HH:MM",
        help="fit the epoch count (at most the target) to end by this UTC time",
    )
    ap.add_argument("--lr0", type=float, default=0.002, help="initial learning rate (AdamW)")
    ap.add_argument("--mosaic", type=float, default=1.0, help="mosaic probability (0 = off)")
    ap.add_argument("--warmup-epochs", type=float, default=2.0)
    ap.add_argument(
        "--warmup-bias-lr",
        type=float,
        default=0.1,
        help="bias learning rate at the start of warmup (ultralytics' 0.1 suits SGD; "
        "with AdamW it moves every bias by about 0.1 per step, so use 0 to "
        "fine-tune trained weights)",
    )
    ap.add_argument(
        "--rect",
        action="store_true",
        help="rectangular batches (640x384 for 16:9 frames at imgsz 640: ~40%% less "
        "compute than square; implies no mosaic and a fixed batch order)",
    )
    ap.add_argument(
        "--init",
        default="",
        help="weights to start a new run from (fine-tune), e.g. a finished run's best.pt",
    )
    ap.add_argument(
        "--device",
        default="cpu",
        help="torch device: cpu (default), or a CUDA index such as 0 where there is a GPU",
    )
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--background", action="store_true", help="detach; log to runs/detect/NAME.log")
    args = ap.parse_args(argv)
    cmd = worker_command(args)
    if not args.background:
        return subprocess.call(cmd, cwd=ROOT)
    PROJECT.mkdir(parents=True, exist_ok=True)
    log = PROJECT / f"{args.name}.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (PROJECT / f"{args.name}.pid").write_text(str(proc.pid))
    print(f"training in the background: pid {proc.pid}, log {log}", file=sys.stderr)
    return 0
