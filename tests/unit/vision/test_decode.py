from __future__ import annotations

import cv2
import numpy as np
import pytest

from itscam.errors import DataError
from itscam.vision import decode_image
from tests.unit.vision.factories import encode, make_frame, truncate


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_decodes_jpeg_and_png_to_bgr(ext):
    frame = make_frame(320, 180, seed=3)
    out = decode_image(encode(frame, ext))
    assert out.shape == (180, 320, 3) and out.dtype == np.uint8
    if ext == ".png":
        np.testing.assert_array_equal(out, frame)
    else:
        # JPEG drops the per-pixel noise texture; compare local means instead.
        blur = lambda im: cv2.blur(im, (9, 9)).astype(int)  # noqa: E731
        assert np.abs(blur(out) - blur(frame)).mean() < 4


def test_accepts_a_uint8_array():
    data = encode(make_frame(64, 48))
    assert decode_image(np.frombuffer(data, np.uint8)).shape == (48, 64, 3)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_jpeg_is_refused(fraction):
    data = encode(make_frame(320, 180, seed=4))
    with pytest.raises(DataError, match="truncated"):
        decode_image(truncate(data, fraction))


def test_truncated_png_is_refused():
    with pytest.raises(DataError, match="truncated"):
        decode_image(truncate(encode(make_frame(320, 180), ".png"), 0.5))


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x00" * 100, b"GIF89a...."])
def test_non_image_bytes_are_refused(data):
    with pytest.raises(DataError, match="neither JPEG nor PNG"):
        decode_image(data)


def test_corrupt_jpeg_with_markers_is_refused():
    data = encode(make_frame(320, 180))
    sos = data.rfind(b"\xff\xda")
    # Keep the markers but wreck the headers before the scan.
    broken = data[:2] + b"\xff\xc0\x00\x02" + data[sos:]
    with pytest.raises(DataError):
        decode_image(broken)


def test_trailing_bytes_after_end_marker_are_tolerated():
    data = encode(make_frame(64, 48)) + b"\x00\x00camera-trailer"
    assert decode_image(data).shape == (48, 64, 3)
