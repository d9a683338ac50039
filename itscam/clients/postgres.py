"""PostgreSQL access shared by streaming, platform and tools (psycopg 3).

Bulk writes use binary COPY into a temporary staging table followed by
``INSERT ... ON CONFLICT`` on the target's natural key, so a replay after a
crash never double-counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from itscam.errors import ServiceError
from itscam.settings import Settings


def connect(
    settings: Settings, *, autocommit: bool = False, timeout_s: float = 5.0
) -> psycopg.Connection:
    """Open a connection, or fail with what to check."""
    try:
        return psycopg.connect(
            settings.pg_dsn, autocommit=autocommit, connect_timeout=max(1, int(timeout_s))
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceError(
            f"Cannot connect to PostgreSQL ({settings.pg_dsn}): {first}. "
            "On the local profile run `itscam services up` first; otherwise check ITSCAM_POSTGRES_DSN."
        ) from None


def ensure_partitions(conn: psycopg.Connection, table: str, start: datetime, end: datetime) -> None:
    """Create the time partitions of ``table`` covering ``[start, end]`` (no-op on hypertables)."""
    conn.execute("SELECT ops.ensure_partitions(%s::regclass, %s, %s)", (table, start, end))


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: str = "nothing",
    key: Sequence[str] | None = None,
) -> int:
    """Write ``rows`` to ``table`` by binary COPY; return how many were new.

    The rows go to a session-temporary staging table shaped like ``table`` and
    are merged with ``INSERT ... ON CONFLICT DO NOTHING`` (``conflict="nothing"``)
    or ``DO UPDATE`` of every non-key column (``conflict="update"``, needs
    ``key``). Runs inside the caller's transaction: nothing is visible until
    the caller commits, so a consumer commits its offsets only after that.
    """
    schema, _, name = table.rpartition(".")
    stage = f"_stage_{name}"
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(sql.Identifier(stage), target)
    )
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    with conn.cursor() as cur:
        # The staging table has the target's column types, so binary COPY can
        # take Python values directly once told those types.
        types = _column_types(conn, table, columns)
        with cur.copy(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(stage), cols)
        ) as cp:
            cp.set_types(types)
            for row in rows:
                cp.write_row(row)
        if conflict == "update":
            if not key:
                raise ValueError("copy_rows(conflict='update') needs the key columns")
            updates = sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in columns
                if c not in key
            )
            action: sql.Composable = sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in key), updates
            )
        else:
            action = sql.SQL("ON CONFLICT DO NOTHING")
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} {}").format(
                target, cols, cols, sql.Identifier(stage), action
            )
        )
        return cur.rowcount


_TYPES_CACHE: dict[tuple[str, tuple[str, ...]], list[str]] = {}


def _column_types(conn: psycopg.Connection, table: str, columns: Sequence[str]) -> list[str]:
    cache_key = (table, tuple(columns))
    if cache_key not in _TYPES_CACHE:
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (table,),
        ).fetchall()
        types: dict[str, str] = dict(rows)
        missing = [c for c in columns if c not in types]
        if missing:
            raise ValueError(f"copy_rows: {table} has no column(s) {missing}")
        _TYPES_CACHE[cache_key] = [types[c] for c in columns]
    return _TYPES_CACHE[cache_key]
