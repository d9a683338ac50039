"""A realistic month of AWS Cost and Usage Report (CUR) lines for the seed's fleet.

The export uses the legacy CUR column names (``lineItem/UsageStartDate``,
``lineItem/UnblendedCost``, ``pricing/publicOnDemandCost``,
``reservation/EffectiveCost``, ``resourceTags/user:node-pool``, ...), one line
per hour, node pool and purchase option for EC2, daily lines for storage and
network. Demand follows the traffic day (morning and evening peaks) for
inference, general and edge pools, a nightly batch for training, and is flat
for databases and the control plane. A cluster-usage file (node counts and
CPU/GPU/memory utilisation per pool and hour, frames processed) accompanies
it, as a cluster's metrics exporter would write it.

Prices: :mod:`itscam.cost.prices` (public list prices, source date stated there).
"""

from __future__ import annotations

import argparse
import calendar
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from itscam.cost import prices as P
from itscam.cost.fleet import NODE_POOLS, NodePool
from itscam.errors import DataError

CUR_COLUMNS = [
    "identity/LineItemId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "pricing/publicOnDemandRate",
    "pricing/publicOnDemandCost",
    "pricing/term",
    "product/instanceType",
    "product/region",
    "reservation/EffectiveCost",
    "resourceTags/user:node-pool",
    "resourceTags/user:cost-category",
]

USAGE_COLUMNS = [
    "hour",
    "node_pool",
    "instance_type",
    "nodes",
    "gpus",
    "cpu_util",
    "mem_util",
    "gpu_util",
    "frames_processed",
    "cameras_online",
]


@dataclass(frozen=True)
class GeneratedMonth:
    cur_path: Path
    usage_path: Path
    rows: int


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """``"2026-11"`` -> (first instant of the month, first instant of the next), UTC."""
    try:
        year, month = (int(x) for x in period.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
    except ValueError:
        raise DataError(f"billing period must look like YYYY-MM, got {period!r}") from None
    days = calendar.monthrange(year, month)[1]
    return start, start + timedelta(days=days)


def traffic_demand(hour_of_day: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Relative traffic (0..1): morning (8 h) and evening (17 h) peaks, quieter weekends."""
    morning = np.exp(-0.5 * ((hour_of_day - 8.0) / 1.6) ** 2)
    evening = np.exp(-0.5 * ((hour_of_day - 17.5) / 2.0) ** 2)
    day = 0.25 + 0.55 * np.clip(np.sin(np.pi * (hour_of_day - 5.0) / 18.0), 0, None)
    level = np.clip(np.maximum(day, 0.9 * np.maximum(morning, evening)), 0.1, 1.0)
    return np.where(weekday >= 5, level * 0.7, level)


def _pool_nodes(pool: NodePool, hours: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    hod = hours.hour.to_numpy().astype(float)
    dow = hours.weekday.to_numpy()
    if pool.workload == "traffic":
        demand = traffic_demand(hod, dow)
    elif pool.workload == "training":
        demand = np.where((hod >= 22) | (hod < 6), 0.85, 0.1)
    else:
        demand = np.full(len(hours), 0.15)
    demand = np.clip(demand + rng.normal(0, 0.05, len(hours)), 0, 1)
    span = pool.max_nodes - pool.min_nodes
    # The autoscaler keeps ~70 % headroom-free utilisation, so it needs ~0.85 of peak at peak.
    return np.clip(
        np.round(pool.min_nodes + span * 0.85 * demand), pool.min_nodes, pool.max_nodes
    ).astype(int)


def generate_month(
    period: str,
    out_dir: Path,
    *,
    cameras: int = 1000,
    fps: float = 10.0,
    seed: int = 7,
    fmt: str = "csv",
) -> GeneratedMonth:
    """Write ``cur-<period>.<fmt>`` and ``usage-<period>.<fmt>`` into ``out_dir``."""
    if fmt not in ("csv", "parquet"):
        raise DataError(f"format must be csv or parquet, got {fmt!r}")
    start, end = month_bounds(period)
    rng = np.random.default_rng(seed + start.year * 12 + start.month)
    hours = pd.date_range(start, end, freq="h", inclusive="left", tz="UTC")
    lines: list[dict[str, object]] = []
    usage: list[pd.DataFrame] = []
    bill = {
        "bill/BillingPeriodStartDate": start.isoformat(),
        "bill/BillingPeriodEndDate": end.isoformat(),
    }

    def line(
        ts: datetime,
        dur: timedelta,
        product: str,
        usage_type: str,
        operation: str,
        resource: str,
        amount: float,
        rate: float,
        od_rate: float,
        term: str,
        item_type: str,
        category: str,
        pool: str = "",
        instance: str = "",
    ) -> None:
        cost = amount * rate
        lines.append(
            {
                **bill,
                "identity/LineItemId": f"{len(lines):012x}",
                "lineItem/LineItemType": item_type,
                "lineItem/UsageStartDate": ts.isoformat(),
                "lineItem/UsageEndDate": (ts + dur).isoformat(),
                "lineItem/ProductCode": product,
                "lineItem/UsageType": usage_type,
                "lineItem/Operation": operation,
                "lineItem/ResourceId": resource,
                "lineItem/UsageAmount": round(amount, 6),
                "lineItem/UnblendedRate": round(rate, 6),
                "lineItem/UnblendedCost": round(cost, 6),
                "pricing/publicOnDemandRate": od_rate,
                "pricing/publicOnDemandCost": round(amount * od_rate, 6),
                "pricing/term": term,
                "product/instanceType": instance,
                "product/region": P.REGION,
                "reservation/EffectiveCost": round(cost, 6)
                if item_type == "DiscountedUsage"
                else 0.0,
                "resourceTags/user:node-pool": pool,
                "resourceTags/user:cost-category": category,
            }
        )

    hod = hours.hour.to_numpy().astype(float)
    traffic = traffic_demand(hod, hours.weekday.to_numpy())
    for pool in NODE_POOLS:
        price = P.INSTANCE_PRICES[pool.instance_type]
        nodes = _pool_nodes(pool, hours, rng)
        resource = f"arn:aws:eks:{P.REGION}:000000000000:nodegroup/itscam/{pool.name}"
        spot_scale = 1.0 + rng.uniform(-0.15, 0.15, len(hours))
        for i, ts in enumerate(hours):
            n = int(nodes[i])
            reserved = min(n, pool.reserved_nodes)
            burst = n - reserved
            spot = math.floor(burst * pool.spot_share_of_burst) if not pool.critical else 0
            on_demand = burst - spot
            one_hour = timedelta(hours=1)
            if reserved:
                line(
                    ts,
                    one_hour,
                    "AmazonEC2",
                    f"{P.REGION_PREFIX}-BoxUsage:{pool.instance_type}",
                    "RunInstances",
                    resource,
                    reserved,
                    price.reserved_1y_no_upfront,
                    price.on_demand,
                    "Reserved",
                    "DiscountedUsage",
                    pool.category,
                    pool.name,
                    pool.instance_type,
                )
            if on_demand:
                line(
                    ts,
                    one_hour,
                    "AmazonEC2",
                    f"{P.REGION_PREFIX}-BoxUsage:{pool.instance_type}",
                    "RunInstances",
                    resource,
                    on_demand,
                    price.on_demand,
                    price.on_demand,
                    "OnDemand",
                    "Usage",
                    pool.category,
                    pool.name,
                    pool.instance_type,
                )
            if spot:
                line(
                    ts,
                    one_hour,
                    "AmazonEC2",
                    f"{P.REGION_PREFIX}-SpotUsage:{pool.instance_type}",
                    "RunInstances:SV001",
                    resource,
                    spot,
                    price.spot_typical * spot_scale[i],
                    price.on_demand,
                    "Spot",
                    "Usage",
                    pool.category,
                    pool.name,
                    pool.instance_type,
                )
        if pool.workload == "traffic":
            load = traffic
        elif pool.workload == "training":
            load = np.where((hod >= 22) | (hod < 6), 0.8, 0.05)
        else:
            load = np.full(len(hours), 0.3)
        cap = nodes / pool.max_nodes
        cpu = np.clip(
            load / np.maximum(cap, 1e-6) * 0.55 + rng.normal(0, 0.03, len(hours)), 0.03, 0.97
        )
        frame = pd.DataFrame(
            {
                "hour": hours,
                "node_pool": pool.name,
                "instance_type": pool.instance_type,
                "nodes": nodes,
                "gpus": nodes * price.gpus,
                "cpu_util": cpu.round(3),
                "mem_util": np.clip(cpu * 0.8 + 0.15, 0, 0.98).round(3),
                "gpu_util": (np.clip(cpu * 0.75, 0, 0.99).round(3) if price.gpus else np.nan),
                "frames_processed": 0,
                "cameras_online": 0,
            }
        )
        if pool.name == "ml-inference":
            online = np.clip(
                np.round(cameras * (0.985 + rng.normal(0, 0.004, len(hours)))), 0, cameras
            )
            frame["cameras_online"] = online.astype(int)
            frame["frames_processed"] = (online * fps * 3600).astype(np.int64)
        usage.append(frame)

    days = pd.date_range(start, end, freq="D", inclusive="left", tz="UTC")
    month_days = len(days)
    one_day = timedelta(days=1)
    for ts in days:
        ebs_gb, s3_gb = 170_000.0, 50_000.0
        line(
            ts,
            one_day,
            "AmazonEC2",
            f"{P.REGION_PREFIX}-EBS:VolumeUsage.gp3",
            "CreateVolume-Gp3",
            "ebs-fleet",
            ebs_gb / month_days,
            P.EBS_GP3_GB_MONTH,
            P.EBS_GP3_GB_MONTH,
            "OnDemand",
            "Usage",
            "storage",
        )
        line(
            ts,
            one_day,
            "AmazonS3",
            f"{P.REGION_PREFIX}-TimedStorage-ByteHrs",
            "StandardStorage",
            "itscam-archive",
            s3_gb / month_days,
            P.S3_STANDARD_GB_MONTH,
            P.S3_STANDARD_GB_MONTH,
            "OnDemand",
            "Usage",
            "storage",
        )
        weekday_load = 0.75 if ts.weekday() >= 5 else 1.0
        out_gb = 2_000.0 * weekday_load * rng.uniform(0.9, 1.1)
        first = min(out_gb, 10_000.0 / month_days)
        line(
            ts,
            one_day,
            "AWSDataTransfer",
            f"{P.REGION_PREFIX}-DataTransfer-Out-Bytes",
            "RunInstances",
            "egress",
            first,
            P.DATA_OUT_FIRST_10TB_GB,
            P.DATA_OUT_FIRST_10TB_GB,
            "OnDemand",
            "Usage",
            "network",
        )
        line(
            ts,
            one_day,
            "AWSDataTransfer",
            f"{P.REGION_PREFIX}-DataTransfer-Out-Bytes",
            "RunInstances",
            "egress",
            out_gb - first,
            P.DATA_OUT_NEXT_40TB_GB,
            P.DATA_OUT_NEXT_40TB_GB,
            "OnDemand",
            "Usage",
            "network",
        )
        line(
            ts,
            one_day,
            "AWSDataTransfer",
            f"{P.REGION_PREFIX}-DataTransfer-Regional-Bytes",
            "InterZone-In",
            "inter-az",
            7_000.0 * weekday_load * rng.uniform(0.9, 1.1),
            P.INTER_AZ_GB * 2,
            P.INTER_AZ_GB * 2,
            "OnDemand",
            "Usage",
            "network",
        )
        line(
            ts,
            one_day,
            "AmazonEC2",
            f"{P.REGION_PREFIX}-NatGateway-Hours",
            "NatGateway",
            "nat",
            3 * 24.0,
            P.NAT_GATEWAY_HOUR,
            P.NAT_GATEWAY_HOUR,
            "OnDemand",
            "Usage",
            "network",
        )
        line(
            ts,
            one_day,
            "AmazonEC2",
            f"{P.REGION_PREFIX}-NatGateway-Bytes",
            "NatGateway",
            "nat",
            700.0 * weekday_load,
            P.NAT_GATEWAY_GB,
            P.NAT_GATEWAY_GB,
            "OnDemand",
            "Usage",
            "network",
        )
        line(
            ts,
            one_day,
            "AmazonEKS",
            f"{P.REGION_PREFIX}-AmazonEKS-Hours:perCluster",
            "CreateOperation",
            "eks-itscam",
            24.0,
            P.EKS_CLUSTER_HOUR,
            P.EKS_CLUSTER_HOUR,
            "OnDemand",
            "Usage",
            "other",
        )
        line(
            ts,
            one_day,
            "AmazonCloudWatch",
            f"{P.REGION_PREFIX}-DataProcessing-Bytes",
            "PutLogEvents",
            "logs",
            160.0 * weekday_load * rng.uniform(0.9, 1.1),
            P.CLOUDWATCH_LOGS_GB,
            P.CLOUDWATCH_LOGS_GB,
            "OnDemand",
            "Usage",
            "other",
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    cur = pd.DataFrame(lines, columns=CUR_COLUMNS)
    use = pd.concat(usage, ignore_index=True)[USAGE_COLUMNS]
    cur_path = out_dir / f"cur-{period}.{fmt}"
    usage_path = out_dir / f"usage-{period}.{fmt}"
    if fmt == "csv":
        cur.to_csv(cur_path, index=False)
        use.to_csv(usage_path, index=False)
    else:
        cur.to_parquet(cur_path, index=False)
        use.to_parquet(usage_path, index=False)
    return GeneratedMonth(cur_path, usage_path, len(cur))


def read_export(path: Path) -> pd.DataFrame:
    """Read one CUR or usage file (CSV or Parquet), or fail saying what is wrong with it."""
    if not path.exists():
        raise DataError(f"billing file {path} does not exist")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"cannot read billing file {path}: {exc}") from None
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic CUR-shaped billing month.")
    parser.add_argument("period", help="YYYY-MM")
    parser.add_argument("--out", type=Path, default=Path(".itscam/billing"))
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    args = parser.parse_args(argv)
    month = generate_month(args.period, args.out, cameras=args.cameras, fmt=args.format)
    print(f"{month.cur_path} ({month.rows} lines), {month.usage_path}")
    return 0
