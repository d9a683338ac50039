"""``itscam model evaluate``: score the installed ONNX detector on the held-out simulated set.

Runs ``triton_models/yolo11n/1/model.onnx`` in-process with onnxruntime, with the
same letterbox (the model's own input size, ``itscam.vision.INPUT_HW`` = 544x960 for
the served one; pad 114) and decode/NMS as the serving path
(:mod:`itscam.vision`), over ``data/vehicles`` test split (rendered first if
missing: different seeds from training, plus frames of the shipped scenarios'
cameras). Metrics come from pycocotools' ``COCOeval``; vehicles too small,
too hidden or too cut off to label are COCO ``iscrowd`` ignore regions.

Prints one JSON line: ``map50``, ``map50_95``, ``per_class_ap50`` (class -> AP50),
``per_subset`` (the same for the random held-out scenes and for the shipped
scenarios' camera frames apart: a model can do well on the first and poorly
on the second), plus the image count, the input size and timing. Also saved to
``.itscam/model_eval.json`` for the model card.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

import cv2
import numpy as np

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.errors import DataError, ModelError
from itscam.model.dataset import DEFAULT_OUT, build
from itscam.model.install import EVAL_PATH, MODEL_PATH
from itscam.vision import INPUT_HW, NmsConfig, letterbox, postprocess_one

#: mAP is computed over the full precision/recall curve, so keep low-score boxes.
EVAL_NMS = NmsConfig(conf_threshold=0.001, iou_threshold=0.7, max_detections=300)


def detect(model: Path, images: list[np.ndarray], batch: int = 8) -> tuple[list[tuple], tuple]:
    """Run the ONNX model; returns per image ``(xyxy, score, class_id)`` in original pixels,
    and the input size used.

    A model with a fixed input size is letterboxed to its own size (so the serving
    version of an older export still gets an honest baseline in the release gate);
    one with dynamic height and width gets the repository's ``INPUT_HW``.
    """
    import onnxruntime as ort

    from itscam.inference.inprocess import session_input_hw

    if not model.exists():
        raise ModelError(f"{model} not found: run `itscam model install`")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    input_hw = session_input_hw(sess) or INPUT_HW
    out = []
    for i in range(0, len(images), batch):
        chunk = [letterbox(im, input_hw) for im in images[i : i + batch]]
        preds = sess.run(["output0"], {"images": np.stack([t for t, _ in chunk])})[0]
        if preds.shape[1] != 4 + len(VEHICLE_CLASSES):
            raise ModelError(
                f"{model}: output has {preds.shape[1] - 4} classes, expected {len(VEHICLE_CLASSES)}"
            )
        out += [postprocess_one(p, lb, EVAL_NMS) for p, (_, lb) in zip(preds, chunk, strict=True)]
    return out, input_hw


def coco_metrics(gt: dict, dets: list[dict]) -> dict:
    """mAP50, mAP50-95 and per-class AP50 with pycocotools (output silenced)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]  # [iou thresholds, recall points, classes, areas, max dets]
    per_class = {}
    for k, cat in enumerate(ev.params.catIds):
        p = prec[0, :, k, 0, -1]
        p = p[p > -1]
        per_class[VEHICLE_CLASSES[cat]] = round(float(p.mean()) if p.size else 0.0, 4)
    return {
        "map50": round(float(ev.stats[1]), 4),
        "map50_95": round(float(ev.stats[0]), 4),
        "per_class_ap50": per_class,
    }


def _is_scenario(image: dict) -> bool:
    """Frames of the shipped scenarios' cameras are named ``sNNNNN`` (see dataset.test_frames)."""
    return str(image["file_name"]).startswith("s")


def _subset(gt: dict, dets: list[dict], scenario: bool) -> tuple[dict, list[dict]]:
    ids = {im["id"] for im in gt["images"] if _is_scenario(im) == scenario}
    return (
        dict(
            gt,
            images=[im for im in gt["images"] if im["id"] in ids],
            annotations=[a for a in gt["annotations"] if a["image_id"] in ids],
        ),
        [d for d in dets if d["image_id"] in ids],
    )


def evaluate(model: Path, data: Path) -> dict:
    gt_path = data / "test_coco.json"
    if not gt_path.exists():
        build(data, {"test": 200}, n_scenario_test=100)
    gt = json.loads(gt_path.read_text())
    img_dir = data / "images" / "test"
    images = []
    for im in gt["images"]:
        img = cv2.imread(str(img_dir / im["file_name"]))
        if img is None:
            raise DataError(
                f"{img_dir / im['file_name']} unreadable: rerun "
                "`itscam model dataset --splits test`"
            )
        images.append(img)
    t0 = time.perf_counter()
    results, input_hw = detect(model, images)
    elapsed = time.perf_counter() - t0
    dets = []
    for im, (xyxy, score, cls) in zip(gt["images"], results, strict=True):
        for b, s, c in zip(xyxy.tolist(), score.tolist(), cls.tolist(), strict=True):
            dets.append(
                {
                    "image_id": im["id"],
                    "category_id": int(c),
                    "score": float(s),
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                }
            )
    metrics = coco_metrics(gt, dets)
    metrics["per_subset"] = {
        name: coco_metrics(*_subset(gt, dets, scenario))
        for name, scenario in (("random_scenes", False), ("scenario_cameras", True))
        if any(_is_scenario(im) == scenario for im in gt["images"])
    }
    metrics.update(
        images=len(images),
        labelled_boxes=sum(1 for a in gt["annotations"] if not a["iscrowd"]),
        input_hw=list(input_hw),
        ms_per_image=round(1000 * elapsed / max(len(images), 1), 2),
        model=str(model),
    )
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="itscam model evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--model", type=Path, default=MODEL_PATH)
    ap.add_argument("--data", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    metrics = evaluate(args.model, args.data)
    if args.model.resolve() == MODEL_PATH.resolve():
        EVAL_PATH.parent.mkdir(parents=True, exist_ok=True)
        EVAL_PATH.write_text(json.dumps(metrics))
    print(json.dumps(metrics))
    return 0
