"""The best-effort sinks (InfluxDB metrics, Redis latest state) through an outage, with
fake clients; ``tests/integration/test_sink_outages.py`` stops the real services."""

from __future__ import annotations

from streaming.sinks import MetricsSink, RetryGate, StateSink


class FlakyInflux:
    """Fails while ``down``; otherwise stores the points it is given, in order."""

    def __init__(self) -> None:
        self.down = False
        self.points: list[int] = []
        self.requests: list[int] = []

    def write(self, points: list[int]) -> int:
        if self.down:
            raise OSError("connection refused")
        self.requests.append(len(points))
        self.points.extend(points)
        return len(points)


class FlakyRedis:
    def __init__(self) -> None:
        self.down = False
        self.state: dict[str, dict] = {}

    def put_camera_state(self, cam: str, state: dict) -> None:
        if self.down:
            raise ConnectionError("Redis is loading")
        self.state.setdefault(cam, {}).update(state)


def test_metric_points_are_kept_through_an_outage_and_written_in_order_after() -> None:
    influx = FlakyInflux()
    sink = MetricsSink(
        None, client=influx, retry=RetryGate("influx", first_s=0.0), background=False
    )  # type: ignore[arg-type]
    sink.write([1, 2])
    influx.down = True
    sink.write([3])
    sink.write([4, 5])
    assert influx.points == [1, 2] and sink.pending == 3 and sink.retry.failing
    influx.down = False
    sink.write([6])
    assert influx.points == [1, 2, 3, 4, 5, 6] and sink.pending == 0
    assert not sink.retry.failing and sink.dropped == 0


def test_metric_points_beyond_the_buffer_drop_the_oldest_and_are_counted() -> None:
    influx = FlakyInflux()
    sink = MetricsSink(
        None, client=influx, max_points=4, retry=RetryGate("influx", first_s=0.0), background=False
    )  # type: ignore[arg-type]
    influx.down = True
    for k in range(3):
        sink.write([10 * k, 10 * k + 1])
    assert sink.pending == 4 and sink.dropped == 2
    influx.down = False
    sink.write([])
    assert influx.points == [10, 11, 20, 21]


def test_a_long_backlog_is_written_in_chunks_and_a_failure_midway_keeps_the_rest() -> None:
    class FailsOnSecond(FlakyInflux):
        failed = False

        def write(self, points: list[int]) -> int:
            if len(self.requests) == 1 and not self.failed:
                self.failed = True
                raise OSError("timed out")
            return super().write(points)

    influx = FailsOnSecond()
    sink = MetricsSink(
        None, client=influx, retry=RetryGate("influx", first_s=0.0), background=False
    )  # type: ignore[arg-type]
    sink.CHUNK = 3
    sink.write(list(range(8)))
    assert influx.requests == [3] and sink.pending == 5
    sink.write([8])
    assert influx.points == list(range(9)) and influx.requests == [3, 3, 3]


def test_no_write_is_tried_during_the_pause_and_the_pause_doubles() -> None:
    influx = FlakyInflux()
    gate = RetryGate("influx", first_s=60.0, max_s=100.0)
    sink = MetricsSink(None, client=influx, retry=gate, background=False)  # type: ignore[arg-type]
    influx.down = True
    sink.write([1])
    assert gate.pause_s == 100.0 and not gate.open()  # 60 s, then doubled (capped at 100)
    influx.down = False
    sink.write([2])  # within the pause: kept, not tried
    assert influx.points == [] and sink.pending == 2
    gate._until = 0.0  # the pause is over
    sink.write([])
    assert influx.points == [1, 2] and gate.pause_s == 60.0


def test_what_an_outage_held_back_goes_out_on_a_poke_without_a_new_write() -> None:
    influx, redis = FlakyInflux(), FlakyRedis()
    metrics = MetricsSink(
        None, client=influx, retry=RetryGate("influx", first_s=60.0), background=False
    )  # type: ignore[arg-type]
    state = StateSink(None, store=redis, retry=RetryGate("redis", first_s=60.0), background=False)  # type: ignore[arg-type]
    influx.down = redis.down = True
    metrics.write([1, 2])
    state.put({"cam-a": {"vehicles": 4}})
    influx.down = redis.down = False
    metrics.poke()
    state.poke()  # within the pause: nothing is tried
    assert influx.points == [] and redis.state == {}
    metrics.retry._until = state.retry._until = 0.0  # the pause is over; traffic stopped
    metrics.poke()
    state.poke()
    assert influx.points == [1, 2] and metrics.pending == 0
    assert redis.state == {"cam-a": {"vehicles": 4}} and state.pending == {}
    metrics.poke()  # nothing queued: no request
    assert influx.requests == [2]


def test_latest_camera_state_is_merged_through_a_redis_outage() -> None:
    redis = FlakyRedis()
    sink = StateSink(None, store=redis, retry=RetryGate("redis", first_s=0.0), background=False)  # type: ignore[arg-type]
    sink.put({"cam-a": {"vehicles": 3, "los": "B"}})
    redis.down = True
    sink.put({"cam-a": {"vehicles": 5}, "cam-b": {"vehicles": 1}})
    sink.put({"cam-a": {"ingest_status": "ok"}})
    assert sink.pending == {
        "cam-a": {"vehicles": 5, "ingest_status": "ok"},
        "cam-b": {"vehicles": 1},
    }
    redis.down = False
    sink.put({})
    assert redis.state == {
        "cam-a": {"vehicles": 5, "los": "B", "ingest_status": "ok"},
        "cam-b": {"vehicles": 1},
    }
    assert sink.pending == {}


def test_a_hanging_influxdb_never_holds_the_caller_up() -> None:
    import threading
    import time

    release = threading.Event()

    class Hanging(FlakyInflux):
        def write(self, points: list[int]) -> int:
            release.wait(5.0)  # a request that does not come back
            return super().write(points)

    influx = Hanging()
    sink = MetricsSink(None, client=influx, retry=RetryGate("influx", first_s=0.0))  # type: ignore[arg-type]
    t0 = time.monotonic()
    for k in range(50):
        sink.write([k])
    assert time.monotonic() - t0 < 0.5  # queued while the first flush hangs
    assert influx.points == [] and sink.pending == 50
    release.set()
    for _ in range(200):
        sink.write([])  # what was queued behind the hung flush goes with the next
        if sink.pending == 0:
            break
        time.sleep(0.01)
    assert influx.points == list(range(50))


def test_the_last_row_of_each_key_is_kept_in_first_seen_order() -> None:
    from streaming.sinks import last_per_key

    cols = ("camera_id", "lane_id", "minute_ts", "total")
    rows = [("c", "a", 0, 1), ("c", "b", 0, 2), ("c", "a", 0, 3), ("c", "a", 60, 4)]
    assert last_per_key(rows, cols, ("camera_id", "lane_id", "minute_ts")) == [
        ("c", "a", 0, 3),
        ("c", "b", 0, 2),
        ("c", "a", 60, 4),
    ]
