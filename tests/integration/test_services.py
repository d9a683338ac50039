"""The local services are real: PostgreSQL COPY, InfluxDB, Redis, the broker,
and the manager's behaviour a new user runs into (busy port, idempotent up,
clean down)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from itscam.clients.influx import InfluxClient, point
from itscam.clients.postgres import connect, copy_rows, ensure_partitions
from itscam.clients.redis import StateStore
from itscam.errors import ServiceError
from itscam.services.manager import ServiceManager, group_alive
from itscam.settings import Settings
from streaming.sinks import DETECTION_COLUMNS

pytestmark = pytest.mark.integration


def test_postgres_copy_is_idempotent_and_queryable(services: Settings) -> None:
    run = uuid.uuid4().hex
    t0 = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (
            "cam-x",
            t0 + timedelta(milliseconds=100 * i),
            i,
            0,
            0,
            "car",
            0.9,
            1.0,
            2.0,
            30.0,
            40.0,
            None,
            run,
        )
        for i in range(500)
    ]
    cols = DETECTION_COLUMNS
    with connect(services) as conn:
        ensure_partitions(conn, "analytics.vehicle_detections", rows[0][1], rows[-1][1])
        assert copy_rows(conn, "analytics.vehicle_detections", cols, rows) == 500
        conn.commit()
        # A replay of the same batch adds nothing.
        assert copy_rows(conn, "analytics.vehicle_detections", cols, rows) == 0
        conn.commit()
        n, mean_x2 = conn.execute(
            "SELECT count(*), avg(x2) FROM analytics.vehicle_detections WHERE run_id = %s", (run,)
        ).fetchone()
    assert n == 500
    assert mean_x2 == pytest.approx(30.0)


def test_partitions_are_created_for_any_time_span(services: Settings) -> None:
    far = datetime(2031, 3, 1, 5, 30, tzinfo=UTC)
    with connect(services) as conn:
        ensure_partitions(conn, "analytics.crossings", far, far + timedelta(days=2))
        conn.commit()
        names = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'analytics.crossings'::regclass"
            )
        }
    assert {"crossings_p20310301", "crossings_p20310302", "crossings_p20310303"} <= names


def test_influx_write_then_read(services: Settings) -> None:
    client = InfluxClient(services)
    client.ensure_database()
    tag = uuid.uuid4().hex[:8]
    now_ns = int(datetime.now(UTC).timestamp() * 1e9)
    sent = client.write(
        point("camera_metrics", {"camera_id": tag}, {"fps": 9.5 + i, "frames": i}, now_ns + i)
        for i in range(3)
    )
    assert sent == 3
    series = client.query(
        f"SELECT count(fps), max(fps) FROM camera_metrics WHERE camera_id = '{tag}'"
    )
    assert series and series[0]["values"][0][1:] == [3, 11.5]


def test_redis_round_trip(services: Settings) -> None:
    store = StateStore(services)
    assert store.ping()
    cam = f"cam-{uuid.uuid4().hex[:6]}"
    store.put_camera_state(cam, {"fps": 10.0, "tracks": 3, "last_seen": "2026-11-26T12:00:00Z"})
    assert store.get_camera_state(cam) == {
        "fps": 10.0,
        "tracks": 3,
        "last_seen": "2026-11-26T12:00:00Z",
    }
    assert cam in store.cameras()


def test_broker_produce_consume(services: Settings) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"itscam.test.{uuid.uuid4().hex[:8]}"

    async def go() -> list[tuple[bytes, bytes]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_servers)
        await admin.start()
        await admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
        await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=services.kafka_servers, enable_idempotence=True
        )
        await producer.start()
        for i in range(20):
            await producer.send(
                topic,
                key=f"cam-{i % 3}".encode(),
                value=f"frame-{i}".encode(),
                headers=[("ce_type", b"ai.itscam.frame.v1")],
            )
        await producer.flush()
        await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=services.kafka_servers,
            auto_offset_reset="earliest",
            group_id=f"g-{topic}",
        )
        await consumer.start()
        got: list[tuple[bytes, bytes]] = []
        try:
            async with asyncio.timeout(20):
                while len(got) < 20:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        got += [(r.key, r.value) for r in records]
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(go())
    assert sorted(v for _, v in got) == sorted(f"frame-{i}".encode() for i in range(20))
    # Per-camera order is kept (same key -> same partition).
    for cam in (b"cam-0", b"cam-1", b"cam-2"):
        seq = [int(v.split(b"-")[1]) for k, v in got if k == cam]
        assert seq == sorted(seq)


def test_up_is_idempotent(services: Settings, service_manager: ServiceManager) -> None:
    before = {st.name: st.pid for st in service_manager.status() if st.running}
    service_manager.up(["postgres", "kafka", "redis", "influxdb"])
    after = {st.name: st.pid for st in service_manager.status() if st.running}
    assert before == after


@pytest.fixture
def own_state(settings: Settings):
    """A fresh state directory the unprivileged service user can reach."""
    import shutil

    path = settings.state_dir / f"tmp-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_busy_port_gives_a_clear_error(own_state, settings: Settings) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        mgr = ServiceManager(
            settings.model_copy(update={"state_dir": own_state, "redis_port": port})
        )
        with pytest.raises(ServiceError) as err:
            mgr.up(["redis"])
    msg = str(err.value)
    assert (
        f"port {port}" in msg
        and "redis" in msg
        and "ITSCAM_REDIS_PORT" in msg
        and "redis.log" in msg
    )
    assert mgr.running() == []


def test_down_leaves_no_process(own_state, settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mgr = ServiceManager(settings.model_copy(update={"state_dir": own_state, "redis_port": port}))
    mgr.up(["redis"])
    pid = next(st.pid for st in mgr.status() if st.name == "redis")
    assert pid
    assert mgr.down() == ["redis"]
    assert not group_alive(pid)
    assert mgr.running() == []


def test_local_services_stops_only_what_it_started(own_state, settings: Settings) -> None:
    from itscam.services.manager import local_services

    s = settings.model_copy(
        update={
            "state_dir": own_state,
            "inference_backend": "onnxruntime",
            "kafka_port": settings.kafka_port + 100,
            "postgres_port": settings.postgres_port + 100,
            "influx_port": settings.influx_port + 100,
            "redis_port": settings.redis_port + 100,
        }
    )
    mgr = ServiceManager(s)
    mgr.up(["redis"])  # already running before: must survive the block
    try:
        with local_services(s) as started:
            assert sorted(started) == ["influxdb", "kafka", "postgres"]
            with connect(s) as conn:
                assert conn.execute("SELECT count(*) FROM ops.schema_migrations").fetchone()[0] >= 1
        assert mgr.running() == ["redis"]
    finally:
        mgr.down()
