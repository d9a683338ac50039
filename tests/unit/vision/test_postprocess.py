from __future__ import annotations

import cv2
import numpy as np
import pytest

from itscam.vision import (
    NmsConfig,
    anchor_count,
    decode_predictions,
    letterbox_params,
    nms,
    nms_class_aware,
    pack_detections,
    postprocess,
    postprocess_one,
    unpack_detections,
)
from tests.unit.vision.factories import random_boxes


def _boxes(*rows):
    return np.array(rows, np.float32).reshape(-1, 4)


@pytest.mark.parametrize(
    ("boxes", "scores", "iou", "expected"),
    [
        pytest.param(_boxes(), [], 0.5, [], id="empty"),
        pytest.param(_boxes([0, 0, 10, 10]), [0.9], 0.5, [0], id="single"),
        pytest.param(
            _boxes([0, 0, 10, 10], [0, 0, 10, 10]), [0.8, 0.9], 0.5, [1], id="identical-keeps-best"
        ),
        pytest.param(
            _boxes([0, 0, 10, 10], [20, 20, 30, 30]), [0.9, 0.8], 0.0, [0, 1], id="disjoint"
        ),
        # IoU of these two is exactly 0.5 (overlap 50, union 100): not strictly above -> kept.
        pytest.param(
            _boxes([0, 0, 10, 5], [0, 0, 10, 10]), [0.9, 0.8], 0.5, [0, 1], id="iou-at-threshold"
        ),
        pytest.param(
            _boxes([0, 0, 10, 5], [0, 0, 10, 10]), [0.9, 0.8], 0.49, [0], id="iou-above-threshold"
        ),
        pytest.param(
            _boxes([5, 5, 5, 5], [5, 5, 5, 5]), [0.9, 0.8], 0.1, [0, 1], id="zero-area-pair"
        ),
        pytest.param(
            _boxes([0, 0, 10, 0], [0, 0, 10, 10]), [0.9, 0.8], 0.1, [0, 1], id="zero-height"
        ),
        pytest.param(
            _boxes([0, 0, 10, 10], [0, 0, 10, 10]), [0.5, 0.5], 0.5, [0], id="tie-lower-index"
        ),
        pytest.param(
            _boxes([0, 0, 10, 10], [1, 1, 11, 11], [2, 2, 12, 12]),
            [0.9, 0.8, 0.7],
            0.5,
            [0, 2],
            id="chain-suppressed-box-does-not-suppress",
        ),
        pytest.param(
            _boxes([0, 0, 10, 10], [0, 0, 10, 10]), [0.9, 0.8], 1.0, [0, 1], id="iou-1-keeps-all"
        ),
    ],
)
def test_nms_table(boxes, scores, iou, expected):
    assert nms(boxes, np.array(scores, np.float32), iou).tolist() == expected


def test_class_aware_nms_keeps_overlapping_boxes_of_other_classes():
    boxes = _boxes([0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10])
    scores = np.array([0.9, 0.95, 0.7, 0.6], np.float32)
    classes = np.array([0, 1, 0, 2], np.int32)
    assert nms_class_aware(boxes, scores, classes, 0.5).tolist() == [1, 0, 3]


def test_class_aware_nms_of_nothing_is_empty():
    out = nms_class_aware(_boxes(), np.zeros(0, np.float32), np.zeros(0, np.int32), 0.5)
    assert out.shape == (0,) and out.dtype == np.int64


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("iou", [0.3, 0.5, 0.7])
def test_class_aware_nms_equals_opencv_reference(seed, iou):
    xyxy, score, cls = random_boxes(300, seed)
    ours = nms_class_aware(xyxy, score, cls, iou)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    ref = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score.tolist(), cls.tolist(), 0.0, iou)
    assert sorted(ours.tolist()) == sorted(np.asarray(ref).reshape(-1).tolist())
    assert np.all(np.diff(score[ours]) <= 0), "kept boxes must come best first"


def _raw(anchors):
    """(8, A) raw output from rows of (cx, cy, w, h, s0, s1, s2, s3)."""
    return np.array(anchors, np.float32).reshape(-1, 8).T.copy()


def test_decode_predictions_takes_best_class_and_threshold_is_exclusive():
    pred = _raw(
        [
            [100, 50, 20, 10, 0.1, 0.8, 0.3, 0.0],
            [10, 10, 4, 4, 0.25, 0.0, 0.0, 0.0],  # exactly at threshold: dropped
            [200, 100, 40, 20, 0.0, 0.0, 0.0, 0.6],
        ]
    )
    xyxy, score, cls = decode_predictions(pred, 0.25)
    np.testing.assert_allclose(xyxy, [[90, 45, 110, 55], [180, 90, 220, 110]])
    np.testing.assert_allclose(score, [0.8, 0.6])
    assert cls.tolist() == [1, 3]


def test_decode_predictions_rejects_wrong_layout():
    with pytest.raises(ValueError, match="4 \\+ nc"):
        decode_predictions(np.zeros((3, 10), np.float32), 0.25)


def test_postprocess_one_maps_back_to_original_pixels_and_caps_count():
    lb, _, _ = letterbox_params((360, 640), (384, 640))  # scale 1.0, pad_y 12
    assert (lb.scale, lb.pad_x, lb.pad_y) == (1.0, 0.0, 12.0)
    rows = [[320, 12 + 180, 100, 100, 0.9, 0, 0, 0]]
    rows += [[20 + 30 * i, 40, 10, 10, 0.5 + 0.01 * i, 0, 0, 0] for i in range(10)]
    cfg = NmsConfig(conf_threshold=0.25, iou_threshold=0.5, max_detections=5)
    xyxy, score, _cls = postprocess_one(_raw(rows), lb, cfg)
    assert len(xyxy) == 5
    np.testing.assert_allclose(xyxy[0], [270, 130, 370, 230], atol=1e-3)
    assert np.all(np.diff(score) <= 0)


def test_postprocess_batch_checks_lengths():
    lb, _, _ = letterbox_params((360, 640))
    with pytest.raises(ValueError, match="predictions"):
        postprocess(np.zeros((2, 8, 10), np.float32), [lb], NmsConfig())


def test_pack_unpack_round_trip_and_size_budget():
    xyxy, score, cls = random_boxes(50, 0)
    det, num = pack_detections(xyxy, score, cls, 100)
    assert det.shape == (100, 6) and det.dtype == np.float32 and num.tolist() == [50]
    assert det.nbytes + num.nbytes < 4096
    assert not det[50:].any()
    x2, s2, c2 = unpack_detections(det, num)
    np.testing.assert_array_equal(x2, xyxy)
    np.testing.assert_array_equal(s2, score)
    np.testing.assert_array_equal(c2, cls)


def test_pack_refuses_overflow_and_unpack_refuses_bad_count():
    xyxy, score, cls = random_boxes(5, 0)
    with pytest.raises(ValueError, match="do not fit"):
        pack_detections(xyxy, score, cls, 4)
    det, _ = pack_detections(xyxy, score, cls, 5)
    with pytest.raises(ValueError, match="outside"):
        unpack_detections(det, 6)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"conf_threshold": "1.5"}, "conf_threshold"),
        ({"iou_threshold": "-0.1"}, "iou_threshold"),
        ({"max_detections": "0"}, "max_detections"),
    ],
)
def test_nms_config_validates_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        NmsConfig.from_parameters(params)


def test_nms_config_from_parameters_reads_strings():
    cfg = NmsConfig.from_parameters(
        {"conf_threshold": "0.4", "iou_threshold": "0.5", "max_detections": "50"}
    )
    assert cfg == NmsConfig(0.4, 0.5, 50)


@pytest.mark.parametrize(
    ("hw", "anchors"),
    [
        ((544, 960), 68 * 120 + 34 * 60 + 17 * 30),
        ((384, 640), 5040),
        ((256, 416), 2184),
        ((640, 640), 8400),
    ],
)
def test_anchor_count_is_one_per_cell_of_the_three_heads(hw, anchors):
    assert anchor_count(hw) == anchors


def test_anchor_count_rejects_a_size_off_the_stride():
    with pytest.raises(ValueError, match="stride 32"):
        anchor_count((360, 640))
