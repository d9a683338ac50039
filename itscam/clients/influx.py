"""InfluxDB metrics client shared by streaming (per-camera metrics) and platform
(retention policies, downsampling).

Points are built with influxdb-client's ``Point`` (line protocol). Writes go
through influxdb-client's ``write_api`` (``/api/v2/write``) on servers that
have it (InfluxDB 1.8+, 2.x, 3.x); InfluxDB 1.6 -- the only server that runs
on the local profile -- predates that endpoint, so for it the same line
protocol is posted to the 1.x ``/write`` endpoint. Reads use InfluxQL on
``/query``, which 1.x, 2.x (DBRP mapping) and 3.x all accept.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from influxdb_client import Point, WritePrecision

from itscam.errors import ServiceError
from itscam.settings import Settings


class InfluxClient:
    """Write points and run InfluxQL against one database/bucket."""

    def __init__(self, settings: Settings, *, timeout_s: float = 5.0, retries: int = 3) -> None:
        self.url = settings.influx.rstrip("/")
        self.db = settings.influx_db
        self.token = settings.influx_token
        self.timeout_s = timeout_s
        self.retries = retries
        self._version: str | None = None
        self._v2 = None

    # ------------------------------------------------------------------ utils
    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        delay = 0.2
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return resp.status, resp.read(), dict(resp.headers)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == self.retries:
                    return exc.code, exc.read(), dict(exc.headers or {})
            except (urllib.error.URLError, OSError) as exc:
                if attempt == self.retries:
                    raise ServiceError(
                        f"Cannot reach InfluxDB at {self.url}: {exc}. On the local profile run "
                        "`itscam services up`; otherwise check ITSCAM_INFLUX_URL."
                    ) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def version(self) -> str:
        if self._version is None:
            status, _, headers = self._request("GET", "/ping")
            if status not in (200, 204):
                raise ServiceError(f"InfluxDB at {self.url} answered /ping with HTTP {status}.")
            self._version = headers.get(
                "X-Influxdb-Version", headers.get("x-influxdb-version", "unknown")
            )
        return self._version

    def has_v2_write(self) -> bool:
        v = self.version()
        try:
            major, minor = (int(x) for x in v.lstrip("v").split(".")[:2])
        except ValueError:
            return True
        return (major, minor) >= (1, 8)

    # ------------------------------------------------------------------ API
    def ensure_database(self) -> None:
        self.query(f'CREATE DATABASE "{self.db}"', method="POST")

    def write(self, points: Iterable[Point], *, retention_policy: str | None = None) -> int:
        """Write points (nanosecond precision); returns how many were sent."""
        lines = [p.to_line_protocol() for p in points]
        lines = [ln for ln in lines if ln]
        if not lines:
            return 0
        if self.has_v2_write():
            from influxdb_client import InfluxDBClient
            from influxdb_client.client.write_api import SYNCHRONOUS

            bucket = f"{self.db}/{retention_policy}" if retention_policy else self.db
            with InfluxDBClient(url=self.url, token=self.token or "-", org="-") as client:
                client.write_api(write_options=SYNCHRONOUS).write(
                    bucket=bucket, record=lines, write_precision=WritePrecision.NS
                )
            return len(lines)
        params = {"db": self.db, "precision": "ns"}
        if retention_policy:
            params["rp"] = retention_policy
        status, body, _ = self._request("POST", "/write", params, "\n".join(lines).encode())
        if status == 404 and b"database not found" in body:
            self.ensure_database()
            status, body, _ = self._request("POST", "/write", params, "\n".join(lines).encode())
        if status not in (200, 204):
            raise ServiceError(f"InfluxDB write failed (HTTP {status}): {body[:200]!r}")
        return len(lines)

    def query(self, influxql: str, *, method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; return the series of the first statement as dicts of columns/values."""
        params = {"db": self.db, "q": influxql, "epoch": "ns"}
        status, body, _ = self._request(method, "/query", params, b"" if method == "POST" else None)
        if status != 200:
            raise ServiceError(f"InfluxDB query failed (HTTP {status}): {body[:200]!r}")
        result = json.loads(body or b"{}").get("results", [{}])[0]
        if "error" in result:
            raise ServiceError(f"InfluxDB query error: {result['error']} (query: {influxql})")
        return result.get("series", [])


def point(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, float | int], ts_ns: int
) -> Point:
    """A point with tags, fields and a nanosecond timestamp."""
    p = Point(measurement).time(ts_ns, WritePrecision.NS)
    for k, v in tags.items():
        p = p.tag(k, v)
    for k, fv in fields.items():
        p = p.field(k, fv)
    return p
