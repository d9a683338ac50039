"""Builders for the deploy/ tests: render overlays, load manifests, read the seed.

Rendering uses ``kubectl kustomize`` (offline; kubectl ships kustomize). The
numbers the manifests must carry are parsed from the seed text
(``deploy/spec/its-camera-ai-infrastructure-strategy.md``, a copy of the
project's specification), not re-typed here.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
SEED = DEPLOY / "spec" / "its-camera-ai-infrastructure-strategy.md"
SHARED_SEED = REPO.parent / "shared" / "seed" / SEED.name
KUBERNETES_VERSION = "1.32.0"

#: Every kustomization an operator can apply: the four environments and the
#: example edge sites (which add the site-profile and fallback components).
OVERLAYS = sorted(
    str(p.parent.relative_to(DEPLOY / "overlays"))
    for p in (DEPLOY / "overlays").rglob("kustomization.yaml")
    if yaml.safe_load(p.read_text()).get("kind", "Kustomization") == "Kustomization"
)
ENVIRONMENTS = ("development", "staging", "production", "edge")

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
POD_KINDS = (*WORKLOAD_KINDS, "Job", "CronJob")


def kubectl() -> str | None:
    """Path of a kubectl that can render kustomizations offline, if any."""
    return shutil.which("kubectl")


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """Documents of ``kubectl kustomize deploy/overlays/<overlay>``."""
    exe = kubectl()
    assert exe, "kubectl is needed to render the overlays"
    proc = subprocess.run(
        [exe, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"kubectl kustomize {overlay} failed:\n{proc.stderr}"
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(
    docs: tuple[dict[str, Any], ...] | list[dict[str, Any]],
    kind: str,
    name: str | None = None,
    namespace: str | None = None,
) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]


def one(
    docs: tuple[dict[str, Any], ...] | list[dict[str, Any]],
    kind: str,
    name: str,
    namespace: str | None = None,
) -> dict[str, Any]:
    found = find(docs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    tmpl = (
        doc["spec"]["jobTemplate"]["spec"]["template"]
        if doc["kind"] == "CronJob"
        else doc["spec"]["template"]
    )
    return tmpl.get("metadata", {}).get("labels", {})


def containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = pod_spec(doc)
    for c in spec.get("initContainers", []):
        yield "init", c
    for c in spec["containers"]:
        yield "main", c


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions)."""
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity as a number (cores or bytes)."""
    m = _QUANTITY.match(str(value))
    assert m, f"not a Kubernetes quantity: {value!r}"
    return float(m.group(1)) * _FACTORS[m.group(2)]


def size_bytes(text: str) -> float:
    """'8GB', '32MB' (PostgreSQL/seed units, powers of 1024) or '5TB' as bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(kB|KB|MB|GB|TB)", text.strip())
    assert m, f"not a size: {text!r}"
    return (
        float(m.group(1))
        * {"kB": 2**10, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}[m.group(2)]
    )


def duration_seconds(text: str) -> float:
    """'2min', '5m', '30d', '1h', '1y', '0s', '365d', '8760h' as seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w|y)", str(text).strip())
    assert m, f"not a duration: {text!r}"
    unit = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 365 * 86400}[
        m.group(2)
    ]
    return float(m.group(1)) * unit


# --- the seed ------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    name: str
    min: int
    max: int
    instance_type: str


@dataclass(frozen=True)
class Seed:
    text: str

    def _one(self, pattern: str) -> re.Match[str]:
        m = re.search(pattern, self.text)
        assert m, f"seed text no longer matches {pattern!r}; update the test's reading of it"
        return m

    @property
    def control_plane(self) -> tuple[int, str]:
        m = self._one(r"\*\*Control Plane\*\*: (\d+) nodes across availability zones \(([\w.]+)\)")
        return int(m.group(1)), m.group(2)

    @property
    def node_pools(self) -> dict[str, Pool]:
        block = self.text[
            self.text.index("**Worker Node Pools**") : self.text.index("**Resource Allocation**")
        ]
        pools = {}
        for m in re.finditer(r"- ([\w ]+): (\d+)-(\d+) nodes \(([\w.]+)", block):
            name = m.group(1).strip().lower().replace(" ", "-")
            pools[name] = Pool(name, int(m.group(2)), int(m.group(3)), m.group(4))
        assert len(pools) == 5, pools
        return pools

    @property
    def cluster_autoscaler_bounds(self) -> tuple[int, int]:
        m = self._one(r"\*\*Cluster Autoscaler\*\*: Node-level scaling \((\d+)-(\d+) nodes\)")
        return int(m.group(1)), int(m.group(2))

    def scale_bounds(self, what: str) -> tuple[int, int]:
        m = self._one(rf"{what}: Scale (\d+)-(\d+) replicas")
        return int(m.group(1)), int(m.group(2))

    @property
    def inference_latency_target_ms(self) -> int:
        return int(
            self._one(r"ML Inference: Scale \d+-\d+ replicas, target <(\d+)ms latency").group(1)
        )

    @property
    def event_lag_max(self) -> int:
        return int(
            self._one(r"Event Processing: Scale \d+-\d+ replicas, <(\d+) messages lag").group(1)
        )

    def environment(self, env: str) -> tuple[int, int]:
        """(ML inference, camera processors) of an environment."""
        m = self._one(rf"\*\*{env.capitalize()}\*\*: (\d+) ML inference, (\d+) camera processors")
        return int(m.group(1)), int(m.group(2))

    @property
    def postgres_tuning(self) -> dict[str, str]:
        block = self.text[
            self.text.index("**Performance Tuning**") : self.text.index("**Database Schema**")
        ]
        return dict(re.findall(r"- (\w+): (\w+)", block))

    @property
    def postgres_instances(self) -> tuple[int, int]:
        primary = int(
            self._one(r"\*\*Primary Cluster\*\*: (\d+)-node cluster with TimescaleDB").group(1)
        )
        replicas = int(self._one(r"\*\*Read Replicas\*\*: (\d+) instances").group(1))
        return primary, replicas

    @property
    def pgbouncer_max_connections(self) -> int:
        return int(self._one(r"PgBouncer with (\d+) max connections").group(1))

    @property
    def redis(self) -> tuple[int, str]:
        nodes = int(self._one(r"\*\*(\d+)-node Redis cluster\*\*").group(1))
        memory = self._one(r"\*\*Memory allocation\*\*: (\d+GB) per node").group(1)
        return nodes, memory

    @property
    def influx(self) -> tuple[int, str, dict[str, str]]:
        replicas = int(self._one(r"\*\*(\d+)-replica InfluxDB cluster\*\*").group(1))
        storage = self._one(r"\*\*Storage\*\*: (\d+TB) per instance").group(1)
        tiers = self._one(r"\*\*Retention policies\*\*: (.+)").group(1)
        parsed = {name: dur for dur, name in re.findall(r"(\d+[hdy]) (\w+)", tiers)}
        return replicas, storage, parsed

    @property
    def observability(self) -> dict[str, Any]:
        prom = self._one(
            r"\*\*Prometheus\*\*: (\d+)-replica setup, (\d+d) retention, (\d+GB) storage"
        )
        return {
            "prometheus_replicas": int(prom.group(1)),
            "prometheus_retention": prom.group(2),
            "prometheus_storage": prom.group(3),
            "loki_replicas": int(self._one(r"\*\*Loki\*\*: (\d+)-replica").group(1)),
            "alertmanager_replicas": int(
                self._one(r"\*\*AlertManager\*\*: (\d+)-replica").group(1)
            ),
        }

    @property
    def alerts(self) -> dict[str, Any]:
        lat = self._one(r"High inference latency \(>(\d+)ms for (\d+)min\)")
        err = self._one(r"High error rate \(>(\d+)% for (\d+)min\)")
        offline = self._one(r"Camera offline detection \((\w+)\)")
        return {
            "latency_ms": int(lat.group(1)),
            "latency_for_s": int(lat.group(2)) * 60,
            "error_ratio": int(err.group(1)) / 100,
            "error_for_s": int(err.group(2)) * 60,
            "offline": offline.group(1),
        }

    @property
    def edge_nodes(self) -> dict[str, tuple[int, int, str, int]]:
        """profile -> (min nodes, max nodes, instance type, cameras per node)."""
        out = {}
        for m in re.finditer(
            r"- (Primary|GPU-enabled|Micro): (\d+)-(\d+) nodes \(([\w.]+), (\d+) cameras each\)",
            self.text,
        ):
            key = {"Primary": "primary", "GPU-enabled": "gpu", "Micro": "micro"}[m.group(1)]
            out[key] = (int(m.group(2)), int(m.group(3)), m.group(4), int(m.group(5)))
        assert len(out) == 3, out
        return out

    @property
    def monthly_budget_usd(self) -> int:
        return int(self._one(r"Total monthly budget: \$([\d,]+)").group(1).replace(",", ""))

    @property
    def coverage_percent(self) -> int:
        return int(self._one(r"pytest with (\d+)% coverage").group(1))


@functools.lru_cache(maxsize=1)
def seed() -> Seed:
    return Seed(SEED.read_text())


def dashboards() -> dict[str, dict[str, Any]]:
    folder = DEPLOY / "base" / "monitoring" / "dashboards"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
