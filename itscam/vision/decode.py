"""Decoding of encoded frames (JPEG or PNG bytes) to BGR pixels, with integrity checks.

libjpeg "decodes" a truncated JPEG: it warns on stderr and fills the missing
rows with grey, so ``cv2.imdecode`` alone would hand a half-grey frame to the
detector. A frame is therefore checked for its end marker before decoding.
"""

from __future__ import annotations

import cv2
import numpy as np

from itscam.errors import DataError

_JPEG_SOI = b"\xff\xd8"
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND"


def _check_complete(data: bytes) -> None:
    """Raise :class:`DataError` unless ``data`` is a complete JPEG or PNG stream."""
    if data.startswith(_JPEG_SOI):
        # Entropy-coded data byte-stuffs 0xFF as FF00, so an EOI marker can only
        # follow the last scan if the stream is complete (an EXIF thumbnail's
        # own EOI comes *before* the main image's scans).
        sos = data.rfind(_JPEG_SOS)
        eoi = data.rfind(_JPEG_EOI)
        if sos < 0 or eoi < sos:
            raise DataError(
                f"JPEG of {len(data)} bytes is truncated (no end-of-image marker after its "
                "last scan); the camera or the network cut the frame short. Re-send a complete frame."
            )
    elif data.startswith(_PNG_SIGNATURE):
        if data.rfind(_PNG_IEND) < 0:
            raise DataError(
                f"PNG of {len(data)} bytes is truncated (no IEND chunk). Re-send a complete frame."
            )
    else:
        head = data[:8].hex(" ")
        raise DataError(
            f"Frame of {len(data)} bytes is neither JPEG nor PNG (first bytes: {head or 'none'}); "
            "send JPEG- or PNG-encoded images."
        )


def decode_image(data: bytes | np.ndarray) -> np.ndarray:
    """Decode one encoded frame.

    Args:
        data: JPEG or PNG bytes (``bytes`` or a 1-D ``uint8`` array).

    Returns:
        ``(H, W, 3)`` BGR ``uint8`` array.

    Raises:
        DataError: the bytes are not a complete, decodable JPEG/PNG image.
    """
    raw = (
        bytes(data)
        if isinstance(data, bytes | bytearray)
        else (np.ascontiguousarray(data, dtype=np.uint8).reshape(-1).tobytes())
    )
    _check_complete(raw)
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(
            f"Image of {len(raw)} bytes could not be decoded (corrupt JPEG/PNG data); "
            "check the camera's encoder."
        )
    return image
