"""Redis client: latest state per camera for dashboards.

Keys: ``itscam:camera:<camera_id>`` is a hash of the camera's latest state
(JSON values), with ``itscam:cameras`` a set of known camera ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import redis

from itscam.errors import ServiceError
from itscam.settings import Settings

CAMERA_KEY = "itscam:camera:{}"
CAMERAS_SET = "itscam:cameras"


class StateStore:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.redis
        self.client = redis.Redis.from_url(
            self.url, socket_timeout=2, socket_connect_timeout=2, retry_on_timeout=True
        )

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError as exc:
            raise ServiceError(
                f"Cannot reach Redis at {self.url}: {exc}. On the local profile run "
                "`itscam services up`; otherwise check ITSCAM_REDIS_URL."
            ) from None

    def put_camera_state(self, camera_id: str, state: Mapping[str, Any], ttl_s: int = 3600) -> None:
        key = CAMERA_KEY.format(camera_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping={k: json.dumps(v) for k, v in state.items()})
        pipe.expire(key, ttl_s)
        pipe.sadd(CAMERAS_SET, camera_id)
        pipe.execute()

    def get_camera_state(self, camera_id: str) -> dict[str, Any]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(CAMERA_KEY.format(camera_id)))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    def cameras(self) -> set[str]:
        return {c.decode() for c in cast(set[bytes], self.client.smembers(CAMERAS_SET))}
