"""Training worker, run by ``itscam model train`` under the training venv (torch + ultralytics).

Standalone on purpose: it imports nothing from ``itscam`` so it runs in
``.venv-train``, which lacks the main environment's packages. Resumes from
``<project>/<name>/weights/last.pt`` when it exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def _prepare_offline(config_dir: Path) -> None:
    """Ultralytics fetches a font and phones home unless told not to; neither works offline."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    # On a shared 2-core machine, spinning OpenMP workers burn the CPU share their
    # sibling thread needs; sleeping at barriers is much faster under contention.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    font = font_dir / "Arial.ttf"
    if not font.exists():
        ttfs = sorted(Path("/usr/share/fonts").rglob("*.ttf"))
        if not ttfs:  # a bare machine: matplotlib (an ultralytics dependency) ships DejaVu
            import matplotlib

            ttfs = sorted(
                (Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVuSans.ttf")
            )
        if not ttfs:
            sys.exit(
                "no TTF font under /usr/share/fonts or matplotlib's data to stand in for Arial.ttf"
            )
        shutil.copy(ttfs[0], font)


def _threads_callback(n: int):
    def cb(_trainer) -> None:
        import torch

        # Ultralytics drops torch to 1 thread on small machines, which is ~1.7x slower.
        torch.set_num_threads(n)

    return cb


def _deadline_callback(deadline: float, cap: int):
    """Fit the run to a wall-clock deadline (epoch seconds).

    After each epoch, set the total epoch count to what the recent epoch times say
    will finish by the deadline (at most ``cap``), so the linear learning-rate decay and the closing
    of mosaic land at the deadline instead of at an unreachable epoch count.
    """
    state: dict[str, float | None] = {"mean": None}

    def cb(trainer) -> None:
        import time

        last = float(getattr(trainer, "epoch_time", 0) or 0)
        if last <= 0:
            return
        mean = last if state["mean"] is None else 0.5 * state["mean"] + 0.5 * last
        state["mean"] = mean
        done = trainer.epoch + 1
        fit = done + max(0, int((deadline - time.time()) // mean))
        total = max(done, min(fit, cap))
        if total != trainer.epochs:
            print(f"deadline: {mean:.0f} s/epoch -> {total} epochs in all", flush=True)
            trainer.epochs = trainer.args.epochs = total
            trainer._setup_scheduler()
            trainer.scheduler.last_epoch = trainer.epoch
            if done >= total:
                trainer.stop = True

    return cb


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--name", default="vehicles")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config-dir", required=True)
    ap.add_argument(
        "--set-epochs",
        type=int,
        default=0,
        help="change the target epoch count of an existing run, then resume",
    )
    ap.add_argument(
        "--close-mosaic",
        type=int,
        default=10,
        help="train the last N epochs without mosaic (also on resume)",
    )
    ap.add_argument(
        "--deadline",
        type=float,
        default=0.0,
        help="epoch seconds by which training should end (adapts the epoch count)",
    )
    ap.add_argument("--lr0", type=float, default=0.002)
    ap.add_argument("--mosaic", type=float, default=1.0, help="mosaic probability (0 = off)")
    ap.add_argument("--warmup-epochs", type=float, default=2.0)
    ap.add_argument("--warmup-bias-lr", type=float, default=0.1)
    ap.add_argument("--rect", action="store_true")
    ap.add_argument(
        "--init",
        default="",
        help="start a new run from these weights (fine-tune) instead of yolo11n.yaml",
    )
    ap.add_argument("--fresh", action="store_true", help="ignore last.pt and start over")
    ap.add_argument("--device", default="cpu", help="torch device: cpu, or a CUDA index such as 0")
    args = ap.parse_args()
    _prepare_offline(Path(args.config_dir))
    import torch
    from ultralytics import YOLO, settings

    settings.update({"sync": False})
    torch.set_num_threads(args.threads)
    last = Path(args.project) / args.name / "weights" / "last.pt"
    if last.exists() and not args.fresh:
        if args.set_epochs:
            ckpt = torch.load(last, map_location="cpu", weights_only=False)
            ckpt["train_args"]["epochs"] = args.set_epochs
            torch.save(ckpt, last)
            print(f"retargeted {last} to {args.set_epochs} epochs", flush=True)
        model = YOLO(str(last))
        resume = True
    else:
        model = YOLO(args.init or "yolo11n.yaml")
        resume = False
    cb = _threads_callback(args.threads)
    model.add_callback("on_train_start", cb)
    model.add_callback("on_train_epoch_start", cb)
    if args.deadline:
        model.add_callback(
            "on_fit_epoch_end", _deadline_callback(args.deadline, args.set_epochs or args.epochs)
        )
    if resume:
        model.train(resume=True, close_mosaic=args.close_mosaic)
    else:
        model.train(
            data=args.data,
            epochs=args.epochs,
            imgsz=args.imgsz,
            batch=args.batch,
            workers=args.workers,
            device=args.device,
            project=args.project,
            name=args.name,
            exist_ok=True,
            plots=False,
            patience=0,
            optimizer="AdamW",
            lr0=args.lr0,
            mosaic=args.mosaic,
            warmup_epochs=args.warmup_epochs,
            warmup_bias_lr=args.warmup_bias_lr,
            close_mosaic=args.close_mosaic,
            seed=args.seed,
            cache="ram",
            amp=False,
            rect=args.rect,
            verbose=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
