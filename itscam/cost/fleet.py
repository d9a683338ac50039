"""The seed's node pools and monthly budget (seed: Kubernetes Infrastructure, Cost Optimization)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodePool:
    """One Kubernetes node pool.

    ``critical`` pools serve live traffic and must not run on spot;
    ``reserved_nodes`` is the reserved-instance purchase currently held for it.
    """

    name: str
    instance_type: str
    min_nodes: int
    max_nodes: int
    category: str  # budget category: "gpu" or "compute"
    critical: bool
    reserved_nodes: int
    spot_share_of_burst: float  # share of nodes above min that run on spot
    workload: str  # demand shape: "traffic", "training", "steady"


NODE_POOLS: tuple[NodePool, ...] = (
    NodePool("ml-inference", "g4dn.2xlarge", 6, 20, "gpu", True, 4, 0.0, "traffic"),
    NodePool("gpu-heavy", "g4dn.4xlarge", 2, 8, "gpu", False, 0, 0.7, "training"),
    NodePool("general", "c5.4xlarge", 9, 30, "compute", False, 5, 0.5, "traffic"),
    NodePool("database", "r5.2xlarge", 3, 9, "compute", True, 3, 0.0, "steady"),
    NodePool("edge-gateway", "m5.xlarge", 3, 12, "compute", True, 1, 0.0, "traffic"),
    NodePool("control-plane", "c5.2xlarge", 3, 3, "compute", True, 3, 0.0, "steady"),
)

#: Monthly budget in USD by category (seed: total 150,000).
BUDGET_USD: dict[str, float] = {
    "compute": 80_000.0,
    "gpu": 30_000.0,
    "storage": 15_000.0,
    "network": 10_000.0,
    "other": 15_000.0,
}
#: Reserved instances should cover this share of each pool's steady state.
RESERVED_TARGET = 0.60
#: Spot may carry at most this share of a non-critical pool's hours.
SPOT_LIMIT = 0.40
