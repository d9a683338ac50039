"""The worker's best-effort sinks while the real InfluxDB and Redis are stopped and started again."""

from __future__ import annotations

import time
import uuid

import pytest

from itscam.services.manager import ServiceManager
from itscam.settings import Settings
from streaming.sinks import MetricsSink, RetryGate, StateSink

pytestmark = pytest.mark.integration


def test_metrics_and_latest_state_outlast_an_influxdb_and_redis_outage(
    services: Settings, service_manager: ServiceManager
) -> None:
    from itscam.clients.influx import InfluxClient, point
    from itscam.clients.redis import StateStore

    settings = services
    influx = InfluxClient(settings)
    influx.ensure_database()
    cam = f"outage-{uuid.uuid4().hex[:8]}"
    t0 = time.time_ns() - 60 * 10**9

    def batch(k: int) -> list:
        return [point("camera_stream", {"camera_id": cam}, {"frames": k}, t0 + k * 10**9)]

    # No pause between tries, so the first write after the restart goes through.
    metrics = MetricsSink(
        settings, retry=RetryGate("InfluxDB write", first_s=0.0), background=False
    )
    state = StateSink(settings, retry=RetryGate("Redis write", first_s=0.0), background=False)
    metrics.write(batch(0))
    state.put({cam: {"vehicles": 1, "los": "A"}})
    service_manager.down(["influxdb", "redis"])
    try:
        metrics.write(batch(1))
        metrics.write(batch(2))
        state.put({cam: {"vehicles": 4}})
        assert metrics.pending == 2 and metrics.retry.failing
        assert state.pending == {cam: {"vehicles": 4}} and state.retry.failing
    finally:
        service_manager.up(["influxdb", "redis"])
    # No new write yet (an idle worker): the worker's timer pokes the sinks.
    metrics.poke()
    state.poke()
    assert metrics.pending == 0 and state.pending == {}
    metrics.write(batch(3))
    state.put({cam: {"ingest_status": "ok"}})
    assert metrics.pending == 0 and not metrics.retry.failing and metrics.dropped == 0
    assert state.pending == {} and not state.retry.failing

    series = influx.query(f"SELECT frames FROM camera_stream WHERE camera_id = '{cam}'")
    frames = [row[series[0]["columns"].index("frames")] for row in series[0]["values"]]
    assert frames == [0, 1, 2, 3]
    latest = StateStore(settings).get_camera_state(cam)
    # written before the outage, or kept through it and written after
    assert latest["vehicles"] == 4 and latest["ingest_status"] == "ok"
