from __future__ import annotations

import numpy as np
import pytest

from itscam.domain.detections import Detections
from itscam.errors import ModelError
from itscam.inference import DetectionError
from itscam.inference.inprocess import OnnxRuntimeDetector, model_path
from itscam.vision import decode_image, letterbox
from tests.unit.inference.factories import EQUALITY_SIZES, ultralytics_nms
from tests.unit.inference.reference import assert_same_detections, reference_decode
from tests.unit.vision.factories import encode, make_frame, make_jpeg, truncate


def _raw(det: OnnxRuntimeDetector, data: bytes):
    tensor, lb = letterbox(decode_image(data))
    return det.run_raw(tensor[None])[0], lb


@pytest.mark.parametrize(("width", "height"), EQUALITY_SIZES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_in_process_detections_equal_an_independent_reference_decode(
    ort_detector, distinct_scores, width, height, seed
):
    data = make_jpeg(width, height, seed)
    (ours,) = ort_detector.detect_sync([data])
    assert isinstance(ours, Detections)
    raw, _ = _raw(ort_detector, data)
    cfg = ort_detector.nms
    ref = reference_decode(
        raw, (height, width), cfg.conf_threshold, cfg.iou_threshold, cfg.max_detections
    )
    assert len(ours) > 0
    assert_same_detections((ours.xyxy, ours.confidence, ours.class_id), ref)


def test_postprocess_matches_ultralytics_non_max_suppression(
    ort_detector, distinct_scores, tmp_path
):
    frames = [make_jpeg(640, 360, seed) for seed in range(3)]
    raws = [_raw(ort_detector, f) for f in frames]
    np.save(tmp_path / "raw.npy", np.stack([r for r, _ in raws]))
    cfg = ort_detector.nms
    ultra = ultralytics_nms(
        tmp_path / "raw.npy", cfg.conf_threshold, cfg.iou_threshold, cfg.max_detections
    )
    if ultra is None:
        pytest.skip(".venv-train (Ultralytics) is not installed")
    from itscam.vision import decode_predictions, nms_class_aware

    for (raw, _), theirs in zip(raws, ultra, strict=True):
        xyxy, score, cls = decode_predictions(raw, cfg.conf_threshold)
        keep = nms_class_aware(xyxy, score, cls, cfg.iou_threshold)[: cfg.max_detections]
        assert len(keep) > 0
        theirs = np.asarray(theirs, np.float32).reshape(-1, 6)
        assert_same_detections(
            (xyxy[keep], score[keep], cls[keep]),
            (theirs[:, :4], theirs[:, 4], theirs[:, 5].astype(np.int32)),
        )


def test_truncated_jpeg_in_a_batch_of_8_fails_alone(ort_detector):
    frames = [make_jpeg(640, 360, seed) for seed in range(8)]
    frames[3] = truncate(frames[3], 0.5)
    results = ort_detector.detect_sync(frames)
    assert len(results) == 8
    assert isinstance(results[3], DetectionError) and not results[3].transient
    assert "truncated" in str(results[3])
    ok = [r for i, r in enumerate(results) if i != 3]
    assert all(isinstance(r, Detections) for r in ok)
    alone = ort_detector.detect_sync([frames[0]])[0]
    np.testing.assert_allclose(ok[0].xyxy, alone.xyxy, atol=1e-3)


def test_batches_larger_than_max_batch_give_the_same_results(model_file, nms):
    det = OnnxRuntimeDetector(model_file, nms, max_batch=3)
    frames = [encode(make_frame(640, 360, seed)) for seed in range(7)]
    together = det.detect_sync(frames)
    for frame, batched in zip(frames, together, strict=True):
        (single,) = det.detect_sync([frame])
        assert_same_detections(
            (batched.xyxy, batched.confidence, batched.class_id),
            (single.xyxy, single.confidence, single.class_id),
        )


async def test_async_detect_of_nothing_is_empty(ort_detector):
    assert await ort_detector.detect([]) == []


def test_missing_model_is_a_model_error_that_says_what_to_do(tmp_path):
    with pytest.raises(ModelError, match="itscam model install"):
        OnnxRuntimeDetector(tmp_path / "nope.onnx")


def test_invalid_model_file_is_a_model_error(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxRuntimeDetector(bad)


def test_model_path_picks_the_highest_version_with_a_model(tmp_path):
    for version in ("1", "3", "10"):
        (tmp_path / "yolo11n" / version).mkdir(parents=True)
    (tmp_path / "yolo11n/1/model.onnx").write_bytes(b"x")
    (tmp_path / "yolo11n/3/model.onnx").write_bytes(b"x")
    assert model_path(tmp_path) == tmp_path / "yolo11n/3/model.onnx"
    assert model_path(tmp_path, "10") == tmp_path / "yolo11n/10/model.onnx"


def test_model_version_names_the_version_directory_and_the_file_hash(tmp_path, model_file):
    import hashlib

    target = tmp_path / "yolo11n" / "3" / "model.onnx"
    target.parent.mkdir(parents=True)
    target.write_bytes(model_file.read_bytes())
    digest = hashlib.sha256(target.read_bytes()).hexdigest()[:12]
    assert OnnxRuntimeDetector(target).model_version == f"onnxruntime:yolo11n/3@{digest}"


def test_a_model_exported_at_another_input_size_is_a_model_error_that_says_to_reexport():
    from tests.unit.inference.factories import fixed_size_model

    old_size = fixed_size_model((256, 416))  # a size served before INPUT_HW became 544x960
    if old_size is None:
        pytest.skip(".venv-train is absent: cannot export a model at another size")
    with pytest.raises(ModelError, match=r"256x416 .* serves 544x960.*itscam model install"):
        OnnxRuntimeDetector(old_size)
    # Asked for its own size explicitly, the same file loads (the check is not a blanket refusal).
    assert OnnxRuntimeDetector(old_size, input_hw=(256, 416)).input_hw == (256, 416)
