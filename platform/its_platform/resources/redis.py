"""Redis resource over the shared :class:`itscam.clients.redis.StateStore`."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from itscam.clients.redis import StateStore
from itscam.settings import get_settings


class RedisResource(ConfigurableResource):
    """The latest-state cache (local: Redis on 127.0.0.1:16379), written by the stream processors."""

    url: str = Field("", description="redis:// URL; empty = ITSCAM_REDIS_URL or the local server")

    def store(self) -> StateStore:
        base = get_settings()
        return StateStore(base.model_copy(update={"redis_url": self.url}) if self.url else base)
