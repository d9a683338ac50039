"""Cost model: a month of CUR lines and cluster usage -> the report operations read.

Inputs are pandas frames shaped as :mod:`itscam.cost.generator` writes them
(legacy CUR column names; one usage row per node pool and hour). Outputs:

- actual vs budget per category (compute, gpu, storage, network, other);
- per node pool: steady state (10th percentile of hourly nodes), reserved
  coverage of that steady state (target 60 %), spot share of node-hours
  (at most 40 %, and none on critical pools), savings against public
  on-demand prices;
- cost per camera and per thousand frames;
- right-sizing candidates: GPU pools whose GPUs idle (mean utilisation below
  ``IDLE_GPU_UTIL``) and pools whose 95th-percentile CPU stays below
  ``OVERPROVISIONED_P95`` (with the node floor that would reach ``TARGET_UTIL``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from itscam.cost.fleet import BUDGET_USD, NODE_POOLS, RESERVED_TARGET, SPOT_LIMIT
from itscam.cost.prices import INSTANCE_PRICES, PRICE_SOURCE_DATE
from itscam.errors import DataError

IDLE_GPU_UTIL = 0.35
OVERPROVISIONED_P95 = 0.50
TARGET_UTIL = 0.70
HOURS_PER_MONTH = 730.0

REQUIRED = (
    "lineItem/UsageAmount",
    "lineItem/UnblendedCost",
    "lineItem/ProductCode",
    "lineItem/UsageType",
)


@dataclass
class CostReport:
    period: str
    categories: (
        pd.DataFrame
    )  # category, budget_usd, actual_usd, on_demand_usd, variance_usd, pct_of_budget
    pools: pd.DataFrame  # node_pool, ... coverage and savings
    rightsizing: pd.DataFrame  # node_pool, finding, detail, est_monthly_savings_usd
    summary: dict[str, float] = field(default_factory=dict)

    def markdown(self) -> str:
        s = self.summary
        out = [
            f"## Cost report {self.period}",
            "",
            f"Total **${s['total_usd']:,.0f}** of the **${s['budget_usd']:,.0f}** budget "
            f"({100 * s['total_usd'] / s['budget_usd']:.1f} %). "
            f"Cost per camera ${s['cost_per_camera_usd']:,.2f}; per 1000 frames ${s['cost_per_1000_frames_usd']:.5f}. "
            f"Reserved/spot savings vs on-demand ${s['savings_usd']:,.0f}. Prices: AWS public list, {PRICE_SOURCE_DATE}.",
            "",
            "| category | budget | actual | variance | % of budget |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in self.categories.itertuples():
            out.append(
                f"| {r.category} | {r.budget_usd:,.0f} | {r.actual_usd:,.0f} | {r.variance_usd:+,.0f} "
                f"| {r.pct_of_budget:.1f} |"
            )
        out += [
            "",
            "| pool | steady nodes | reserved | RI coverage | spot share | savings | status |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in self.pools.itertuples():
            out.append(
                f"| {r.node_pool} | {r.steady_state_nodes:.0f} | {r.reserved_nodes:.1f} "
                f"| {100 * r.reserved_coverage:.0f} % | {100 * r.spot_share:.0f} % "
                f"| {r.savings_usd:,.0f} | {r.status} |"
            )
        out += ["", "**Right-sizing candidates**", ""]
        if self.rightsizing.empty:
            out.append("none")
        for r in self.rightsizing.itertuples():
            out.append(
                f"- `{r.node_pool}` {r.finding}: {r.detail} (about ${r.est_monthly_savings_usd:,.0f}/month)"
            )
        return "\n".join(out)

    def chart_png(self) -> bytes:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 2.8), dpi=80)
        x = np.arange(len(self.categories))
        ax.bar(
            x - 0.2,
            self.categories["budget_usd"] / 1000,
            width=0.4,
            label="budget",
            color="#bab0ac",
        )
        ax.bar(
            x + 0.2,
            self.categories["actual_usd"] / 1000,
            width=0.4,
            label="actual",
            color="#4c78a8",
        )
        ax.set_xticks(x, self.categories["category"])
        ax.set_ylabel("k USD / month")
        ax.set_title(f"Actual vs budget {self.period}", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()


def categorize(cur: pd.DataFrame) -> pd.Series:
    """Budget category of each line from its product and usage type (tags are not trusted)."""
    usage_type = cur["lineItem/UsageType"].astype(str)
    product = cur["lineItem/ProductCode"].astype(str)
    instance = (
        cur.get("product/instanceType", pd.Series("", index=cur.index)).fillna("").astype(str)
    )
    is_instance = usage_type.str.contains("BoxUsage|SpotUsage", regex=True)
    gpu_types = {t for t, p in INSTANCE_PRICES.items() if p.gpus}
    cat = np.select(
        [
            is_instance & instance.isin(gpu_types),
            is_instance,
            usage_type.str.contains("EBS:|TimedStorage", regex=True) | (product == "AmazonS3"),
            usage_type.str.contains("DataTransfer|NatGateway", regex=True)
            | (product == "AWSDataTransfer"),
        ],
        ["gpu", "compute", "storage", "network"],
        default="other",
    )
    return pd.Series(cat, index=cur.index)


def build_report(
    period: str,
    cur: pd.DataFrame,
    usage: pd.DataFrame,
    *,
    cameras: int,
    budget: dict[str, float] | None = None,
) -> CostReport:
    missing = [c for c in REQUIRED if c not in cur.columns]
    if missing:
        raise DataError(
            f"billing export for {period} lacks CUR column(s) {missing}; is it a Cost and Usage Report?"
        )
    if cur.empty:
        raise DataError(f"billing export for {period} has no lines")
    budget = budget or BUDGET_USD
    cur = cur.copy()
    cur["category"] = categorize(cur)
    cost = cur["lineItem/UnblendedCost"].astype(float)
    od = cur.get("pricing/publicOnDemandCost", cost).astype(float)
    by_cat = pd.DataFrame(
        {
            "actual_usd": cost.groupby(cur["category"]).sum(),
            "on_demand_usd": od.groupby(cur["category"]).sum(),
        }
    )
    categories = pd.DataFrame({"category": list(budget)})
    categories["budget_usd"] = [budget[c] for c in categories["category"]]
    categories = categories.merge(by_cat, left_on="category", right_index=True, how="left").fillna(
        0.0
    )
    categories["variance_usd"] = categories["actual_usd"] - categories["budget_usd"]
    categories["pct_of_budget"] = 100.0 * categories["actual_usd"] / categories["budget_usd"]

    pool_col = "resourceTags/user:node-pool"
    instance_lines = cur[
        cur["lineItem/UsageType"].astype(str).str.contains("BoxUsage|SpotUsage", regex=True)
    ]
    term = instance_lines.get("pricing/term", pd.Series("OnDemand", index=instance_lines.index))
    hours_in_month = max(1, usage["hour"].nunique()) if not usage.empty else HOURS_PER_MONTH
    critical = {p.name: p.critical for p in NODE_POOLS}
    pools = []
    for pool, lines in instance_lines.groupby(pool_col):
        t = term.loc[lines.index]
        amount = lines["lineItem/UsageAmount"].astype(float)
        node_hours = amount.sum()
        reserved_hours = amount[t == "Reserved"].sum()
        spot_hours = amount[t == "Spot"].sum()
        nodes = usage.loc[usage["node_pool"] == pool, "nodes"]
        steady = float(np.percentile(nodes, 10)) if len(nodes) else node_hours / hours_in_month
        reserved_nodes = reserved_hours / hours_in_month
        coverage = reserved_nodes / steady if steady else 0.0
        spot_share = spot_hours / node_hours if node_hours else 0.0
        savings = float(
            lines["pricing/publicOnDemandCost"].astype(float).sum()
            - lines["lineItem/UnblendedCost"].astype(float).sum()
        )
        problems = []
        if coverage < RESERVED_TARGET - 1e-9:
            problems.append(f"RI coverage below {RESERVED_TARGET:.0%}")
        if critical.get(str(pool), False) and spot_hours > 0:
            problems.append("spot on a critical pool")
        elif spot_share > SPOT_LIMIT + 1e-9:
            problems.append(f"spot above {SPOT_LIMIT:.0%}")
        pools.append(
            {
                "node_pool": pool,
                "node_hours": node_hours,
                "steady_state_nodes": steady,
                "reserved_nodes": reserved_nodes,
                "reserved_coverage": coverage,
                "spot_share": spot_share,
                "actual_usd": float(lines["lineItem/UnblendedCost"].astype(float).sum()),
                "savings_usd": savings,
                "status": "; ".join(problems) or "ok",
            }
        )
    pools_df = pd.DataFrame(pools)

    findings = []
    for pool, rows in usage.groupby("node_pool"):
        instance = str(rows["instance_type"].iloc[0])
        price = INSTANCE_PRICES.get(instance)
        if price is None:
            continue
        if price.gpus and rows["gpu_util"].notna().any():
            util = float(np.average(rows["gpu_util"].fillna(0), weights=rows["gpus"].clip(lower=1)))
            if util < IDLE_GPU_UTIL:
                idle_gpu_hours = float(((1 - rows["gpu_util"].fillna(0)) * rows["gpus"]).sum())
                findings.append(
                    {
                        "node_pool": pool,
                        "finding": "idle GPUs",
                        "detail": f"mean GPU utilisation {util:.0%}; {idle_gpu_hours:,.0f} idle GPU-hours",
                        "est_monthly_savings_usd": idle_gpu_hours
                        * price.on_demand
                        * 0.5
                        / max(price.gpus, 1),
                    }
                )
        p95 = float(np.percentile(rows["cpu_util"], 95))
        if p95 < OVERPROVISIONED_P95:
            peak = int(rows["nodes"].max())
            suggested = max(1, math.ceil(peak * p95 / TARGET_UTIL))
            saved_nodes = max(0, peak - suggested)
            findings.append(
                {
                    "node_pool": pool,
                    "finding": "over-provisioned",
                    "detail": f"p95 CPU {p95:.0%} at up to {peak} nodes; {suggested} would run at {TARGET_UTIL:.0%}",
                    "est_monthly_savings_usd": float(
                        saved_nodes * price.on_demand * hours_in_month * 0.3
                    ),
                }
            )
    rightsizing = pd.DataFrame(
        findings, columns=["node_pool", "finding", "detail", "est_monthly_savings_usd"]
    )

    total = float(cost.sum())
    frames = float(usage["frames_processed"].sum()) if "frames_processed" in usage else 0.0
    summary = {
        "total_usd": total,
        "budget_usd": float(sum(budget.values())),
        "on_demand_equivalent_usd": float(od.sum()),
        "savings_usd": float(od.sum() - total),
        "cost_per_camera_usd": total / cameras if cameras else float("nan"),
        "frames_processed": frames,
        "cost_per_1000_frames_usd": total / (frames / 1000.0) if frames else float("nan"),
    }
    return CostReport(period, categories, pools_df, rightsizing, summary)
