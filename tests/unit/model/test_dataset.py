import json

import cv2
import numpy as np
import yaml

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.model.dataset import (
    build,
    coco_ground_truth,
    snapshot_frame,
    write_split_parallel,
    yolo_lines,
)


def test_yolo_dataset_layout_and_label_format(tmp_path):
    manifest = build(tmp_path, {"train": 3, "val": 1, "test": 2})
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(VEHICLE_CLASSES))
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        images = sorted((tmp_path / "images" / split).glob("*.jpg"))
        labels = sorted((tmp_path / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        assert [p.stem for p in images] == [p.stem for p in labels]
        for img, lab in zip(images, labels, strict=True):
            assert cv2.imread(str(img)).shape == (360, 640, 3)
            rows = [ln.split() for ln in lab.read_text().splitlines()]
            assert len(rows) >= 3
            for r in rows:
                assert len(r) == 5 and r[0] in {"0", "1", "2", "3"}
                cx, cy, w, h = map(float, r[1:])
                assert 0 < w <= 1 and 0 < h <= 1
                assert cx - w / 2 + 1e-6 >= 0 and cx + w / 2 <= 1 + 1e-6
                assert cy - h / 2 + 1e-6 >= 0 and cy + h / 2 <= 1 + 1e-6
    assert manifest["splits"]["train"]["first_seed"] != manifest["splits"]["test"]["first_seed"]
    coco = json.loads((tmp_path / "test_coco.json").read_text())
    assert len(coco["images"]) == 2
    assert {a["iscrowd"] for a in coco["annotations"]} <= {0, 1}


def test_labels_match_ground_truth_boxes():
    frame = snapshot_frame(1_000_000)
    lines = yolo_lines(frame.boxes, 640, 360)
    labelled = [b for b in frame.boxes if b.labelled(360)]
    assert len(lines) == len(labelled)
    for line, box in zip(lines, labelled, strict=True):
        c, cx, cy, w, h = line.split()
        assert int(c) == box.class_id
        x1, y1, x2, y2 = box.xyxy
        np.testing.assert_allclose(
            [float(cx) * 640, float(cy) * 360, float(w) * 640, float(h) * 360],
            [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1],
            atol=1e-3,
        )


def test_unlabelled_vehicles_become_ignore_regions():
    frames = [(f"{i}", snapshot_frame(1_000_000 + i)) for i in range(6)]
    coco = coco_ground_truth(frames)
    n_boxes = sum(1 for _, f in frames for b in f.boxes if b.xyxy[2] > b.xyxy[0])
    assert len(coco["annotations"]) == n_boxes
    crowd = [a for a in coco["annotations"] if a["iscrowd"]]
    assert len(crowd) == sum(
        1 for _, f in frames for b in f.boxes if not b.labelled(360) and b.xyxy[2] > b.xyxy[0]
    )


def test_classes_are_balanced_in_training_frames():
    counts = np.zeros(4)
    for i in range(12):
        for b in snapshot_frame(1_000_000 + i).boxes:
            if b.labelled(360):
                counts[b.class_id] += 1
    share = counts / counts.sum()
    assert share.min() > 0.12 and share.max() < 0.45


def test_parallel_rendering_writes_the_same_files_as_one_process(tmp_path):
    one = write_split_parallel(tmp_path / "one", "val", 4, jobs=1)
    two = write_split_parallel(tmp_path / "two", "val", 4, jobs=2)
    assert one == two and sum(one.values()) > 0
    for kind in ("images", "labels"):
        a = sorted((tmp_path / "one" / kind / "val").iterdir())
        b = sorted((tmp_path / "two" / kind / "val").iterdir())
        assert [x.name for x in a] == [x.name for x in b] and len(a) == 4
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
