"""Kafka client helpers shared by streaming and platform code.

One place for: the topic list and its partition counts, explicit topic
creation (auto-created topics get one partition, and Faust tables then fail
with PartitionsMismatch), an idempotent batching producer, and consumer-group
lag (the autoscaling signal, and how a run knows its frames are all processed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from itscam.errors import ServiceError
from itscam.settings import Settings

_FETCH_BACKOFF = {"s": 0.0, "installed": False}


def install_empty_fetch_backoff(seconds: float) -> None:
    """Make every aiokafka consumer in this process pause ``seconds`` after an empty fetch.

    Kafka holds a fetch until data arrives or ``fetch_max_wait_ms`` passes (long
    polling). The local development broker answers at once with nothing, and
    aiokafka's fetcher then sends the next request straight away: an idle
    consumer spun ~0.9 of a CPU core (measured: 0.90 -> 0.05 with a 10 ms pause),
    and a Faust worker took that core from the detector on a 2-core machine.
    While the pause runs the node keeps its fetch "in flight", so no other fetch
    is sent to it: the same effect as a short long-poll. aiokafka has no setting
    for this, so the fetcher's ``_proc_fetch_request`` is wrapped (once per
    process; a later call only changes the pause; 0 turns it off).
    """
    _FETCH_BACKOFF["s"] = max(0.0, float(seconds))
    if _FETCH_BACKOFF["installed"]:
        return
    from aiokafka.consumer.fetcher import Fetcher

    Fetcher._proc_fetch_request = with_empty_fetch_backoff(  # type: ignore[method-assign]
        Fetcher._proc_fetch_request, lambda: _FETCH_BACKOFF["s"]
    )
    _FETCH_BACKOFF["installed"] = True


def with_empty_fetch_backoff(original, pause_s):  # type: ignore[no-untyped-def]
    """Wrap aiokafka's ``Fetcher._proc_fetch_request`` (returns whether records arrived)
    so that an empty answer is followed by a pause of ``pause_s()`` seconds."""

    async def proc_fetch_request(self, assignment, node_id, request):  # type: ignore[no-untyped-def]
        has_new_data = await original(self, assignment, node_id, request)
        pause = pause_s()
        if not has_new_data and pause > 0:
            try:
                await asyncio.sleep(pause)
            except asyncio.CancelledError:  # close() or unassignment, as in the original
                return False
        return has_new_data

    return proc_fetch_request


#: Every topic of the system, by short name (``settings.topic(name)`` is the full name).
TOPICS: tuple[str, ...] = (
    "frames",
    "detections",
    "crossings",
    "counts_1m",
    "events",
    "camera_health",
    "dead_letter",
)
#: Frames are large and short-lived; everything else is small. Retention in ms.
RETENTION_MS = {"frames": 3_600_000, "detections": 6 * 3_600_000}
DEFAULT_RETENTION_MS = 7 * 86_400_000


def _unreachable(settings: Settings, exc: Exception) -> ServiceError:
    return ServiceError(
        f"Kafka broker at {settings.kafka_servers} cannot be reached ({exc}). Start the local "
        "services with `itscam services up`, or set ITSCAM_KAFKA_BOOTSTRAP to a reachable broker."
    )


async def ensure_topics(
    settings: Settings, names: Iterable[str] = TOPICS, partitions: int | None = None
) -> dict[str, int]:
    """Create the topics (full names from ``settings.topic``) that do not exist yet.

    Returns ``{full_name: partition_count}`` as the broker reports it. An
    existing topic with fewer partitions than asked for is an error (per-camera
    ordering and table co-partitioning depend on the count).
    """
    nparts = partitions or settings.kafka_partitions
    wanted = {settings.topic(n): n for n in names}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers, request_timeout_ms=10_000)
    try:
        await admin.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from None
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                full,
                num_partitions=nparts,
                replication_factor=1,
                topic_configs={"retention.ms": str(RETENTION_MS.get(short, DEFAULT_RETENTION_MS))},
            )
            for full, short in wanted.items()
            if full not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        counts: dict[str, int] = {}
        for desc in await admin.describe_topics(list(wanted)):
            counts[desc["topic"]] = len(desc.get("partitions", []))
    finally:
        await admin.close()
    short_of = {t: c for t, c in counts.items() if c < nparts}
    if short_of:
        raise ServiceError(
            f"Topics {short_of} have fewer partitions than ITSCAM_KAFKA_PARTITIONS={nparts}. "
            "Delete them (they were probably auto-created) or lower the setting."
        )
    return counts


def ensure_topics_sync(
    settings: Settings, names: Iterable[str] = TOPICS, partitions: int | None = None
) -> dict[str, int]:
    return asyncio.run(ensure_topics(settings, names, partitions))


def make_producer(
    settings: Settings, *, linger_ms: int = 5, max_request_size: int = 1_048_576, **kwargs: object
) -> AIOKafkaProducer:
    """Idempotent producer (acks=all, no duplicates on retry) that batches for ``linger_ms``."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        max_request_size=max_request_size,
        max_batch_size=1_048_576,
        request_timeout_ms=30_000,
        **kwargs,  # type: ignore[arg-type]
    )


async def start_producer(settings: Settings, **kwargs: object) -> AIOKafkaProducer:
    producer = make_producer(settings, **kwargs)  # type: ignore[arg-type]
    try:
        await producer.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        await producer.stop()
        raise _unreachable(settings, exc) from None
    return producer


async def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Log-end offset of every partition of ``topics`` (full names)."""
    install_empty_fetch_backoff(settings.kafka_empty_fetch_backoff_ms / 1000)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if parts is None:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(t) or set()
            tps += [TopicPartition(t, p) for p in parts]
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


async def group_offsets(
    settings: Settings, group_id: str, topics: Iterable[str]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """``(committed, ends)``: ``group_id``'s committed offset (0 if none) and the log-end
    offset of every partition of ``topics`` (full names)."""
    ends = await end_offsets(settings, list(topics))
    done = await committed_offsets(settings, group_id)
    return {tp: done.get(tp, 0) for tp in ends}, ends


async def committed_offsets(
    settings: Settings, group_id: str, admin: AIOKafkaAdminClient | None = None
) -> dict[TopicPartition, int]:
    """``group_id``'s committed offset of every partition it has committed (-1 ones left
    out); through ``admin`` when given (a started client, kept open by the caller)."""
    own = admin is None
    if admin is None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        await admin.start()
    try:
        meta = await admin.list_consumer_group_offsets(group_id)
    finally:
        if own:
            await admin.close()
    return {tp: m.offset for tp, m in meta.items() if m is not None and m.offset >= 0}


async def delete_committed(
    settings: Settings,
    admin: AIOKafkaAdminClient,
    group: str,
    topic: str,
    *,
    partitions: set[int] | None = None,
    done: dict[TopicPartition, int] | None = None,
) -> dict[TopicPartition, int]:
    """Kafka DeleteRecords below ``group``'s committed offsets of ``topic`` (only in
    ``partitions`` when given; only where a partition's offset is past ``done[tp]``,
    what an earlier call deleted below). Returns ``{partition: offset deleted below}``."""
    from aiokafka.admin.records_to_delete import RecordsToDelete

    done = done or {}
    todo = {
        tp: off
        for tp, off in (await committed_offsets(settings, group, admin)).items()
        if tp.topic == topic
        and (partitions is None or tp.partition in partitions)
        and off > done.get(tp, 0)
    }
    if todo:
        await admin.delete_records(
            {tp: RecordsToDelete(before_offset=off) for tp, off in todo.items()}
        )
    return todo


def lag_by_topic(
    topics: Iterable[str], committed: dict[TopicPartition, int], ends: dict[TopicPartition, int]
) -> dict[str, int]:
    """Records not yet committed, per topic, from :func:`group_offsets`' answer."""
    lag = dict.fromkeys(topics, 0)
    for tp, end in ends.items():
        lag[tp.topic] += max(0, end - committed[tp])
    return lag


async def group_lag(settings: Settings, group_id: str, topics: Iterable[str]) -> dict[str, int]:
    """Records not yet committed by ``group_id``, per topic (full names)."""
    topics = list(topics)
    committed, ends = await group_offsets(settings, group_id, topics)
    return lag_by_topic(topics, committed, ends)


async def evict_group_members(settings: Settings, group_id: str) -> int:
    """Remove every member from a consumer group (LeaveGroup on their behalf).

    For a group whose workers are known to be gone (crashed, killed): the
    development broker never expires a member that died without leaving, and
    a group whose dead member is the leader never completes a rebalance.
    A live member that is evicted simply rejoins. Returns how many were removed.
    """
    from aiokafka.protocol.group import LeaveGroupRequest

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        await admin.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from None
    try:
        desc = await admin.describe_consumer_groups([group_id])
        members = [m[0] for resp in desc for g in resp.groups for m in g[5]]
        if not members:
            return 0
        node = await admin.find_coordinator(group_id)
        for member_id in members:
            await admin._send_request_to_node(node, LeaveGroupRequest(group_id, member_id))
        return len(members)
    finally:
        await admin.close()


async def group_state(settings: Settings, group_id: str) -> tuple[str, int]:
    """``(state, member count)`` of a consumer group, e.g. ``("Stable", 2)``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        desc = await admin.describe_consumer_groups([group_id])
        g = desc[0].groups[0]
        return str(g[2]), len(g[5])
    finally:
        await admin.close()


async def skip_to_end(settings: Settings, group_id: str, topics: Iterable[str]) -> int:
    """Commit the log-end offsets of ``topics`` for an idle ``group_id``; returns records skipped.

    Only for benchmarks and tests that must start from an empty backlog; a
    group with live members rejects the commit.
    """
    ends = await end_offsets(settings, topics)
    lag = await group_lag(settings, group_id, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        if ends:
            await consumer.commit({tp: off for tp, off in ends.items()})
    finally:
        await consumer.stop()
    return sum(lag.values())
