"""Cost assets: the month's billing export and cluster usage, and the cost report against the budget.

Billing files are CUR-shaped CSV or Parquet named ``cur-YYYY-MM.*`` and
``usage-YYYY-MM.*`` in the billing folder. On the local profile a missing month
is generated (:mod:`itscam.cost.generator`); in production the folder is
where the CUR export and the cluster's usage exporter deliver.
"""

import base64
import json

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)
from its_platform.partitions import MONTHLY, window
from its_platform.resources import BillingSourceResource, PostgresResource

from itscam.clients.postgres import copy_rows
from itscam.cost.generator import generate_month, read_export
from itscam.cost.model import build_report, categorize
from itscam.errors import DataError
from itscam.quality.gx import Expectation, validate_frame
from itscam.settings import get_settings

CUR_MAP = {
    "identity/LineItemId": "line_item_id",
    "lineItem/LineItemType": "line_item_type",
    "lineItem/UsageStartDate": "usage_start",
    "lineItem/UsageEndDate": "usage_end",
    "lineItem/ProductCode": "product_code",
    "lineItem/UsageType": "usage_type",
    "lineItem/Operation": "operation",
    "lineItem/ResourceId": "resource_id",
    "lineItem/UsageAmount": "usage_amount",
    "lineItem/UnblendedRate": "unblended_rate",
    "lineItem/UnblendedCost": "unblended_cost",
    "pricing/publicOnDemandRate": "public_od_rate",
    "pricing/publicOnDemandCost": "public_od_cost",
    "pricing/term": "pricing_term",
    "product/instanceType": "instance_type",
    "product/region": "region",
    "reservation/EffectiveCost": "effective_cost",
    "resourceTags/user:node-pool": "node_pool",
}
CUR_CHECKS = (
    (
        "cur_costs_nonnegative",
        Expectation("ExpectColumnValuesToBeBetween", column="unblended_cost", min_value=0.0),
        "No negative costs (credits and refunds are reported separately).",
    ),
    (
        "cur_usage_nonnegative",
        Expectation("ExpectColumnValuesToBeBetween", column="usage_amount", min_value=0.0),
        "No negative usage amounts.",
    ),
)


def _period(context: AssetExecutionContext) -> str:
    start, _ = window(context)
    return f"{start:%Y-%m}"


def _find(billing: BillingSourceResource, prefix: str, period: str):  # type: ignore[no-untyped-def]
    folder = billing.path()
    for ext in ("parquet", "csv"):
        path = folder / f"{prefix}-{period}.{ext}"
        if path.exists():
            return path
    if not billing.generate_if_missing:
        raise DataError(
            f"no {prefix}-{period}.csv/.parquet in {folder}; deliver the export there first"
        )
    month = generate_month(
        period, folder, cameras=billing.cameras, fps=get_settings().analysis_fps, seed=billing.seed
    )
    return month.cur_path if prefix == "cur" else month.usage_path


@asset(
    partitions_def=MONTHLY,
    group_name="cost",
    kinds={"postgres", "csv"},
    check_specs=[
        AssetCheckSpec(name, asset="cur_billing_export", description=d, blocking=True)
        for name, _, d in CUR_CHECKS
    ],
)
def cur_billing_export(
    context: AssetExecutionContext, postgres: PostgresResource, billing: BillingSourceResource
) -> MaterializeResult:
    """The month's AWS Cost-and-Usage-Report lines, ingested into cost.cur_line_items."""
    period = _period(context)
    path = _find(billing, "cur", period)
    raw = read_export(path)
    missing = [c for c in CUR_MAP if c not in raw.columns]
    if missing:
        raise DataError(f"{path} lacks CUR column(s) {missing}")
    frame = raw[list(CUR_MAP)].rename(columns=CUR_MAP)
    frame["category"] = categorize(raw)
    frame["billing_period"] = pd.Timestamp(f"{period}-01").date()
    frame["source_file"] = path.name
    for col in ("usage_start", "usage_end"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame = frame.astype(object).where(frame.notna(), None)
    cols = list(frame.columns)
    with postgres.connection() as conn:
        conn.execute("DELETE FROM cost.cur_line_items WHERE billing_period = %s", (f"{period}-01",))
        copy_rows(conn, "cost.cur_line_items", cols, frame.itertuples(index=False, name=None))
    outcomes = validate_frame(
        frame,
        [e for _, e, _ in CUR_CHECKS],
        suite_name="cur_lines",
        example_columns=("line_item_id", "usage_type"),
    )
    checks = [
        AssetCheckResult(
            check_name=name,
            passed=o.success,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "failing_count": o.failing_count,
                "rows_checked": o.element_count,
                "examples": MetadataValue.json(json.loads(json.dumps(o.examples, default=str))),
            },
        )
        for (name, _, _), o in zip(CUR_CHECKS, outcomes, strict=True)
    ]
    return MaterializeResult(
        metadata={
            "row_count": MetadataValue.int(len(frame)),
            "file": MetadataValue.path(str(path)),
            "unblended_cost_usd": float(raw["lineItem/UnblendedCost"].sum()),
            "by_category_usd": MetadataValue.json(
                {
                    k: round(float(v), 2)
                    for k, v in raw["lineItem/UnblendedCost"]
                    .groupby(frame["category"])
                    .sum()
                    .items()
                }
            ),
        },
        check_results=checks,
    )


@asset(partitions_def=MONTHLY, group_name="cost", kinds={"postgres"})
def cluster_usage(
    context: AssetExecutionContext, postgres: PostgresResource, billing: BillingSourceResource
) -> MaterializeResult:
    """Hourly node counts and CPU/GPU/memory utilisation per node pool, ingested into cost.cluster_usage."""
    period = _period(context)
    path = _find(billing, "usage", period)
    frame = read_export(path)
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    frame["billing_period"] = pd.Timestamp(f"{period}-01").date()
    frame = frame.astype(object).where(frame.notna(), None)
    cols = list(frame.columns)
    with postgres.connection() as conn:
        conn.execute("DELETE FROM cost.cluster_usage WHERE billing_period = %s", (f"{period}-01",))
        copy_rows(conn, "cost.cluster_usage", cols, frame.itertuples(index=False, name=None))
    return MaterializeResult(
        metadata={
            "row_count": MetadataValue.int(len(frame)),
            "node_pools": MetadataValue.json(sorted({str(p) for p in frame["node_pool"]})),
            "file": MetadataValue.path(str(path)),
        }
    )


def _read(postgres: PostgresResource, query: str, period: str) -> pd.DataFrame:
    with postgres.connection() as conn:
        cur = conn.execute(query, (f"{period}-01",))
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or []])


@asset(
    partitions_def=MONTHLY,
    group_name="cost",
    deps=[cur_billing_export, cluster_usage],
    kinds={"postgres"},
    check_specs=[
        AssetCheckSpec(
            "cost_within_budget",
            asset="cost_report",
            description="Month's total and every category within budget (warns).",
        )
    ],
)
def cost_report(
    context: AssetExecutionContext, postgres: PostgresResource, billing: BillingSourceResource
) -> MaterializeResult:
    """Actual vs budget by category, reserved/spot coverage and savings, unit costs and right-sizing candidates."""
    period = _period(context)
    inv = {v: k for k, v in CUR_MAP.items()}
    cur = _read(
        postgres, "SELECT * FROM cost.cur_line_items WHERE billing_period = %s", period
    ).rename(columns=inv)
    usage = _read(postgres, "SELECT * FROM cost.cluster_usage WHERE billing_period = %s", period)
    report = build_report(period, cur, usage, cameras=billing.cameras)
    md = report.markdown()
    s = report.summary
    p = f"{period}-01"
    with postgres.connection() as conn:
        for table in ("budget_report", "pool_coverage", "rightsizing", "report_summary"):
            conn.execute(f"DELETE FROM cost.{table} WHERE billing_period = %s", (p,))
        for frame, table in (
            (report.categories, "budget_report"),
            (report.pools, "pool_coverage"),
            (report.rightsizing, "rightsizing"),
        ):
            if frame.empty:
                continue
            out = frame.assign(billing_period=pd.Timestamp(p).date())
            copy_rows(
                conn,
                f"cost.{table}",
                list(out.columns),
                out.astype(object).itertuples(index=False, name=None),
            )
        conn.execute(
            "INSERT INTO cost.report_summary (billing_period, total_usd, budget_usd, on_demand_equivalent_usd, "
            "savings_usd, cameras, cost_per_camera_usd, frames_processed, cost_per_1000_frames_usd, report_md) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                p,
                s["total_usd"],
                s["budget_usd"],
                s["on_demand_equivalent_usd"],
                s["savings_usd"],
                billing.cameras,
                s["cost_per_camera_usd"],
                s["frames_processed"],
                s["cost_per_1000_frames_usd"],
                md,
            ),
        )
    chart = base64.b64encode(report.chart_png()).decode()
    over = report.categories[report.categories["actual_usd"] > report.categories["budget_usd"]]
    within = s["total_usd"] <= s["budget_usd"] and over.empty
    return MaterializeResult(
        metadata={
            "report": MetadataValue.md(
                md + f"\n\n![actual vs budget](data:image/png;base64,{chart})"
            ),
            "total_usd": s["total_usd"],
            "budget_usd": s["budget_usd"],
            "cost_per_camera_usd": s["cost_per_camera_usd"],
            "cost_per_1000_frames_usd": s["cost_per_1000_frames_usd"],
            "savings_usd": s["savings_usd"],
            "rightsizing_candidates": MetadataValue.int(len(report.rightsizing)),
        },
        check_results=[
            AssetCheckResult(
                check_name="cost_within_budget",
                passed=bool(within),
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "failing_count": len(over) + int(s["total_usd"] > s["budget_usd"]),
                    "examples": MetadataValue.json(
                        over[["category", "budget_usd", "actual_usd"]].to_dict("records")
                    ),
                },
            )
        ],
    )


COST_ASSETS = [cur_billing_export, cluster_usage, cost_report]
