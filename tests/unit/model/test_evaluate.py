import pytest

from itscam.model.dataset import coco_ground_truth, snapshot_frame
from itscam.model.evaluate import coco_metrics


@pytest.fixture(scope="module")
def gt() -> dict:
    return coco_ground_truth([(f"{i}", snapshot_frame(3_000_000 + i)) for i in range(4)])


def _dets(gt: dict, *, crowd: bool = False, shift: float = 0.0, drop_class: int | None = None):
    out = []
    for a in gt["annotations"]:
        if bool(a["iscrowd"]) != crowd or a["category_id"] == drop_class:
            continue
        x, y, w, h = a["bbox"]
        out.append(
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "score": 0.9,
                "bbox": [x + shift * w, y, w, h],
            }
        )
    return out


def test_perfect_detections_score_one(gt):
    m = coco_metrics(gt, _dets(gt))
    assert m["map50"] == pytest.approx(1.0) and m["map50_95"] == pytest.approx(1.0)
    assert set(m["per_class_ap50"]) == {"car", "motorcycle", "bus", "truck"}
    assert all(v == pytest.approx(1.0) for v in m["per_class_ap50"].values())


def test_detections_on_ignore_regions_are_not_false_positives(gt):
    assert any(a["iscrowd"] for a in gt["annotations"])
    m = coco_metrics(gt, _dets(gt) + _dets(gt, crowd=True))
    assert m["map50"] == pytest.approx(1.0)


def test_misplaced_and_missing_detections_lower_the_scores(gt):
    shifted = coco_metrics(gt, _dets(gt, shift=0.3))
    assert shifted["map50"] > 0.9 and shifted["map50_95"] < 0.7
    missing = coco_metrics(gt, _dets(gt, drop_class=2))
    assert missing["per_class_ap50"]["bus"] == 0.0 and missing["per_class_ap50"]["car"] == 1.0


def test_subsets_split_random_scenes_from_scenario_camera_frames(gt):
    from itscam.model.evaluate import _subset

    renamed = dict(
        gt,
        images=[
            dict(im, file_name=("s" if im["id"] % 2 else "") + im["file_name"])
            for im in gt["images"]
        ],
    )
    # perfect on the random scenes, nothing found on the scenario frames
    dets = [d for d in _dets(renamed) if d["image_id"] % 2 == 0]
    random_gt, random_dets = _subset(renamed, dets, scenario=False)
    scen_gt, scen_dets = _subset(renamed, dets, scenario=True)
    assert len(random_gt["images"]) + len(scen_gt["images"]) == len(gt["images"])
    assert coco_metrics(random_gt, random_dets)["map50"] == pytest.approx(1.0)
    assert scen_dets == [] and coco_metrics(scen_gt, scen_dets)["map50"] <= 0.0
