from __future__ import annotations

import numpy as np
import pytest

from itscam.vision import (
    INPUT_HW,
    PAD_VALUE,
    Letterbox,
    letterbox,
    letterbox_params,
    scale_input,
    undo_letterbox,
)
from tests.unit.vision.factories import make_frame

#: The first table is worked out by hand for the size served before (384x640); the
#: arithmetic does not depend on the size, so it stays as a second worked example.
OLD_HW = (384, 640)


@pytest.mark.parametrize(
    ("input_hw", "orig_hw", "scale", "new_hw", "pads"),
    [
        # (h, w) -> gain, resized (h, w), (top, bottom, left, right)
        (OLD_HW, (360, 640), 1.0, (360, 640), (12, 12, 0, 0)),
        (OLD_HW, (1080, 1920), 640 / 1920, (360, 640), (12, 12, 0, 0)),
        (OLD_HW, (720, 1280), 0.5, (360, 640), (12, 12, 0, 0)),
        (OLD_HW, (272, 640), 1.0, (272, 640), (56, 56, 0, 0)),
        (OLD_HW, (271, 640), 1.0, (271, 640), (56, 57, 0, 0)),  # odd pad: extra row at the bottom
        (OLD_HW, (384, 640), 1.0, (384, 640), (0, 0, 0, 0)),
        (OLD_HW, (640, 360), 0.6, (384, 216), (0, 0, 212, 212)),
        (OLD_HW, (192, 320), 2.0, (384, 640), (0, 0, 0, 0)),
        (OLD_HW, (1, 1), 384.0, (384, 384), (0, 0, 128, 128)),
        # The served size, INPUT_HW 544x960: 16:9 frames scale by 1.5 (or down to 960 wide).
        (INPUT_HW, (360, 640), 1.5, (540, 960), (2, 2, 0, 0)),
        (INPUT_HW, (1080, 1920), 0.5, (540, 960), (2, 2, 0, 0)),
        (INPUT_HW, (720, 1280), 0.75, (540, 960), (2, 2, 0, 0)),
        (INPUT_HW, (272, 640), 1.5, (408, 960), (68, 68, 0, 0)),
        (INPUT_HW, (270, 640), 1.5, (405, 960), (69, 70, 0, 0)),  # odd pad
        (INPUT_HW, (544, 960), 1.0, (544, 960), (0, 0, 0, 0)),
        (INPUT_HW, (640, 360), 0.85, (544, 306), (0, 0, 327, 327)),
        (INPUT_HW, (1, 1), 544.0, (544, 544), (0, 0, 208, 208)),
    ],
)
def test_letterbox_params_table(input_hw, orig_hw, scale, new_hw, pads):
    assert INPUT_HW == (544, 960)  # the second half of the table is worked out for this size
    lb, resized_hw, pad = letterbox_params(orig_hw, input_hw)
    assert lb.scale == pytest.approx(scale)
    assert resized_hw == new_hw
    assert pad == pads
    top, bottom, left, right = pad
    assert top + bottom + new_hw[0] == input_hw[0]
    assert left + right + new_hw[1] == input_hw[1]
    assert (lb.pad_x, lb.pad_y) == (left, top)


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-1, 5)])
def test_letterbox_params_rejects_empty_images(size):
    with pytest.raises(ValueError, match="positive"):
        letterbox_params(size)


def test_letterbox_tensor_layout_rgb_and_padding():
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[..., 0] = 255  # pure blue in BGR
    tensor, lb = letterbox(frame)
    assert tensor.shape == (3, *INPUT_HW) and tensor.dtype == np.float32
    top = int(lb.pad_y)
    assert top == 2  # 360 rows scaled by 1.5 to 540, centred in 544
    inside = tensor[:, top : top + 540, :]
    np.testing.assert_allclose(inside[2], 1.0)  # blue lands in the RGB tensor's last channel
    np.testing.assert_allclose(inside[:2], 0.0)
    np.testing.assert_allclose(tensor[:, :top, :], PAD_VALUE / 255, rtol=1e-6)
    np.testing.assert_allclose(tensor[:, top + 540 :, :], PAD_VALUE / 255, rtol=1e-6)


@pytest.mark.parametrize("size", [(640, 360), (1280, 720), (360, 640), (960, 544)])
def test_uint8_tensors_scale_to_exactly_the_float_tensors(size):
    """Triton's local profile passes the input as uint8 and scales it in the detector
    model: the detector must see the very same floats as the in-process path."""
    every_level = np.random.default_rng(9).integers(0, 256, (size[1], size[0], 3), np.uint8)
    frames = [make_frame(*size, seed=0), make_frame(*size, seed=1), every_level]
    floats = [letterbox(f)[0] for f in frames]
    ints = [letterbox(f, scaled=False) for f in frames]
    assert all(t.dtype == np.uint8 and t.shape == (3, *INPUT_HW) for t, _ in ints)
    assert all(lb == letterbox(f)[1] for f, (_, lb) in zip(frames, ints, strict=True))
    # Batched as the detector model receives them: requests of 2 and 1 frames.
    batch = scale_input([np.stack([ints[0][0], ints[1][0]]), ints[2][0][None]])
    assert batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack(floats))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 4), np.uint8),
    ],
)
def test_letterbox_rejects_non_bgr_uint8(bad):
    with pytest.raises(ValueError, match="uint8 BGR"):
        letterbox(bad)


@pytest.mark.parametrize("orig_hw", [(360, 640), (1080, 1920), (640, 360), (272, 640), (384, 640)])
def test_box_round_trip_through_letterbox(orig_hw):
    h, w = orig_hw
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, [w * 0.8, h * 0.8], size=(50, 2))
    wh = rng.uniform(1, [w * 0.2, h * 0.2], size=(50, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    lb, _, _ = letterbox_params(orig_hw)
    to_input = boxes * lb.scale + np.array([lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y], np.float32)
    np.testing.assert_allclose(
        undo_letterbox(to_input, lb), boxes, atol=1e-3 * max(h, w) / INPUT_HW[1]
    )


def test_undo_letterbox_clips_to_the_frame():
    lb, _, _ = letterbox_params((360, 640))
    in_h, in_w = INPUT_HW
    out = undo_letterbox(
        np.array([[-50, -5, in_w + 50, in_h + 5]], np.float32), lb
    )  # past every edge
    assert out[0, 0] == 0 and out[0, 1] == 0
    assert out[0, 2] == 640 and out[0, 3] == 360


def test_undo_letterbox_of_no_boxes_is_empty():
    lb, _, _ = letterbox_params((360, 640))
    assert undo_letterbox(np.zeros((0, 4), np.float32), lb).shape == (0, 4)


def test_content_lands_where_the_mapping_says():
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[100:200, 300:400] = 255
    tensor, lb = letterbox(frame)
    ys, xs = np.nonzero(tensor[0] > 0.5)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    # Bilinear resampling blurs the edges by up to a pixel of the input.
    np.testing.assert_allclose(
        undo_letterbox(found, lb), [[300, 100, 400, 200]], atol=1.6 / lb.scale
    )


def test_letterbox_tensor_round_trips_through_array():
    _, lb = letterbox(make_frame(640, 360))
    assert Letterbox.from_array(lb.as_array()) == lb
    with pytest.raises(ValueError, match="5 values"):
        Letterbox.from_array(np.zeros(4))
