"""The production overlay at its autoscaling ceilings fits into the seed's node
pools at their maximum sizes (requests only; a scheduler's view)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import yaml

from tests.unit.deploy.factories import DEPLOY, find, quantity

#: vCPU, GiB and GPUs per instance type (AWS specifications); the allocatable
#: share leaves room for the kubelet, system daemons and eviction thresholds.
INSTANCES = {
    "c5.2xlarge": (8, 16, 0),
    "c5.4xlarge": (16, 32, 0),
    "g4dn.2xlarge": (8, 32, 1),
    "g4dn.4xlarge": (16, 64, 1),
    "r5.2xlarge": (8, 64, 0),
    "m5.xlarge": (4, 16, 0),
}
ALLOCATABLE_CPU = 0.94
ALLOCATABLE_MEMORY = 0.90
GPU_SLICES = 3  # helm-values/gpu-operator.yaml: time-slicing replicas per T4
GIB = 2**30


def _pools() -> dict[str, dict[str, Any]]:
    cfg = yaml.safe_load((DEPLOY / "cluster" / "eksctl-cluster.yaml").read_text())
    return {g["name"]: g for g in cfg["managedNodeGroups"]}


def _node(pool: dict[str, Any]) -> tuple[float, float, int]:
    cpu, mem, gpu = INSTANCES[pool.get("instanceType") or pool["instanceTypes"][0]]
    return cpu * ALLOCATABLE_CPU, mem * GIB * ALLOCATABLE_MEMORY, gpu * GPU_SLICES


def _max_replicas(docs: tuple[dict[str, Any], ...], kind: str, name: str, replicas: int) -> int:
    for hpa in find(docs, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            return int(hpa["spec"]["maxReplicas"])
    for so in find(docs, "ScaledObject"):
        if so["spec"]["scaleTargetRef"]["name"] == name:
            return int(so["spec"]["maxReplicaCount"])
    return replicas


def _demand(
    docs: tuple[dict[str, Any], ...],
) -> dict[str, list[tuple[str, int, float, float, int]]]:
    """pool -> [(what, count, cpu, memory bytes, gpu)] at the autoscaling ceilings."""
    out: dict[str, list[tuple[str, int, float, float, int]]] = defaultdict(list)
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            spec = d["spec"]["template"]["spec"]
            pool = spec.get("nodeSelector", {}).get("itscam.io/pool", "general")
            req = [c["resources"]["requests"] for c in spec["containers"]]
            count = _max_replicas(docs, d["kind"], d["metadata"]["name"], d["spec"]["replicas"])
            out[pool].append(
                (
                    d["metadata"]["name"],
                    count,
                    sum(quantity(r["cpu"]) for r in req),
                    sum(quantity(r["memory"]) for r in req),
                    sum(int(r.get("nvidia.com/gpu", 0)) for r in req),
                )
            )
        elif d["kind"] == "KafkaNodePool":
            r = d["spec"]["resources"]["requests"]
            out["general"].append(
                (
                    f"kafka-{d['metadata']['name']}",
                    d["spec"]["replicas"],
                    quantity(r["cpu"]),
                    quantity(r["memory"]),
                    0,
                )
            )
        elif d["kind"] == "Pooler":
            r = d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
            out["general"].append(
                (
                    d["metadata"]["name"],
                    d["spec"]["instances"],
                    quantity(r["cpu"]),
                    quantity(r["memory"]),
                    0,
                )
            )
        elif d["kind"] == "Cluster":
            r = d["spec"]["resources"]["requests"]
            out["database"].append(
                (
                    d["metadata"]["name"],
                    d["spec"]["instances"],
                    quantity(r["cpu"]),
                    quantity(r["memory"]),
                    0,
                )
            )
    return out


def test_production_ceilings_fit_the_seed_pools(rendered: Any) -> None:
    pools = _pools()
    for pool, items in _demand(rendered("production")).items():
        cpu, mem, gpu = _node(pools[pool])
        n = pools[pool]["maxSize"]
        for name, _, c, m, g in items:
            assert c <= cpu and m <= mem and g <= max(gpu, 0), (
                f"{name} does not fit one {pool} node"
            )
        total_cpu = sum(count * c for _, count, c, _, _ in items)
        total_mem = sum(count * m for _, count, _, m, _ in items)
        total_gpu = sum(count * g for _, count, _, _, g in items)
        assert total_cpu <= n * cpu, f"{pool}: {total_cpu:.0f} vCPU requested > {n * cpu:.0f}"
        assert total_mem <= n * mem, (
            f"{pool}: {total_mem / GIB:.0f} GiB requested > {n * mem / GIB:.0f}"
        )
        assert total_gpu <= n * gpu, f"{pool}: {total_gpu} GPU slices requested > {n * gpu}"


def test_database_nodes_pack_one_postgres_and_one_redis(rendered: Any) -> None:
    # 8 PostgreSQL instances and 6 Redis nodes on at most 9 nodes: a node must
    # hold one of each.
    docs = rendered("production")
    _, mem, _ = _node(_pools()["database"])
    pg = quantity(find(docs, "Cluster", "itscam-pg")[0]["spec"]["resources"]["requests"]["memory"])
    redis = find(docs, "StatefulSet", "redis-cluster")[0]["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert pg + quantity(redis["resources"]["requests"]["memory"]) <= mem


def test_the_seed_inference_ceiling_needs_the_gpu_time_slicing(rendered: Any) -> None:
    ops = yaml.safe_load((DEPLOY / "helm-values" / "gpu-operator.yaml").read_text())
    slicing = yaml.safe_load(ops["devicePlugin"]["config"]["data"]["t4"])
    assert slicing["sharing"]["timeSlicing"]["resources"][0]["replicas"] == GPU_SLICES
    triton_max = find(rendered("production"), "HorizontalPodAutoscaler", "triton")[0]["spec"][
        "maxReplicas"
    ]
    nodes = _pools()["ml-inference"]["maxSize"]
    assert nodes < triton_max <= nodes * GPU_SLICES
    tag = _pools()["ml-inference"]["tags"][
        "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"
    ]
    assert int(tag) == GPU_SLICES


EDGE_SITES = {
    "primary": "edge-sites/primary-site",
    "gpu": "edge-sites/gpu-site",
    "micro": "edge-sites/micro-site",
}


def test_each_edge_site_fits_one_node_of_its_profile(rendered: Any) -> None:
    from tests.unit.deploy.factories import one, seed

    for profile, overlay in EDGE_SITES.items():
        docs = rendered(overlay)
        _, _, instance, _ = seed().edge_nodes[profile]
        assert (
            one(docs, "ConfigMap", "itscam-config", "itscam-edge")["data"]["ITSCAM_EDGE_NODE_TYPE"]
            == instance
        )
        vcpu, mem_gib, gpus = {
            "m5.2xlarge": (8, 32, 0),
            "g4dn.xlarge": (4, 16, 1),
            "m5.large": (2, 8, 0),
        }[instance]
        cpu = mem = 0.0
        gpu = 0
        for d in docs:
            if d["kind"] in ("Deployment", "StatefulSet"):
                for c in d["spec"]["template"]["spec"]["containers"]:
                    r = c["resources"]["requests"]
                    cpu += d["spec"]["replicas"] * quantity(r["cpu"])
                    mem += d["spec"]["replicas"] * quantity(r["memory"])
                    gpu += d["spec"]["replicas"] * int(r.get("nvidia.com/gpu", 0))
            elif d["kind"] in ("KafkaNodePool", "KafkaMirrorMaker2"):
                r = d["spec"]["resources"]["requests"]
                cpu += d["spec"]["replicas"] * quantity(r["cpu"])
                mem += d["spec"]["replicas"] * quantity(r["memory"])
        assert cpu <= vcpu * ALLOCATABLE_CPU, f"{profile}: {cpu:.2f} vCPU > one {instance}"
        assert mem <= mem_gib * GIB * ALLOCATABLE_MEMORY, (
            f"{profile}: {mem / GIB:.1f} GiB > one {instance}"
        )
        assert gpu <= gpus * GPU_SLICES, f"{profile}: {gpu} GPU slices"
