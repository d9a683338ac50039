"""Which cameras a worker knows: the registry table, refreshed when an unknown id shows up.

The source of truth is ``camera_data.cameras`` (loaded from the YAML registry
by the platform, or registered by a run such as ``itscam evaluate``); the
YAML file itself is read too so a worker can run before the table is filled.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from itscam.domain.registry import CameraConfig, load_registry, parse_camera
from itscam.settings import Settings

log = logging.getLogger(__name__)


class CameraDirectory:
    """Camera configs by id, reloaded from PostgreSQL at most every ``min_refresh_s``."""

    def __init__(
        self,
        settings: Settings | None,
        *,
        min_refresh_s: float = 2.0,
        static: Iterable[CameraConfig] = (),
    ) -> None:
        self.settings = settings
        self.min_refresh_s = min_refresh_s
        self.cameras: dict[str, CameraConfig] = {c.camera_id: c for c in static}
        self._loaded_at = -1e9

    def refresh(self) -> None:
        self._loaded_at = time.monotonic()
        if self.settings is None:
            return
        path = self.settings.cameras_file
        if path.exists():
            try:
                for c in load_registry(path):
                    self.cameras.setdefault(c.camera_id, c)
            except Exception as exc:
                log.warning("camera registry %s not loaded: %s", path, exc)
        try:
            from itscam.clients.postgres import connect

            with connect(self.settings, autocommit=True) as conn:
                rows = conn.execute("SELECT camera_id, config FROM camera_data.cameras").fetchall()
        except Exception as exc:
            log.warning("camera_data.cameras not read: %s", exc)
            return
        for cam_id, config in rows:
            try:
                cfg = config if isinstance(config, dict) else json.loads(config)
                self.cameras[cam_id] = parse_camera(cfg)
            except Exception as exc:
                log.warning(
                    "camera %s has invalid geometry in camera_data.cameras: %s", cam_id, exc
                )

    def get(self, camera_id: str) -> CameraConfig | None:
        cfg = self.cameras.get(camera_id)
        if cfg is None and time.monotonic() - self._loaded_at >= self.min_refresh_s:
            self.refresh()
            cfg = self.cameras.get(camera_id)
        return cfg

    def __contains__(self, camera_id: object) -> bool:
        return isinstance(camera_id, str) and self.get(camera_id) is not None


def register_cameras(settings: Settings, configs: Iterable[CameraConfig]) -> int:
    """Upsert camera configs into ``camera_data.cameras``; returns how many."""
    from itscam.clients.postgres import connect

    rows: list[dict[str, Any]] = [c.to_row() for c in configs]
    with connect(settings) as conn:
        for r in rows:
            conn.execute(
                "INSERT INTO camera_data.cameras (camera_id, name, site, width, height, fps, config,"
                " homography, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, now())"
                " ON CONFLICT (camera_id) DO UPDATE SET name = EXCLUDED.name, site = EXCLUDED.site,"
                " width = EXCLUDED.width, height = EXCLUDED.height, fps = EXCLUDED.fps,"
                " config = EXCLUDED.config, homography = EXCLUDED.homography, updated_at = now()",
                (
                    r["camera_id"],
                    r["name"],
                    r["site"],
                    r["width"],
                    r["height"],
                    r["fps"],
                    json.dumps(r["config"]),
                    list(r["homography"]),
                ),
            )
        conn.commit()
    return len(rows)
