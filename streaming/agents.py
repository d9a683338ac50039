"""Faust agents: detect_vehicles (inference and analysis), sink_detections, sink_analytics.

The agents are thin: each takes a time-bounded micro-batch of *events*
(:func:`streaming.batching.event_batches`: the raw bytes plus headers and
offsets) and hands it to a processor in :mod:`streaming.processing`. A batch
is acked only after the loop body has finished with it, so a sink's offsets
are committed only after its database transaction commits.

Backpressure: one micro-batch in flight per agent and a small stream buffer
(``stream_buffer_maxsize`` in :mod:`streaming.app`); when inference or the
database is slow, Faust stops fetching instead of queueing without bound.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError

from streaming.app import app
from streaming.batching import event_batches, pipelined_batches
from streaming.processing import CHANGELOG_CONFIGS, Runtime
from streaming.topics import (
    camera_health_topic,
    counts_1m_topic,
    crossings_topic,
    detections_topic,
    events_topic,
    frames_topic,
)
from streaming.watchdog import EXIT_STALLED, consumer_state

log = logging.getLogger(__name__)

_settings = app.itscam_settings  # type: ignore[attr-defined]
#: Frames per detect micro-batch, the most it waits to fill one (seconds), and
#: how many batches are in flight (``ITSCAM_DETECT_BATCH``, ``ITSCAM_DETECT_WITHIN_S``,
#: ``ITSCAM_DETECT_DEPTH``; validated by :class:`itscam.settings.Settings`).
DETECT_BATCH = _settings.detect_batch
DETECT_WITHIN = _settings.detect_within_s
DETECT_DEPTH = _settings.detect_depth
SINK_BATCH, SINK_WITHIN = 4000, 0.5

analyzer_state_table = app.Table(
    "analyzer_state",
    key_type=bytes,
    value_type=bytes,
    partitions=app.itscam_settings.kafka_partitions,  # type: ignore[attr-defined]
    # Key the changelog with the producer's partitioner: the same partition as
    # the camera's frames, whichever event of a micro-batch is current.
    use_partitioner=True,
    # Compacted as Faust makes it, and "delete" too with no retention limit, which
    # deletes nothing by itself but lets Kafka's DeleteRecords purge superseded
    # checkpoints on a broker that does not compact (ITSCAM_CHECKPOINT_PURGE_S).
    extra_topic_configs=CHANGELOG_CONFIGS,
)


class CheckpointTable:
    """The analyser checkpoints: the Faust table, written to an explicit changelog partition.

    ``send(key, value, partition)`` writes a checkpoint to the changelog partition
    of the camera's frames (co-partitioned) once the outputs it reflects are
    delivered; ``keep(key, value)`` then stores it in the worker's table (which
    so only ever holds durable checkpoints). Faust's ``use_partitioner`` path asks the producer's metadata for
    the changelog topic's partitions, which a fresh producer may not have
    fetched yet (the agent then crashed in a loop with ``'NoneType' object is
    not iterable``).
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes) -> bytes | None:
        return self.table.get(key)

    def keep(self, key: bytes, value: bytes) -> None:
        self.table.data[key] = value

    def send(self, key: bytes, value: bytes, partition: int) -> Any:
        """Send to the changelog; returns the delivery future (awaitable)."""
        return self.table.send_changelog(partition, key, value)

    def items(self) -> Any:
        """The checkpoints held: the latest of each camera in this worker's partitions."""
        return list(self.table.data.items())

    @property
    def topic(self) -> str:
        """The changelog topic's name."""
        return str(self.table.changelog_topic.get_topic_name())


runtime = Runtime(
    app.itscam_settings,  # type: ignore[attr-defined]
    state_table=CheckpointTable(analyzer_state_table),
)
# No eager start-up preload: one (commit 5df950f) made the worker lose the first frame of a
# camera registered after start in CI (the e2e test inferred 29 of 30), most likely through
# the recovery-window race that streaming.consumer_fixes now fixes; loading stays lazy.


@app.agent(frames_topic)
async def detect_vehicles(stream):  # type: ignore[no-untyped-def]
    """JPEG frames -> detections records, and per-camera tracking and analysis of them ->
    crossings, minute counts, events (micro-batched inference, the next batch inferred
    while the previous one's detections are produced and analysed)."""
    await pipelined_batches(
        stream,
        DETECT_BATCH,
        DETECT_WITHIN,
        start=runtime.frames.start,
        finish=runtime.frames.finish,
        depth=DETECT_DEPTH,
    )


@app.agent(detections_topic)
async def sink_detections(stream):  # type: ignore[no-untyped-def]
    """Detections -> frame_metadata + vehicle_detections (COPY) and InfluxDB metrics."""
    async for events in event_batches(stream, SINK_BATCH, within=SINK_WITHIN):
        await runtime.sink.process_detections(events)


@app.agent(
    app.topic(
        crossings_topic.get_topic_name(),
        counts_1m_topic.get_topic_name(),
        events_topic.get_topic_name(),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
)
async def sink_analytics(stream):  # type: ignore[no-untyped-def]
    """Crossings, 1-minute counts and events -> PostgreSQL (idempotent COPY)."""
    async for events in event_batches(stream, SINK_BATCH, within=SINK_WITHIN):
        await runtime.sink.process_analytics(events)


@app.agent(camera_health_topic)
async def track_camera_health(stream):  # type: ignore[no-untyped-def]
    """Ingest heartbeats -> latest ingest state per camera in Redis."""
    async for events in event_batches(stream, SINK_BATCH, within=1.0):
        await runtime.sink.process_health(events, runtime.state_sink)


@app.timer(interval=15.0)
async def report_lag() -> None:
    """Consumer lag per topic for Prometheus (KEDA scales on the broker's own figure);
    a worker whose partitions' offsets stand still under lag for ``ITSCAM_STALL_EXIT_S``
    exits (see :mod:`streaming.watchdog`)."""
    try:
        stalled = await runtime.update_lag(app.assignor.assigned_actives)
    except Exception as exc:  # metrics must never stop the worker
        log.warning("lag not measured: %s", exc)
        return
    if runtime.watchdog.diagnose(stalled):
        topics = {t.get_topic_name() for t in (frames_topic, detections_topic, crossings_topic)}
        log.warning(
            "no offset of this worker's partitions committed for %.0f s while records wait;"
            " consumer state: %s",
            stalled,
            json.dumps(consumer_state(app, topics), default=str),
        )
    if runtime.watchdog.stalled(stalled):
        if runtime.sink.retrying:  # a database outage: waiting for it is the plan
            log.warning(
                "offsets stand still for %.0f s while PostgreSQL writes are retried", stalled
            )
            return
        log.error(
            "no offset of this worker's partitions has been committed for %.0f s while "
            "records wait (ITSCAM_STALL_EXIT_S=%.0f): exiting with status %d to be "
            "restarted",
            stalled,
            runtime.watchdog.stall_s,
            EXIT_STALLED,
        )
        logging.shutdown()
        os._exit(EXIT_STALLED)


def _owned_frames_partitions() -> set[int]:
    frames = frames_topic.get_topic_name()
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == frames}


runtime.analysis.owns = lambda partition: partition in _owned_frames_partitions()


async def _purge(what: str, purge: Callable[[set[int]], Awaitable[int]], every_s: float) -> None:
    """One housekeeping purge over this worker's partitions (``every_s`` 0 = off)."""
    if not every_s:
        return
    try:
        await purge(_owned_frames_partitions())
    except KafkaError as exc:
        if not exc.retriable:
            log.warning("%s not purged: %s", what, exc)
            return
        # A fresh worker's admin client can ask a broker it has no connection to yet
        # (NodeNotReadyError); the next tick tries again, which is all a retry would do.
        log.info("%s not purged yet (%s): trying again in %.0f s", what, exc, every_s)
    except Exception as exc:  # housekeeping must never stop the worker
        log.warning("%s not purged: %s", what, exc)


@app.timer(interval=_settings.frames_purge_s or 3600.0)
async def purge_consumed_frames() -> None:
    """Consumed frames out of the local broker's log (``ITSCAM_FRAMES_PURGE_S``, 0 = off)."""
    await _purge("consumed frames", runtime.purge_frames, _settings.frames_purge_s)


@app.timer(interval=_settings.checkpoint_purge_s or 3600.0)
async def purge_superseded_checkpoints() -> None:
    """Superseded analyser checkpoints out of the local broker's changelog
    (``ITSCAM_CHECKPOINT_PURGE_S``, 0 = off: production Kafka compacts the topic)."""
    await _purge("superseded checkpoints", runtime.purge_checkpoints, _settings.checkpoint_purge_s)


@app.timer(interval=5.0)
async def flush_idle_cameras() -> None:
    """Live cameras that went quiet: close their minutes, detect camera offline."""
    await runtime.analysis.tick(time.time(), _owned_frames_partitions().__contains__)


@app.timer(interval=2.0)
async def flush_held_metrics() -> None:
    """InfluxDB points and Redis state held back by an outage go out once it is over,
    also when no new write arrives to start a flush (an idle worker)."""
    runtime.sink.metrics_sink.poke()
    runtime.state_sink.poke()


@app.task
async def _serve_metrics() -> None:
    runtime.start_metrics()
