"""Fixtures of the platform integration tests: the real local PostgreSQL (and friends) from tests/conftest.py."""

from __future__ import annotations

import pytest
from its_platform.resources import InfluxResource, PostgresResource


@pytest.fixture(scope="session")
def pg(services) -> PostgresResource:
    return PostgresResource(dsn=services.pg_dsn)


@pytest.fixture(scope="session")
def influx(services) -> InfluxResource:
    return InfluxResource(url=services.influx, database="itscam_platform_test")
