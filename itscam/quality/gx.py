"""Great Expectations 1.x, validated in process on pandas frames.

``dagster-ge`` needs GE < 1, so the project bridges GE itself (see
ENVIRONMENT.md): an ephemeral context, a pandas data source with one dataframe
asset and a whole-dataframe batch definition, an ``ExpectationSuite`` built
from :class:`Expectation` specs, and ``batch.validate(suite)``. Each
expectation yields one :class:`Outcome` that the platform turns into one
Dagster ``AssetCheckResult``.

``GX_ANALYTICS_ENABLED`` is forced to ``false`` before GE is imported: the
local profile has no network and usage statistics must never leave it.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from itscam.errors import DataError

_LOCK = threading.Lock()
_CONTEXT: Any = None


@dataclass(frozen=True)
class Expectation:
    """One GE expectation by class name, e.g. ``Expectation("ExpectColumnValuesToNotBeNull", column="x")``.

    ``name`` is the check's name (defaults to the class name and column).
    """

    gx_class: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __init__(self, gx_class: str, name: str = "", **kwargs: Any) -> None:
        object.__setattr__(self, "gx_class", gx_class)
        object.__setattr__(self, "kwargs", kwargs)
        col = kwargs.get("column") or "_".join(
            str(kwargs.get(k, "")) for k in ("column_A", "column_B")
        )
        object.__setattr__(self, "name", name or f"{gx_class}:{col}")


@dataclass(frozen=True)
class Outcome:
    """Result of one expectation: pass/fail, failing count, and a few failing rows."""

    name: str
    success: bool
    element_count: int
    failing_count: int
    examples: list[dict[str, Any]]
    description: str


def _context() -> Any:
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            os.environ["GX_ANALYTICS_ENABLED"] = "false"
            import great_expectations as gx

            ctx = gx.get_context(mode="ephemeral")
            # Cosmetic only (progress bars on stderr); the config shape differs across GE releases.
            with contextlib.suppress(Exception):
                ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}  # type: ignore[assignment]
            _CONTEXT = ctx
        return _CONTEXT


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def validate_frame(
    frame: pd.DataFrame,
    expectations: Sequence[Expectation],
    *,
    suite_name: str,
    example_columns: Sequence[str] = (),
    max_examples: int = 5,
) -> list[Outcome]:
    """Validate ``frame`` against ``expectations``; one :class:`Outcome` each, in order.

    ``example_columns`` are the identifying columns copied from failing rows
    into ``Outcome.examples`` (with the expectation's own columns).
    """
    import great_expectations as gx

    ctx = _context()
    with _LOCK:
        source_name = f"pandas_{suite_name}"
        try:
            source = ctx.data_sources.get(source_name)
        except Exception:
            source = ctx.data_sources.add_pandas(source_name)
        try:
            asset = source.get_asset(suite_name)
        except Exception:
            asset = source.add_dataframe_asset(suite_name)
        try:
            batch_def = asset.get_batch_definition("whole")
        except Exception:
            batch_def = asset.add_batch_definition_whole_dataframe("whole")
    batch = batch_def.get_batch(batch_parameters={"dataframe": frame.reset_index(drop=True)})
    suite = gx.ExpectationSuite(name=suite_name)
    for spec in expectations:
        cls = getattr(gx.expectations, spec.gx_class, None)
        if cls is None:
            raise DataError(
                f"Great Expectations has no expectation {spec.gx_class!r}; check the suite in {suite_name}"
            )
        suite.add_expectation(cls(**spec.kwargs))
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "partial_unexpected_count": max_examples}
    )
    outcomes = []
    for spec, res in zip(expectations, result.results, strict=True):
        detail = res.result or {}
        index = list(
            detail.get("unexpected_index_list") or detail.get("partial_unexpected_index_list") or []
        )
        cols = [c for c in example_columns if c in frame.columns]
        own = [spec.kwargs[k] for k in ("column", "column_A", "column_B") if k in spec.kwargs]
        cols += [c for c in own if c in frame.columns and c not in cols]
        examples = []
        for i in index[:max_examples]:
            if isinstance(i, int) and 0 <= i < len(frame):
                row = frame.iloc[i]
                examples.append({c: _clean(row[c]) for c in cols})
        failing = int(detail.get("unexpected_count") or 0)
        if not res.success and failing == 0 and "observed_value" in detail:
            failing = 1
        outcomes.append(
            Outcome(
                name=spec.name,
                success=bool(res.success),
                element_count=int(detail.get("element_count") or len(frame)),
                failing_count=failing,
                examples=examples,
                description=f"{spec.gx_class}({', '.join(f'{k}={v!r}' for k, v in spec.kwargs.items())})",
            )
        )
    return outcomes
