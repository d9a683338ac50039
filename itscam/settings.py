"""One settings model for the whole system.

Every value is read from an environment variable with the ``ITSCAM_`` prefix
(``ITSCAM_KAFKA_BOOTSTRAP``, ``ITSCAM_POSTGRES_DSN``, ...). Every default is
the local profile: services started by ``itscam services up`` on 127.0.0.1 with
their data under ``state_dir``. Pointing the same code at production is only a
matter of setting the endpoint variables (see ``deploy/``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from itscam.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """System-wide configuration. Field docs double as the README's config table."""

    model_config = SettingsConfigDict(env_prefix="ITSCAM_", extra="ignore")

    profile: Literal["local", "production"] = Field(
        "local",
        description="local: the project starts every service itself; production: use the endpoints below",
    )
    state_dir: Path = Field(
        REPO_ROOT / ".itscam", description="Data and logs of every local service, and run artefacts"
    )

    # --- Kafka ---------------------------------------------------------------
    kafka_port: int = Field(19092, description="Local broker port")
    kafka_bootstrap: str = Field(
        "", description="Kafka bootstrap servers (default: 127.0.0.1:<kafka_port>)"
    )
    kafka_partitions: int = Field(
        8, description="Partitions of every keyed topic (per-camera order)"
    )
    topic_prefix: str = Field("itscam", description="Prefix of every topic name")
    kafka_empty_fetch_backoff_ms: float = Field(
        50.0,
        ge=0.0,
        le=1000.0,
        description="Pause of a consumer after a fetch that returned no records, ms. The local "
        "broker answers an empty fetch at once instead of long-polling (fetch_max_wait), so "
        "every idle consumer spun a CPU core; Kafka long-polls, where it costs nothing. 0 = off",
    )

    # --- PostgreSQL ------------------------------------------------------------
    postgres_port: int = Field(15432, description="Local PostgreSQL port")
    postgres_dsn: str = Field("", description="libpq DSN (default: the local server)")
    postgres_user: str = Field("itscam", description="Database role (local profile)")
    postgres_db: str = Field("itscam", description="Database name (local profile)")

    # --- Triton ------------------------------------------------------------------
    triton_http_port: int = Field(18000, description="Local Triton HTTP port")
    triton_grpc_port: int = Field(18001, description="Local Triton gRPC port")
    triton_metrics_port: int = Field(18002, description="Local Triton metrics port")
    triton_url: str = Field(
        "", description="Triton gRPC host:port (default: 127.0.0.1:<triton_grpc_port>)"
    )
    triton_model: str = Field(
        "yolo11_detector", description="Ensemble/model the stream processors call"
    )
    triton_model_version: str = Field(
        "", description="Explicit model version ('' = server's latest)"
    )
    triton_timeout_s: float = Field(
        5.0,
        gt=0.0,
        description="Per-request deadline, queueing in Triton included: it must cover "
        "triton_max_in_flight frames at the slowest rate the server runs at, or busy "
        "moments fall back in-process (at 2 s with 16 in flight, the 544x960 model on "
        "2 busy cores missed it and the worker ran the model itself)",
    )
    triton_max_in_flight: int = Field(
        16,
        ge=1,
        le=1024,
        description="Requests a worker keeps in flight to Triton (back-pressure): two "
        "model batches (2 x 8), so the next batch is decoded and queued while the model "
        "runs one (with 8 the model idled during each batch's preprocessing: 14.2 vs 14.6 "
        "frames/s end to end on 2 cores); with two model instances 24 (three batches) was "
        "no faster (16.15-16.24 frames/s either way); a GPU pool wants more. The stream "
        "sends frames in sub-batches of 8: this many frames' worth at once",
    )
    model_repository: Path = Field(
        REPO_ROOT / "triton_models",
        description="Triton model repository served by the local server",
    )
    inference_backend: Literal["triton", "onnxruntime", "auto"] = Field(
        "auto",
        description="triton, onnxruntime (in-process), or auto (Triton, falling back in-process)",
    )

    # --- InfluxDB / Redis ------------------------------------------------------
    influx_port: int = Field(18086, description="Local InfluxDB port")
    influx_url: str = Field(
        "", description="InfluxDB URL (default: http://127.0.0.1:<influx_port>)"
    )
    influx_db: str = Field("itscam", description="InfluxDB database (1.x) / bucket (2.x)")
    influx_token: str = Field(
        "", description="InfluxDB token (2.x/3.x); empty for the local 1.x server"
    )
    redis_port: int = Field(16379, description="Local Redis port")
    redis_url: str = Field("", description="Redis URL (default: redis://127.0.0.1:<redis_port>/0)")

    # --- Dagster -----------------------------------------------------------------
    dagster_port: int = Field(13000, description="Local Dagster webserver port")

    # --- Stream workers ------------------------------------------------------------
    detect_batch: int = Field(
        16, ge=1, le=256, description="Frames per detect micro-batch (ITSCAM_DETECT_BATCH)"
    )
    detect_within_s: float = Field(
        0.05, ge=0.0, le=5.0, description="Longest wait to fill a detect micro-batch, seconds"
    )
    detect_depth: int = Field(
        2,
        ge=1,
        le=8,
        description="Detect micro-batches in flight: the next batch is inferred while the "
        "previous one's detections are produced (1 = one at a time)",
    )

    ingest_max_ahead: int = Field(
        200,
        ge=0,
        le=1_000_000,
        description="Bounded runs of file and simulated cameras (itscam demo, itscam "
        "evaluate; not paced ones): ingest waits while the stream workers have more than "
        "this many frames to do (ITSCAM_INGEST_MAX_AHEAD, 0 = no limit). Putting the whole "
        "run into the broker first made the local broker's log 1.5 GB",
    )
    frames_purge_s: float = Field(
        2.0,
        ge=0.0,
        le=3600.0,
        description="Every this many seconds a stream worker deletes the frames below its "
        "group's committed offsets in the partitions it holds (Kafka DeleteRecords; "
        "ITSCAM_FRAMES_PURGE_S, 0 = off: frames then live for the topic's retention). The "
        "local broker rewrites its whole log after each write, so consumed frames cost it "
        "CPU (0.27 of a core during the pipeline benchmark); production keeps them (0) for "
        "replay",
    )
    checkpoint_purge_s: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="Every this many seconds a stream worker deletes the analyser checkpoints "
        "that later ones of the same cameras superseded from the changelog partitions it holds "
        "(Kafka DeleteRecords; ITSCAM_CHECKPOINT_PURGE_S, 0 = off). The local broker does not "
        "compact the changelog and rewrites its whole log after each write: after a full "
        "itscam evaluate the checkpoints were 85 % of its 190 MB. Production Kafka "
        "compacts the topic (0)",
    )
    checkpoint_every_s: float = Field(
        2.0,
        ge=0.0,
        le=60.0,
        description="Checkpoint each camera's analyser at most this often, seconds "
        "(ITSCAM_CHECKPOINT_EVERY_S; 0 = after every micro-batch). Frames are acked, and "
        "their offsets committed, once a checkpoint covering them is on the changelog; a "
        "restarted worker replays at most about this much",
    )

    stall_exit_s: float = Field(
        600.0,
        ge=0.0,
        le=86400.0,
        description="A worker whose partitions' committed offsets stand still this long (s) "
        "while records wait exits to be restarted (ITSCAM_STALL_EXIT_S; 0 = never)",
    )

    # --- Analysis ------------------------------------------------------------------
    analysis_fps: float = Field(10.0, description="Frames per second analysed per camera")
    cameras_file: Path = Field(
        REPO_ROOT / "config" / "cameras.yaml",
        description="Camera registry (lanes, lines, zones, calibration)",
    )

    @field_validator(
        "kafka_port",
        "postgres_port",
        "triton_http_port",
        "triton_grpc_port",
        "triton_metrics_port",
        "influx_port",
        "redis_port",
        "dagster_port",
    )
    @classmethod
    def _port_range(cls, v: int) -> int:
        if not 1 <= v <= 65535:
            raise ValueError(f"port {v} is outside 1..65535")
        return v

    # Derived endpoints: explicit values win, else the local profile's.
    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def pg_dsn(self) -> str:
        return self.postgres_dsn or (
            f"host=127.0.0.1 port={self.postgres_port} user={self.postgres_user} dbname={self.postgres_db}"
        )

    @property
    def triton_grpc(self) -> str:
        return self.triton_url or f"127.0.0.1:{self.triton_grpc_port}"

    @property
    def influx(self) -> str:
        return self.influx_url or f"http://127.0.0.1:{self.influx_port}"

    @property
    def redis(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    def topic(self, name: str) -> str:
        """Full topic name, e.g. ``topic('frames') == 'itscam.frames'``."""
        return f"{self.topic_prefix}.{name}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value fails with what to fix."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            lines.append(f"ITSCAM_{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(
            "Invalid configuration: "
            + "; ".join(lines)
            + ". Fix or unset the environment variable(s) named above."
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
