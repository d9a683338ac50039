"""Record types of the stream, re-exported for readers who look for ``records``.

The wire formats and their versions are defined in :mod:`streaming.contracts`
(CloudEvents frames, compact JSON records) and documented in ``docs/contracts.md``.
"""

from streaming.contracts import (
    SCHEMA_CAMERA_HEALTH,
    SCHEMA_COUNTS_1M,
    SCHEMA_CROSSING,
    SCHEMA_DEAD_LETTER,
    SCHEMA_DETECTIONS,
    SCHEMA_EVENT,
    Frame,
)

__all__ = [
    "SCHEMA_CAMERA_HEALTH",
    "SCHEMA_COUNTS_1M",
    "SCHEMA_CROSSING",
    "SCHEMA_DEAD_LETTER",
    "SCHEMA_DETECTIONS",
    "SCHEMA_EVENT",
    "Frame",
]
