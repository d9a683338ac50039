"""The one Faust application of the stream processors.

Broker, partition counts and topic names come from :mod:`itscam.settings`
(environment variables ``ITSCAM_*``), so the same code runs on the local
profile and in production. Run a worker with ``python -m streaming worker``
(see :mod:`streaming.__main__`).

Tables live in memory and are rebuilt from their changelog topics on start:
the development broker replays changelogs correctly, and the only table
(analyzer state per camera) is small.
"""

from __future__ import annotations

import os

import faust

from itscam.clients.kafka import install_empty_fetch_backoff
from itscam.settings import Settings, get_settings
from streaming import consumer_fixes

APP_ID = "itscam-streaming"


def create_app(settings: Settings | None = None, *, app_id: str = APP_ID) -> faust.App:
    """A Faust app bound to ``settings`` (its broker, partitions and topic prefix).

    ``ITSCAM_WORKER_INSTANCE`` (e.g. a StatefulSet pod name) makes the worker a
    *static* group member (KIP-345): restarted after a crash, it takes over its
    old membership at once instead of waiting for the session to expire. Local
    runs leave it unset: static members do not leave the group when stopped.
    """
    settings = settings or get_settings()
    install_empty_fetch_backoff(settings.kafka_empty_fetch_backoff_ms / 1000)
    consumer_fixes.install()  # records of never-committed partitions lost at start
    instance = os.environ.get("ITSCAM_WORKER_INSTANCE") or None
    brokers = ";".join(f"kafka://{s.strip()}" for s in settings.kafka_servers.split(","))
    app = faust.App(
        app_id,
        broker=brokers,
        store="memory://",
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        web_bind="127.0.0.1",
        # Backpressure: Faust pauses fetching from a partition whose buffer is
        # full. Frames are ~30 kB each, so keep the buffer small.
        stream_buffer_maxsize=256,
        broker_commit_interval=1.0,
        producer_linger_ms=5,
        producer_max_request_size=1_048_576,
        producer_acks=-1,
        table_standby_replicas=0,
        # A crashed worker's partitions move on after ~10 s instead of the default 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=20.0,
        broker_request_timeout=90.0,
        worker_redirect_stdouts=False,
        datadir=str(settings.state_dir / "faust"),
        consumer_group_instance_id=instance,
    )
    app.itscam_settings = settings  # type: ignore[attr-defined]
    return app


app = create_app()
