"""Billing generator and cost model: shapes, prices, and report arithmetic on hand-made lines."""

from __future__ import annotations

import pandas as pd
import pytest

from itscam.cost import prices
from itscam.cost.fleet import BUDGET_USD, NODE_POOLS
from itscam.cost.generator import CUR_COLUMNS, generate_month, month_bounds, read_export
from itscam.cost.model import build_report, categorize
from itscam.errors import DataError


def test_budget_matches_the_seed() -> None:
    assert sum(BUDGET_USD.values()) == 150_000
    assert BUDGET_USD == {
        "compute": 80_000,
        "gpu": 30_000,
        "storage": 15_000,
        "network": 10_000,
        "other": 15_000,
    }
    pools = {p.instance_type: (p.min_nodes, p.max_nodes) for p in NODE_POOLS}
    assert pools["g4dn.2xlarge"] == (6, 20) and pools["g4dn.4xlarge"] == (2, 8)
    assert (
        pools["c5.4xlarge"] == (9, 30)
        and pools["r5.2xlarge"] == (3, 9)
        and pools["m5.xlarge"] == (3, 12)
    )


def test_prices_state_their_source_and_are_ordered() -> None:
    assert prices.PRICE_SOURCE_DATE == "2025-01"
    assert "2025" in prices.__doc__ and "us-east-1" in prices.__doc__
    for p in prices.INSTANCE_PRICES.values():
        assert p.spot_typical < p.reserved_1y_no_upfront < p.on_demand


def test_month_bounds() -> None:
    start, end = month_bounds("2024-02")
    assert (end - start).days == 29
    with pytest.raises(DataError):
        month_bounds("February")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_generated_month_is_cur_shaped_and_covers_every_pool(tmp_path, fmt) -> None:
    month = generate_month("2026-02", tmp_path, fmt=fmt, cameras=500, fps=10.0)
    cur = read_export(month.cur_path)
    usage = read_export(month.usage_path)
    assert list(cur.columns) == CUR_COLUMNS
    assert set(cur["resourceTags/user:node-pool"].dropna()) - {""} == {p.name for p in NODE_POOLS}
    assert (cur["lineItem/UnblendedCost"] >= 0).all()
    assert set(cur["pricing/term"]) == {"OnDemand", "Reserved", "Spot"}
    hours = 28 * 24
    assert len(usage) == hours * len(NODE_POOLS)
    for pool in NODE_POOLS:
        nodes = usage.loc[usage["node_pool"] == pool.name, "nodes"]
        assert nodes.min() >= pool.min_nodes and nodes.max() <= pool.max_nodes
    # Spot never on critical pools.
    spot = cur[cur["pricing/term"] == "Spot"]["resourceTags/user:node-pool"]
    assert not set(spot) & {p.name for p in NODE_POOLS if p.critical}
    inference = usage[usage["node_pool"] == "ml-inference"]
    assert inference["frames_processed"].sum() == pytest.approx(500 * 10 * 3600 * hours, rel=0.03)


def test_generator_is_deterministic(tmp_path) -> None:
    a = generate_month("2026-02", tmp_path / "a")
    b = generate_month("2026-02", tmp_path / "b")
    assert a.cur_path.read_bytes() == b.cur_path.read_bytes()


def _line(
    usage_type: str,
    amount: float,
    rate: float,
    od: float,
    term: str,
    pool: str = "",
    instance: str = "",
    product: str = "AmazonEC2",
) -> dict:
    return {
        "lineItem/UsageType": usage_type,
        "lineItem/ProductCode": product,
        "lineItem/UsageAmount": amount,
        "lineItem/UnblendedCost": amount * rate,
        "pricing/publicOnDemandCost": amount * od,
        "pricing/term": term,
        "product/instanceType": instance,
        "resourceTags/user:node-pool": pool,
    }


def test_categories_come_from_product_and_usage_type() -> None:
    cur = pd.DataFrame(
        [
            _line("USE1-BoxUsage:g4dn.2xlarge", 1, 1, 1, "OnDemand", "x", "g4dn.2xlarge"),
            _line("USE1-SpotUsage:c5.4xlarge", 1, 1, 1, "Spot", "x", "c5.4xlarge"),
            _line("USE1-EBS:VolumeUsage.gp3", 1, 1, 1, "OnDemand"),
            _line("USE1-DataTransfer-Out-Bytes", 1, 1, 1, "OnDemand", product="AWSDataTransfer"),
            _line("USE1-AmazonEKS-Hours:perCluster", 1, 1, 1, "OnDemand", product="AmazonEKS"),
        ]
    )
    assert list(categorize(cur)) == ["gpu", "compute", "storage", "network", "other"]


def test_report_arithmetic_on_a_hand_made_month() -> None:
    # 10 hours of a 4-node pool: 2 reserved at 0.5, 1 spot at 0.3, 1 on-demand at 1.0 (on-demand 1.0).
    rows = []
    for _ in range(10):
        rows += [
            _line("USE1-BoxUsage:c5.4xlarge", 2, 0.5, 1.0, "Reserved", "general", "c5.4xlarge"),
            _line("USE1-SpotUsage:c5.4xlarge", 1, 0.3, 1.0, "Spot", "general", "c5.4xlarge"),
            _line("USE1-BoxUsage:c5.4xlarge", 1, 1.0, 1.0, "OnDemand", "general", "c5.4xlarge"),
        ]
    rows.append(_line("USE1-EBS:VolumeUsage.gp3", 100, 0.08, 0.08, "OnDemand"))
    cur = pd.DataFrame(rows)
    usage = pd.DataFrame(
        {
            "hour": pd.date_range("2026-01-01", periods=10, freq="h", tz="UTC"),
            "node_pool": "general",
            "instance_type": "c5.4xlarge",
            "nodes": 4,
            "gpus": 0,
            "cpu_util": 0.3,
            "mem_util": 0.4,
            "gpu_util": None,
            "frames_processed": 1_000_000,
            "cameras_online": 10,
        }
    )
    report = build_report("2026-01", cur, usage, cameras=10)
    cats = report.categories.set_index("category")
    assert cats.loc["compute", "actual_usd"] == pytest.approx(10 * (1.0 + 0.3 + 1.0))
    assert cats.loc["storage", "actual_usd"] == pytest.approx(8.0)
    assert cats.loc["gpu", "actual_usd"] == 0
    pool = report.pools.set_index("node_pool").loc["general"]
    assert pool.steady_state_nodes == 4
    assert pool.reserved_coverage == pytest.approx(
        0.5
    )  # 2 of 4 steady nodes: under the 60 % target
    assert pool.spot_share == pytest.approx(0.25)
    assert pool.savings_usd == pytest.approx(10 * (2 * 0.5 + 0.7))
    assert "RI coverage below 60%" in pool.status
    s = report.summary
    assert s["total_usd"] == pytest.approx(31.0)
    assert s["cost_per_camera_usd"] == pytest.approx(3.1)
    assert s["cost_per_1000_frames_usd"] == pytest.approx(31.0 / 10_000)
    over = report.rightsizing.set_index("node_pool").loc["general"]
    assert over.finding == "over-provisioned"  # p95 CPU 30 % < 50 %
    md = report.markdown()
    assert "| compute |" in md and "2025-01" in md
    assert report.chart_png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_rejects_a_file_that_is_not_a_cur() -> None:
    with pytest.raises(DataError, match="CUR column"):
        build_report("2026-01", pd.DataFrame({"a": [1]}), pd.DataFrame(), cameras=1)
