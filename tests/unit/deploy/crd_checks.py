"""Structural checks for the custom resources kubernetes-validate has no schema
for (Strimzi, CloudNativePG, KEDA, VPA, Prometheus Operator, cert-manager,
External Secrets, Jaeger). Each check returns the problems it found: the
fields that matter for the resource to be accepted and to do what we mean."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Problems = list[str]

API_VERSIONS = {
    "Kafka": "kafka.strimzi.io/v1beta2",
    "KafkaNodePool": "kafka.strimzi.io/v1beta2",
    "KafkaTopic": "kafka.strimzi.io/v1beta2",
    "KafkaUser": "kafka.strimzi.io/v1beta2",
    "KafkaMirrorMaker2": "kafka.strimzi.io/v1beta2",
    "Cluster": "postgresql.cnpg.io/v1",
    "Pooler": "postgresql.cnpg.io/v1",
    "ScheduledBackup": "postgresql.cnpg.io/v1",
    "ImageCatalog": "postgresql.cnpg.io/v1",
    "Database": "postgresql.cnpg.io/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "VerticalPodAutoscaler": "autoscaling.k8s.io/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "Certificate": "cert-manager.io/v1",
    "ClusterIssuer": "cert-manager.io/v1",
    "ExternalSecret": "external-secrets.io/v1beta1",
    "ClusterSecretStore": "external-secrets.io/v1beta1",
    "Jaeger": "jaegertracing.io/v1",
    "Application": "argoproj.io/v1alpha1",
    "ApplicationSet": "argoproj.io/v1alpha1",
    "AppProject": "argoproj.io/v1alpha1",
}

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def _need(doc: dict[str, Any], *paths: str) -> Problems:
    out = []
    for path in paths:
        node: Any = doc
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                out.append(f"missing {path}")
                break
            node = node[part]
    return out


def _kafka(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.kafka.version", "spec.kafka.listeners", "spec.entityOperator")
    ann = d["metadata"].get("annotations", {})
    if ann.get("strimzi.io/kraft") != "enabled" or ann.get("strimzi.io/node-pools") != "enabled":
        p.append("KRaft clusters need the strimzi.io/kraft and strimzi.io/node-pools annotations")
    for listener in d["spec"]["kafka"].get("listeners", []):
        if listener.get("type") not in (
            "internal",
            "route",
            "loadbalancer",
            "nodeport",
            "ingress",
            "cluster-ip",
        ):
            p.append(f"listener {listener.get('name')}: bad type {listener.get('type')!r}")
        if not 9092 <= int(listener.get("port", 0)) <= 65535:
            p.append(f"listener {listener.get('name')}: port below 9092 is reserved by Strimzi")
    if d["spec"]["kafka"].get("config", {}).get("auto.create.topics.enable") is not False:
        p.append(
            "auto.create.topics.enable must be false (topics are declared with partition counts)"
        )
    return p


def _node_pool(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.replicas", "spec.roles", "spec.storage", "metadata.labels")
    if "strimzi.io/cluster" not in d["metadata"].get("labels", {}):
        p.append("KafkaNodePool needs the strimzi.io/cluster label")
    if not set(d["spec"].get("roles", [])) <= {"broker", "controller"}:
        p.append(f"bad roles {d['spec'].get('roles')}")
    return p


def _topic(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.partitions", "spec.replicas", "metadata.labels")
    if "strimzi.io/cluster" not in d["metadata"].get("labels", {}):
        p.append("KafkaTopic needs the strimzi.io/cluster label")
    if not isinstance(d["spec"].get("partitions"), int) or d["spec"]["partitions"] < 1:
        p.append("partitions must be a positive integer")
    for k, v in d["spec"].get("config", {}).items():
        if not isinstance(v, (str, int)):
            p.append(f"topic config {k} must be a scalar")
    return p


def _user(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.authentication.type")
    if d["spec"].get("authentication", {}).get("type") not in (
        "tls",
        "scram-sha-512",
        "tls-external",
    ):
        p.append("unknown authentication type")
    return p


def _mm2(d: dict[str, Any]) -> Problems:
    p = _need(
        d, "spec.version", "spec.replicas", "spec.connectCluster", "spec.clusters", "spec.mirrors"
    )
    aliases = {c["alias"] for c in d["spec"].get("clusters", [])}
    if d["spec"].get("connectCluster") not in aliases:
        p.append("connectCluster must name one of the clusters")
    for m in d["spec"].get("mirrors", []):
        if m.get("sourceCluster") not in aliases or m.get("targetCluster") not in aliases:
            p.append("mirror source/target must name clusters")
        try:
            re.compile(m.get("topicsPattern", ""))
        except re.error as exc:
            p.append(f"topicsPattern is not a regex: {exc}")
    return p


def _cnpg_cluster(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.instances", "spec.storage.size")
    if "imageName" not in d["spec"] and "imageCatalogRef" not in d["spec"]:
        p.append("a Cluster needs imageName or imageCatalogRef")
    params = d["spec"].get("postgresql", {}).get("parameters", {})
    for k, v in params.items():
        if not isinstance(v, str):
            p.append(f"postgresql.parameters.{k} must be a string (CNPG rejects numbers)")
    if "timescaledb" not in d["spec"].get("postgresql", {}).get("shared_preload_libraries", []):
        p.append("TimescaleDB must be preloaded")
    return p


def _pooler(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.cluster.name", "spec.type", "spec.pgbouncer")
    if d["spec"].get("type") not in ("rw", "ro"):
        p.append("Pooler type must be rw or ro")
    for k, v in d["spec"].get("pgbouncer", {}).get("parameters", {}).items():
        if not isinstance(v, str):
            p.append(f"pgbouncer.parameters.{k} must be a string")
    return p


def _scheduled_backup(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.schedule", "spec.cluster.name")
    if len(str(d["spec"].get("schedule", "")).split()) != 6:
        p.append("CNPG schedules have six fields (seconds first)")
    return p


def _scaled_object(d: dict[str, Any]) -> Problems:
    p = _need(
        d,
        "spec.scaleTargetRef.name",
        "spec.triggers",
        "spec.minReplicaCount",
        "spec.maxReplicaCount",
    )
    if d["spec"].get("minReplicaCount", 0) > d["spec"].get("maxReplicaCount", 0):
        p.append("minReplicaCount > maxReplicaCount")
    for t in d["spec"].get("triggers", []):
        if t.get("type") == "kafka":
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                if key not in t.get("metadata", {}):
                    p.append(f"kafka trigger needs metadata.{key}")
        if not all(isinstance(v, str) for v in t.get("metadata", {}).values()):
            p.append(f"{t.get('type')} trigger metadata values must be strings")
    return p


def _vpa(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.targetRef.kind", "spec.targetRef.name", "spec.updatePolicy.updateMode")
    if d["spec"].get("updatePolicy", {}).get("updateMode") != "Off":
        p.append("VPAs run in recommendation mode (updateMode Off)")
    return p


def _rule(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.groups")
    for g in d["spec"].get("groups", []):
        for r in g.get("rules", []):
            if ("alert" in r) == ("record" in r):
                p.append(f"rule in {g['name']} must be exactly one of alert/record")
            expr = str(r.get("expr", ""))
            if not expr or expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                p.append(f"rule {r.get('alert') or r.get('record')}: empty or unbalanced expr")
            if "for" in r and not _DURATION.match(str(r["for"])):
                p.append(f"rule {r.get('alert')}: bad for {r['for']!r}")
    return p


def _pod_monitor(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.selector", "spec.podMetricsEndpoints")
    for e in d["spec"].get("podMetricsEndpoints", []):
        if "port" not in e and "targetPort" not in e:
            p.append("podMetricsEndpoints need a port")
    return p


def _certificate(d: dict[str, Any]) -> Problems:
    return _need(d, "spec.secretName", "spec.issuerRef.name")


def _issuer(d: dict[str, Any]) -> Problems:
    kinds = {"ca", "selfSigned", "acme", "vault", "venafi"} & set(d.get("spec", {}))
    return [] if len(kinds) == 1 else ["a ClusterIssuer needs exactly one issuer type"]


def _external_secret(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.secretStoreRef.name", "spec.target.name", "spec.data")
    for item in d["spec"].get("data", []):
        p += [f"data item: {x}" for x in _need(item, "secretKey", "remoteRef.key")]
    return p


def _secret_store(d: dict[str, Any]) -> Problems:
    return _need(d, "spec.provider")


def _jaeger(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.strategy", "spec.storage.type")
    if d["spec"].get("strategy") not in ("allInOne", "production", "streaming"):
        p.append("unknown Jaeger strategy")
    return p


def _image_catalog(d: dict[str, Any]) -> Problems:
    p = _need(d, "spec.images")
    for img in d["spec"].get("images", []):
        p += _need(img, "major", "image")
    return p


def _database(d: dict[str, Any]) -> Problems:
    return _need(d, "spec.cluster.name", "spec.name", "spec.owner")


CHECKS: dict[str, Callable[[dict[str, Any]], Problems]] = {
    "Kafka": _kafka,
    "KafkaNodePool": _node_pool,
    "KafkaTopic": _topic,
    "KafkaUser": _user,
    "KafkaMirrorMaker2": _mm2,
    "Cluster": _cnpg_cluster,
    "Pooler": _pooler,
    "ScheduledBackup": _scheduled_backup,
    "ImageCatalog": _image_catalog,
    "Database": _database,
    "ScaledObject": _scaled_object,
    "VerticalPodAutoscaler": _vpa,
    "PrometheusRule": _rule,
    "PodMonitor": _pod_monitor,
    "Certificate": _certificate,
    "ClusterIssuer": _issuer,
    "ExternalSecret": _external_secret,
    "ClusterSecretStore": _secret_store,
    "Jaeger": _jaeger,
}


def check(doc: dict[str, Any]) -> Problems:
    """Problems with one custom resource (an unknown kind is itself a problem)."""
    kind = doc["kind"]
    if kind not in CHECKS:
        return [f"no structural check for custom kind {kind}: add one to crd_checks.py"]
    problems = []
    if doc.get("apiVersion") != API_VERSIONS[kind]:
        problems.append(f"apiVersion {doc.get('apiVersion')} (expected {API_VERSIONS[kind]})")
    name = doc.get("metadata", {}).get("name", "")
    if not _DNS1123.match(name) or len(name) > 253:
        problems.append(f"metadata.name {name!r} is not a DNS-1123 name")
    return problems + CHECKS[kind](doc)
