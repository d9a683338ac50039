"""Topics of the stream processors, with explicit partition counts.

Every topic is keyed by camera id (per-camera order) and carries raw bytes:
frames are JPEG values with CloudEvents headers, the rest are versioned JSON
records decoded by :mod:`streaming.contracts` (no Faust JSON codec, no
per-record model instantiation: that is where a naive agent spends its time).
"""

from __future__ import annotations

import faust

from streaming.app import app


def _topic(short: str, application: faust.App | None = None) -> faust.TopicT:
    application = application or app
    settings = application.itscam_settings  # type: ignore[attr-defined]
    return application.topic(
        settings.topic(short),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.kafka_partitions,
        internal=False,
    )


frames_topic = _topic("frames")
detections_topic = _topic("detections")
crossings_topic = _topic("crossings")
counts_1m_topic = _topic("counts_1m")
events_topic = _topic("events")
camera_health_topic = _topic("camera_health")
dead_letter_topic = _topic("dead_letter")
