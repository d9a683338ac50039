"""``itscam model dataset``: render a YOLO-format detection dataset from the simulator.

Layout under ``--out`` (default ``data/vehicles``)::

    images/{train,val,test}/NNNNNN.jpg     640x360 BGR frames (JPEG q=95)
    labels/{train,val,test}/NNNNNN.txt     "class cx cy w h" per line, normalised to [0, 1]
    data.yaml                              Ultralytics dataset file (train/val)
    test_coco.json                         COCO ground truth of the test split for evaluation,
                                           with unlabelled vehicles as iscrowd ignore regions
    manifest.json                          seeds, counts per class, renderer settings

Seeds: frame ``i`` of split ``train`` uses seed ``TRAIN_SEED + i``, ``val`` uses
``VAL_SEED + i``; the held-out ``test`` split uses different seeds
(``TEST_SEED + i``) and adds frames of the shipped scenarios' cameras, which the
training frames never use.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.sim.render import Frame, GroundTruthBox
from itscam.sim.snapshot import random_snapshot, render_snapshot

TRAIN_SEED = 1_000_000
VAL_SEED = 2_000_000
TEST_SEED = 3_000_000
SPLIT_SEEDS = {"train": TRAIN_SEED, "val": VAL_SEED, "test": TEST_SEED}
DEFAULT_OUT = Path("data/vehicles")
MIN_LABELLED = 3


def yolo_lines(boxes: list[GroundTruthBox], width: int, height: int) -> list[str]:
    """YOLO label lines (``class cx cy w h``, normalised) for the labelled boxes."""
    out = []
    for b in boxes:
        if not b.labelled(height):
            continue
        x1, y1, x2, y2 = b.xyxy
        out.append(
            f"{b.class_id} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return out


def snapshot_frame(seed: int, width: int = 640, height: int = 360) -> Frame:
    """Render random scene number ``seed``, resampling until it has enough labelled boxes."""
    for attempt in range(50):
        rng = np.random.default_rng([seed, attempt])
        snap = random_snapshot(rng, width=width, height_px=height)
        frame = render_snapshot(snap, seed=seed * 100 + attempt)
        if sum(b.labelled(height) for b in frame.boxes) >= MIN_LABELLED:
            return frame
    return frame


def write_split(out: Path, split: str, frames: list[tuple[str, Frame]]) -> Counter:
    img_dir, lab_dir = out / "images" / split, out / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    for name, fr in frames:
        h, w = fr.image.shape[:2]
        cv2.imwrite(str(img_dir / f"{name}.jpg"), fr.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        lines = yolo_lines(fr.boxes, w, h)
        (lab_dir / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        counts.update(VEHICLE_CLASSES[int(ln.split()[0])] for ln in lines)
    return counts


def _render_write(job: tuple[Path, str, int, int]) -> Counter:
    """Render frame ``i`` of a split (seed ``base + i``) and write its image and labels."""
    out, split, base, i = job
    return write_split(out, split, [(f"{i:06d}", snapshot_frame(base + i))])


def write_split_parallel(out: Path, split: str, n: int, jobs: int) -> Counter:
    """Render and write ``n`` frames of a train/val split in ``jobs`` processes.

    Each worker writes its own files, so frames never travel between processes and
    memory stays flat however large the split. Same seeds, so the same files as ``jobs=1``.
    """
    from concurrent.futures import ProcessPoolExecutor

    base = SPLIT_SEEDS[split]
    work = [(out, split, base, i) for i in range(n)]
    counts: Counter = Counter()
    if jobs <= 1:
        for job in work:
            counts.update(_render_write(job))
        return counts
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for c in pool.map(_render_write, work, chunksize=16):
            counts.update(c)
    return counts


def coco_ground_truth(frames: list[tuple[str, Frame]]) -> dict:
    """COCO detection ground truth; unlabelled visible vehicles become iscrowd=1 ignore regions."""
    images: list[dict] = []
    anns: list[dict] = []
    for img_id, (name, fr) in enumerate(frames, start=1):
        h, w = fr.image.shape[:2]
        images.append({"id": img_id, "file_name": f"{name}.jpg", "width": w, "height": h})
        for b in fr.boxes:
            x1, y1, x2, y2 = b.xyxy
            if x2 - x1 <= 0 or y2 - y1 <= 0:
                continue
            crowd = 0 if b.labelled(h) else 1
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": b.class_id,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": crowd,
                }
            )
    return {
        "images": images,
        "annotations": anns,
        "categories": [{"id": i, "name": n} for i, n in enumerate(VEHICLE_CLASSES)],
    }


def test_frames(n_random: int, n_scenario: int) -> list[tuple[str, Frame]]:
    """Held-out frames: random scenes from TEST_SEED and frames of the shipped scenarios."""
    frames = [(f"{i:06d}", snapshot_frame(TEST_SEED + i)) for i in range(n_random)]
    if n_scenario:
        from itscam.sim.scenario import held_out_frames

        frames += [(f"s{i:05d}", fr) for i, fr in enumerate(held_out_frames(n_scenario, TEST_SEED))]
    return frames


def build(out: Path, splits: dict[str, int], n_scenario_test: int = 0, jobs: int = 1) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.setdefault("splits", {})
    for split, n in splits.items():
        if split == "test":
            frames = test_frames(n, n_scenario_test)
            (out / "test_coco.json").write_text(json.dumps(coco_ground_truth(frames)))
            counts = write_split(out, split, frames)
            n = len(frames)
        else:
            counts = write_split_parallel(out, split, n, jobs)
        manifest["splits"][split] = {
            "images": n,
            "first_seed": SPLIT_SEEDS[split],
            "scenario_frames": n_scenario_test if split == "test" else 0,
            "boxes": dict(counts),
        }
    manifest["classes"] = list(VEHICLE_CLASSES)
    manifest["image_size"] = [640, 360]
    manifest_path.write_text(json.dumps(manifest, indent=2))
    (out / "data.yaml").write_text(
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\n"
        f"test: images/test\nnames:\n"
        + "".join(f"  {i}: {n}\n" for i, n in enumerate(VEHICLE_CLASSES))
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="itscam model dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--train", type=int, default=1600, help="training frames")
    ap.add_argument("--val", type=int, default=100, help="validation frames")
    ap.add_argument("--test", type=int, default=200, help="held-out random frames")
    ap.add_argument(
        "--test-scenario",
        type=int,
        default=100,
        help="held-out frames from the shipped scenarios' cameras",
    )
    ap.add_argument(
        "--splits", default="train,val,test", help="comma-separated splits to (re)render"
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes rendering the train/val splits (same files for any count)",
    )
    args = ap.parse_args(argv)
    sizes = {"train": args.train, "val": args.val, "test": args.test}
    chosen = {s: sizes[s] for s in args.splits.split(",") if s}
    manifest = build(args.out, chosen, args.test_scenario if "test" in chosen else 0, args.jobs)
    print(json.dumps(manifest["splits"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
