"""PostgreSQL resource over :mod:`itscam.clients.postgres`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from dagster import ConfigurableResource
from pydantic import Field

from itscam.clients.postgres import connect
from itscam.settings import Settings, get_settings


class PostgresResource(ConfigurableResource):
    """The analytics database (local: the project's PostgreSQL on 127.0.0.1:15432)."""

    dsn: str = Field("", description="libpq DSN; empty = ITSCAM_POSTGRES_DSN or the local server")
    statement_timeout_s: int = Field(
        600, description="Per-statement limit so a runaway query cannot hang a run"
    )

    def settings(self) -> Settings:
        base = get_settings()
        return base.model_copy(update={"postgres_dsn": self.dsn}) if self.dsn else base

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """One transaction: committed when the block ends, rolled back on error."""
        conn = connect(self.settings())
        try:
            conn.execute(f"SET statement_timeout = {int(self.statement_timeout_s) * 1000}")
            conn.execute("SET TIME ZONE 'UTC'")
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def fetch_all(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.connection() as conn:
            return conn.execute(query, params).fetchall()
