"""Versioned SQL migrations: ``itscam/db/migrations/NNNN_name.sql``, applied in order.

Each applied file is recorded in ``ops.schema_migrations`` with its checksum;
a second run applies nothing. Changing an applied file is refused (write a new
migration instead). Concurrent runs serialise on an advisory lock.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from itscam.clients.postgres import connect
from itscam.errors import ConfigError
from itscam.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x17CA_2026


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ConfigError(
                f"Migration file {path.name} must be named NNNN_lower_snake.sql; rename it."
            )
        version = int(m.group(1))
        if version in found:
            raise ConfigError(
                f"Two migrations share version {version}: {found[version].path.name}, {path.name}."
            )
        found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


def migrate(settings: Settings, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration; return the ones applied now."""
    applied_now: list[Migration] = []
    with connect(settings, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                v: c for v, c in conn.execute("SELECT version, checksum FROM ops.schema_migrations")
            }
            for mig in discover(directory):
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise ConfigError(
                            f"Migration {mig.path.name} changed after it was applied; "
                            "add a new migration file instead of editing an applied one."
                        )
                    continue
                with conn.transaction():
                    conn.execute(mig.sql)  # type: ignore[arg-type]
                    conn.execute(
                        "INSERT INTO ops.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (mig.version, mig.name, mig.checksum),
                    )
                applied_now.append(mig)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="itscam db migrate", description=__doc__)
    parser.parse_args(argv)
    applied = migrate(get_settings())
    if applied:
        for mig in applied:
            print(f"applied {mig.version:04d}_{mig.name}")
    else:
        print("database schema is up to date")
    return 0
