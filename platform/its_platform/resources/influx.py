"""InfluxDB resource over the shared :class:`itscam.clients.influx.InfluxClient`.

Administration (retention policies, continuous queries) is InfluxQL on
``/query``, which every InfluxDB line accepts (1.x natively, 2.x through DBRP
mappings); the local server is 1.6.
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from itscam.clients.influx import InfluxClient
from itscam.settings import Settings, get_settings


class InfluxResource(ConfigurableResource):
    """The metrics store (local: InfluxDB 1.6 on 127.0.0.1:18086)."""

    url: str = Field("", description="Base URL; empty = ITSCAM_INFLUX_URL or the local server")
    database: str = Field("", description="Database; empty = ITSCAM_INFLUX_DB")
    token: str = Field("", description="API token (2.x/3.x); empty for the local 1.x server")
    timeout_s: float = Field(10.0, description="HTTP timeout")

    def settings(self) -> Settings:
        update = {"influx_url": self.url, "influx_db": self.database, "influx_token": self.token}
        return get_settings().model_copy(update={k: v for k, v in update.items() if v})

    def db(self) -> str:
        return self.settings().influx_db

    def client(self) -> InfluxClient:
        return InfluxClient(self.settings(), timeout_s=self.timeout_s)

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement (POST, so administrative ones work); return its series."""
        return self.client().query(statement, method="POST")
