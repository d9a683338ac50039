"""InfluxDB resource: InfluxQL statements on ``/query``.

InfluxQL is the one dialect every InfluxDB line accepts for administration
(1.x natively, 2.x through DBRP mappings, 3.x for queries); the local server
is 1.6, which has no ``/api/v2`` endpoints at all.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from itscam.errors import ServiceError
from itscam.settings import get_settings


class InfluxResource(ConfigurableResource):
    """The metrics store (local: InfluxDB 1.6 on 127.0.0.1:18086)."""

    url: str = Field("", description="Base URL; empty = ITSCAM_INFLUX_URL or the local server")
    database: str = Field("", description="Database; empty = ITSCAM_INFLUX_DB")
    token: str = Field("", description="API token (2.x/3.x); empty for the local 1.x server")
    timeout_s: float = Field(10.0, description="HTTP timeout")

    def base_url(self) -> str:
        return (self.url or get_settings().influx).rstrip("/")

    def db(self) -> str:
        return self.database or get_settings().influx_db

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Run InfluxQL statements (``;``-separated); return one result dict per statement."""
        body = urllib.parse.urlencode({"q": statement, "db": self.db()}).encode()
        req = urllib.request.Request(f"{self.base_url()}/query", data=body, method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                payload = json.loads(resp.read() or b"{}")
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(
                f"InfluxDB at {self.base_url()} did not answer ({exc}). "
                "On the local profile run `itscam services up`; otherwise check ITSCAM_INFLUX_URL."
            ) from None
        results = payload.get("results", [])
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise ServiceError(f"InfluxDB rejected {statement!r}: {'; '.join(errors)}")
        return results
