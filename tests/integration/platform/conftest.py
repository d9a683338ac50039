"""Fixtures of the platform integration tests: the real local PostgreSQL and InfluxDB.

Only the services the platform reads are started (not the broker), through the
session's ServiceManager from tests/conftest.py.
"""

from __future__ import annotations

import pytest
from its_platform.resources import InfluxResource, PostgresResource

from itscam.settings import Settings


@pytest.fixture(scope="session")
def platform_services(service_manager, settings) -> Settings:
    from itscam.db.migrate import migrate

    service_manager.up(["postgres", "influxdb"])
    migrate(settings)
    return settings


@pytest.fixture(scope="session")
def pg(platform_services) -> PostgresResource:
    return PostgresResource(dsn=platform_services.pg_dsn)


@pytest.fixture(scope="session")
def influx(platform_services) -> InfluxResource:
    return InfluxResource(url=platform_services.influx, database="itscam_platform_test")
