"""Asset checks from the data-quality suites in :mod:`itscam.quality.suites`.

Checks are declared as ``check_specs`` on the assets they judge (not as the
preview partitioned ``@asset_check``), and evaluated inside the asset's own
step by :func:`evaluate_checks`: one SQL query per frame, one Great
Expectations validation per frame, one ``AssetCheckResult`` per expectation
with the failing count and example rows in its metadata.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import datetime

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue
from its_platform.resources import PostgresResource
from psycopg import ClientCursor

from itscam.quality.gx import validate_frame
from itscam.quality.suites import EXAMPLE_COLUMNS, FRAMES, checks_for


def check_specs_for(asset: str) -> list[AssetCheckSpec]:
    """The ``check_specs`` to declare on ``asset``."""
    return [
        AssetCheckSpec(name=c.name, asset=asset, description=c.description, blocking=c.blocking)
        for c in checks_for(asset)
    ]


def load_frame(
    postgres: PostgresResource, frame: str, start: datetime, end: datetime, now: datetime
) -> pd.DataFrame:
    """The rows of one check frame, via ``COPY ... TO STDOUT`` (CSV): ~3x faster than row fetches."""
    buf = io.BytesIO()
    with postgres.connection() as conn, ClientCursor(conn) as cur:
        # COPY takes no bind parameters: the client cursor quotes them into the text.
        query = cur.mogrify(FRAMES[frame], {"start": start, "end": end, "now": now})
        with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                buf.write(block)
    buf.seek(0)
    return pd.read_csv(
        buf, true_values=["t"], false_values=["f"], keep_default_na=False, na_values=[""]
    )


def evaluate_checks(
    asset: str, postgres: PostgresResource, start: datetime, end: datetime, now: datetime
) -> list[AssetCheckResult]:
    """Run every check of ``asset`` over the window ``[start, end)``."""
    by_frame = defaultdict(list)
    for check in checks_for(asset):
        by_frame[check.frame].append(check)
    results = []
    for frame_name, checks in by_frame.items():
        frame = load_frame(postgres, frame_name, start, end, now)
        outcomes = validate_frame(
            frame,
            [c.expectation for c in checks],
            suite_name=f"{asset}_{frame_name}",
            example_columns=EXAMPLE_COLUMNS.get(frame_name, ()),
        )
        for check, outcome in zip(checks, outcomes, strict=True):
            results.append(
                AssetCheckResult(
                    asset_key=asset,
                    check_name=check.name,
                    passed=outcome.success,
                    severity=AssetCheckSeverity.WARN
                    if check.warn_only
                    else AssetCheckSeverity.ERROR,
                    metadata={
                        "failing_count": outcome.failing_count,
                        "rows_checked": outcome.element_count,
                        "window": f"[{start.isoformat()}, {end.isoformat()})",
                        "expectation": outcome.description,
                        "examples": MetadataValue.json(
                            json.loads(json.dumps(outcome.examples, default=str))
                        ),
                    },
                )
            )
    return results
