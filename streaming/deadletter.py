"""Send a record that breaks its contract to the dead-letter topic, and keep going.

The dead letter is the original record verbatim (key, value bytes, headers)
plus ``dlq_*`` headers: reason, detail, source topic/partition/offset, time.
A value too large for the broker is cut to its first 64 KiB and marked
``dlq_truncated`` so the reason is never lost.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from streaming import metrics
from streaming.contracts import MAX_FRAME_BYTES, dead_letter_headers

log = logging.getLogger(__name__)
_TRUNCATE_TO = 65_536


async def send_dead_letter(
    topic: Any,
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Any,
    reason: str,
    detail: str,
    source_topic: str,
    partition: int,
    offset: int,
) -> None:
    """Produce one dead letter to ``topic`` (a Faust topic) without awaiting delivery."""
    hdrs = dead_letter_headers(
        reason,
        detail,
        topic=source_topic,
        partition=partition,
        offset=offset,
        original=headers,
        now_us=int(time.time() * 1e6),
    )
    value = value or b""
    if len(value) > MAX_FRAME_BYTES - 16_384:
        hdrs.append(("dlq_truncated", str(len(value)).encode()))
        value = value[:_TRUNCATE_TO]
    metrics.DEAD_LETTERS.labels(reason).inc()
    log.info("dead letter %s from %s[%d]@%d: %s", reason, source_topic, partition, offset, detail)
    await topic.send(key=key, value=value, headers=hdrs)


async def dead_letter_event(topic: Any, event: Any, reason: str, detail: str) -> None:
    """Dead-letter a Faust event (its message keeps the original bytes and headers)."""
    msg = event.message
    await send_dead_letter(
        topic,
        key=msg.key,
        value=msg.value,
        headers=msg.headers,
        reason=reason,
        detail=detail,
        source_topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
    )
