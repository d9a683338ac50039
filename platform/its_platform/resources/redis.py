"""Redis resource (latest state per camera, written by the stream processors)."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from itscam.settings import get_settings


class RedisResource(ConfigurableResource):
    """The latest-state cache (local: Redis on 127.0.0.1:16379)."""

    url: str = Field("", description="redis:// URL; empty = ITSCAM_REDIS_URL or the local server")

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url or get_settings().redis, socket_timeout=5)
