"""The flows the system needs are allowed by the NetworkPolicies, and a flow it
does not need is not: a small evaluator of Kubernetes NetworkPolicy semantics
(pod and namespace selectors, ports; ipBlocks never match pods)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.deploy.factories import find, selector_matches

Pod = tuple[str, dict[str, str]]  # (namespace, labels)


def _peer_matches(peer: dict[str, Any], own_ns: str, other: Pod) -> bool:
    ns, labels = other
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        ns_ok = selector_matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ns})
    else:
        ns_ok = ns == own_ns
    return ns_ok and selector_matches(peer.get("podSelector", {}), labels)


def _port_ok(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(p.get("port") == port for p in rule["ports"])


def _allowed(
    policies: list[dict[str, Any]], pod: Pod, other: Pod, port: int, direction: str
) -> bool:
    ns, labels = pod
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == ns
        and direction in p["spec"]["policyTypes"]
        and selector_matches(p["spec"]["podSelector"], labels)
    ]
    if not selecting:
        return True
    return any(
        _port_ok(rule, port)
        and (
            ("to" not in rule and "from" not in rule)
            or any(_peer_matches(peer, ns, other) for peer in rule.get(peers, []))
        )
        for p in selecting
        for rule in p["spec"].get(key, [])
    )


def flow_allowed(docs: Any, src: Pod, dst: Pod, port: int) -> bool:
    policies = find(docs, "NetworkPolicy")
    return _allowed(policies, src, dst, port, "Egress") and _allowed(
        policies, dst, src, port, "Ingress"
    )


def app(name: str, **extra: str) -> Pod:
    return ("itscam", {"app.kubernetes.io/name": name, **extra})


WORKER = {"itscam.io/kafka-client": "true"}
KAFKA = ("itscam-data", {"strimzi.io/cluster": "itscam-kafka", "strimzi.io/kind": "Kafka"})
PG = ("itscam-data", {"cnpg.io/cluster": "itscam-pg"})
POOLER = ("itscam-data", {"cnpg.io/poolerName": "itscam-pg-pooler-rw"})
REDIS = ("itscam-data", {"app.kubernetes.io/name": "redis-cluster"})
RELAY = ("itscam-data", {"app.kubernetes.io/name": "telegraf-influx-relay"})
INFLUX = ("itscam-data", {"app.kubernetes.io/name": "influxdb"})
TRITON = app("triton")
DAGSTER_RUN = ("itscam-dagster", {"dagster/run-id": "x"})
PROMETHEUS = ("itscam-monitoring", {"app.kubernetes.io/name": "prometheus"})
DNS = ("kube-system", {"k8s-app": "kube-dns"})

NEEDED = [
    ("camera-processor -> Kafka", app("camera-processor", **WORKER), KAFKA, 9092),
    ("camera-processor -> Triton gRPC", app("camera-processor", **WORKER), TRITON, 8001),
    ("event-processor -> PgBouncer", app("event-processor", **WORKER), POOLER, 5432),
    ("event-processor -> Redis", app("event-processor", **WORKER), REDIS, 6379),
    ("event-processor -> Telegraf relay", app("event-processor", **WORKER), RELAY, 8086),
    ("camera-ingest -> Kafka", app("camera-ingest", **WORKER), KAFKA, 9092),
    ("every worker -> DNS", app("camera-processor", **WORKER), DNS, 53),
    ("Telegraf relay -> InfluxDB", RELAY, INFLUX, 8086),
    ("Dagster run -> PostgreSQL (storage)", DAGSTER_RUN, PG, 5432),
    ("Dagster run -> PgBouncer (data)", DAGSTER_RUN, POOLER, 5432),
    ("Dagster run -> Triton (model checks)", DAGSTER_RUN, TRITON, 8000),
    ("db-migrate -> PostgreSQL", app("db-migrate"), PG, 5432),
    ("PgBouncer -> PostgreSQL", POOLER, PG, 5432),
    ("Prometheus -> worker metrics", PROMETHEUS, app("camera-processor", **WORKER), 9108),
    ("Prometheus -> Triton metrics", PROMETHEUS, TRITON, 8002),
    (
        "Grafana -> PgBouncer",
        ("itscam-monitoring", {"app.kubernetes.io/name": "grafana"}),
        POOLER,
        5432,
    ),
    ("KEDA -> Kafka (consumer lag)", ("keda", {"app": "keda-operator"}), KAFKA, 9092),
    (
        "CloudNativePG operator -> instances",
        ("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"}),
        PG,
        8000,
    ),
    ("Strimzi operator -> Kafka", ("strimzi", {"name": "strimzi-cluster-operator"}), KAFKA, 9091),
    (
        "worker -> Jaeger collector",
        app("event-processor", **WORKER),
        ("itscam-monitoring", {"app.kubernetes.io/component": "collector"}),
        4317,
    ),
]

FORBIDDEN = [
    ("camera-ingest -> PostgreSQL", app("camera-ingest", **WORKER), PG, 5432),
    (
        "camera-processor -> InfluxDB replicas directly",
        app("camera-processor", **WORKER),
        INFLUX,
        8086,
    ),
    ("Triton -> Kafka", TRITON, KAFKA, 9092),
    ("worker -> Triton metrics port", app("camera-processor", **WORKER), TRITON, 8002),
    ("Dagster run -> Redis cluster bus", DAGSTER_RUN, REDIS, 16379),
]


@pytest.mark.parametrize(("what", "src", "dst", "port"), NEEDED, ids=[n[0] for n in NEEDED])
def test_needed_flow_is_allowed(what: str, src: Pod, dst: Pod, port: int, rendered: Any) -> None:
    assert flow_allowed(rendered("production"), src, dst, port), what


@pytest.mark.parametrize(("what", "src", "dst", "port"), FORBIDDEN, ids=[n[0] for n in FORBIDDEN])
def test_unneeded_flow_is_denied(what: str, src: Pod, dst: Pod, port: int, rendered: Any) -> None:
    assert not flow_allowed(rendered("production"), src, dst, port), what


def test_edge_workers_reach_only_the_site_kafka(rendered: Any) -> None:
    docs = rendered("edge")
    worker = ("itscam-edge", {"app.kubernetes.io/name": "edge-inference"})
    site_kafka = ("itscam-edge", {"strimzi.io/cluster": "edge-kafka"})
    mirror = ("itscam-edge", {"strimzi.io/cluster": "edge-to-cloud"})
    assert flow_allowed(docs, worker, site_kafka, 9092)
    assert flow_allowed(docs, mirror, site_kafka, 9092)
    assert not flow_allowed(docs, worker, mirror, 8083)
