"""Test-wide configuration.

Integration tests run against REAL local services started by the project's own
:class:`ServiceManager`, in a state directory and on ports of their own (so a
developer's running `itscam services up` is never touched), and stopped when
the session ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Must be set before anything reads the settings. Ports stay below the kernel's
# ephemeral range (32768-60999), where any process's random port could take them.
_TEST_ENV = {
    "ITSCAM_STATE_DIR": str(REPO / ".itscam" / "test"),
    "ITSCAM_KAFKA_PORT": "29092",
    "ITSCAM_POSTGRES_PORT": "25432",
    "ITSCAM_TRITON_HTTP_PORT": "28000",
    "ITSCAM_TRITON_GRPC_PORT": "28001",
    "ITSCAM_TRITON_METRICS_PORT": "28002",
    "ITSCAM_INFLUX_PORT": "28086",
    "ITSCAM_REDIS_PORT": "26379",
    "ITSCAM_DAGSTER_PORT": "23000",
    "GX_ANALYTICS_ENABLED": "false",
    "YOLO_OFFLINE": "1",
}
for _k, _v in _TEST_ENV.items():
    os.environ.setdefault(_k, _v)
os.environ.setdefault("DAGSTER_HOME", str(Path(os.environ["ITSCAM_STATE_DIR"]) / "dagster_home"))

from itscam.services.manager import ServiceManager  # noqa: E402
from itscam.settings import Settings, get_settings  # noqa: E402

CORE_SERVICES = ["postgres", "kafka", "redis", "influxdb"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
def service_manager(settings: Settings) -> Iterator[ServiceManager]:
    mgr = ServiceManager(settings)
    yield mgr
    mgr.down()


@pytest.fixture(scope="session")
def services(service_manager: ServiceManager, settings: Settings) -> Settings:
    """Broker, PostgreSQL (migrated), Redis and InfluxDB up; returns the settings."""
    from itscam.db.migrate import migrate

    service_manager.up(CORE_SERVICES)
    migrate(settings)
    return settings


@pytest.fixture(scope="session")
def triton(service_manager: ServiceManager, settings: Settings) -> Settings:
    """Triton serving ``settings.model_repository``; returns the settings."""
    service_manager.up(["triton"])
    return settings
