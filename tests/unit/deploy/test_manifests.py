"""Every overlay renders, validates offline in strict mode, and keeps the
production invariants (resources, probes, non-root, pinned images, PDBs,
NetworkPolicies, Pod Security, no inlined secrets)."""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

import kubernetes_validate
import pytest

from tests.unit.deploy import crd_checks
from tests.unit.deploy.factories import (
    KUBERNETES_VERSION,
    POD_KINDS,
    WORKLOAD_KINDS,
    containers,
    find,
    pod_labels,
    pod_spec,
    selector_matches,
)


@functools.cache
def _validate(doc_json: str) -> str | None:
    """None if valid; 'crd' if Kubernetes has no schema for it; else the error."""
    try:
        kubernetes_validate.validate(json.loads(doc_json), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return "crd"
    except kubernetes_validate.ValidationError as exc:
        return f"{exc.message} at {'/'.join(str(p) for p in exc.path)}"
    return None


def test_every_overlay_renders_something(docs: tuple[dict[str, Any], ...]) -> None:
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    assert kinds & set(WORKLOAD_KINDS)


def test_manifests_validate_strictly_or_pass_crd_checks(docs: tuple[dict[str, Any], ...]) -> None:
    problems = []
    for d in docs:
        result = _validate(json.dumps(d, sort_keys=True))
        where = f"{d['kind']}/{d['metadata'].get('namespace', '-')}/{d['metadata']['name']}"
        if result == "crd":
            problems += [f"{where}: {p}" for p in crd_checks.check(d)]
        elif result is not None:
            problems.append(f"{where}: {result}")
    assert not problems, "\n".join(problems)


def test_strict_validation_rejects_an_unknown_field() -> None:
    # Guards the guard: strict mode must catch a misspelt field.
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i:1", "resource": {}}]},
            },
        },
    }
    assert _validate(json.dumps(bad)) not in (None, "crd")


def test_crd_checks_catch_a_broken_scaled_object() -> None:
    so = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "minReplicaCount": 5,
            "maxReplicaCount": 2,
            "triggers": [{"type": "kafka", "metadata": {"topic": "t", "lagThreshold": 100}}],
        },
    }
    problems = crd_checks.check(so)
    assert any("minReplicaCount" in p for p in problems)
    assert any("bootstrapServers" in p for p in problems)
    assert any("strings" in p for p in problems)


def _pod_docs(docs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in POD_KINDS]


def test_every_container_has_requests_and_limits(docs: tuple[dict[str, Any], ...]) -> None:
    missing = []
    for d in _pod_docs(docs):
        for _, c in containers(d):
            res = c.get("resources", {})
            for side in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(side, {})):
                    missing.append(f"{d['kind']}/{d['metadata']['name']}/{c['name']}: {side}")
    assert not missing, missing


def test_every_long_running_container_has_probes(docs: tuple[dict[str, Any], ...]) -> None:
    missing = []
    for d in docs:
        if d["kind"] not in WORKLOAD_KINDS:
            continue
        for c in pod_spec(d)["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    missing.append(f"{d['metadata']['name']}/{c['name']}: {probe}")
    assert not missing, missing


def test_every_pod_runs_as_non_root_with_a_read_only_root(docs: tuple[dict[str, Any], ...]) -> None:
    bad = []
    for d in _pod_docs(docs):
        spec = pod_spec(d)
        psc = spec.get("securityContext", {})
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            bad.append(f"{d['metadata']['name']}: seccompProfile RuntimeDefault")
        for _, c in containers(d):
            sc = c.get("securityContext", {})
            non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if non_root is not True or not uid:
                bad.append(f"{d['metadata']['name']}/{c['name']}: runAsNonRoot with a non-zero uid")
            if sc.get("allowPrivilegeEscalation") is not False:
                bad.append(f"{d['metadata']['name']}/{c['name']}: allowPrivilegeEscalation false")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                bad.append(f"{d['metadata']['name']}/{c['name']}: drop ALL capabilities")
            # Every container of ours works with a read-only root (writable
            # paths are emptyDirs), so this is required, not "where possible".
            if sc.get("readOnlyRootFilesystem") is not True:
                bad.append(f"{d['metadata']['name']}/{c['name']}: readOnlyRootFilesystem")
    assert not bad, bad


def test_images_are_pinned_never_latest(docs: tuple[dict[str, Any], ...]) -> None:
    bad = []
    for d in _pod_docs(docs):
        for _, c in containers(d):
            image = c["image"]
            name, _, tag = image.rpartition(":")
            if "@sha256:" in image:
                continue
            if (
                not name
                or "/" in tag
                or tag in ("", "latest")
                or not any(ch.isdigit() for ch in tag)
            ):
                bad.append(f"{d['metadata']['name']}/{c['name']}: {image}")
    assert not bad, bad


def test_every_workload_is_covered_by_a_pod_disruption_budget(
    docs: tuple[dict[str, Any], ...],
) -> None:
    pdbs = find(docs, "PodDisruptionBudget")
    uncovered = []
    for d in docs:
        if d["kind"] not in ("Deployment", "StatefulSet"):
            continue
        ns, labels = d["metadata"].get("namespace"), pod_labels(d)
        if not any(
            p["metadata"].get("namespace") == ns and selector_matches(p["spec"]["selector"], labels)
            for p in pdbs
        ):
            uncovered.append(d["metadata"]["name"])
    assert not uncovered, uncovered


def test_every_namespace_denies_by_default_and_every_workload_has_its_own_policy(
    docs: tuple[dict[str, Any], ...],
) -> None:
    policies = find(docs, "NetworkPolicy")
    namespaces = {d["metadata"]["name"] for d in find(docs, "Namespace")}
    for ns in namespaces:
        deny = [
            p
            for p in policies
            if p["metadata"]["namespace"] == ns
            and p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert deny, f"namespace {ns} has no default-deny NetworkPolicy"
    uncovered = []
    for d in docs:
        if d["kind"] not in POD_KINDS:
            continue
        ns, labels = d["metadata"].get("namespace"), pod_labels(d)
        allow = [
            p
            for p in policies
            if p["metadata"]["namespace"] == ns
            and p["metadata"]["name"] not in ("default-deny", "allow-dns")
            and selector_matches(p["spec"]["podSelector"], labels)
        ]
        if not allow:
            uncovered.append(f"{d['kind']}/{d['metadata']['name']}")
    assert not uncovered, uncovered


def test_selector_matching_follows_kubernetes_semantics() -> None:
    labels = {"app.kubernetes.io/name": "triton", "tier": "gpu"}
    assert selector_matches({}, labels)
    assert selector_matches({"matchLabels": {"tier": "gpu"}}, labels)
    assert not selector_matches({"matchLabels": {"tier": "cpu"}}, labels)
    assert selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels
    )


#: Namespaces hosting third-party charts: baseline enforced, restricted audited
#: and warned (deploy/base/platform/namespaces.yaml says why).
CHART_NAMESPACES = {"itscam-dagster", "itscam-monitoring"}


def test_namespaces_enforce_pod_security_restricted(docs: tuple[dict[str, Any], ...]) -> None:
    for ns in find(docs, "Namespace"):
        name, labels = ns["metadata"]["name"], ns["metadata"]["labels"]
        want = "baseline" if name in CHART_NAMESPACES else "restricted"
        assert labels.get("pod-security.kubernetes.io/enforce") == want, name
        assert labels.get("pod-security.kubernetes.io/warn") == "restricted", name
        assert labels.get("pod-security.kubernetes.io/audit") == "restricted", name
    # Everything this repository itself deploys meets restricted wherever it runs.
    own = {d["metadata"].get("namespace") for d in docs if d["kind"] in POD_KINDS}
    assert not own & CHART_NAMESPACES


def test_no_secret_is_inlined(docs: tuple[dict[str, Any], ...]) -> None:
    assert not find(docs, "Secret"), (
        "secrets come from ExternalSecrets/cert-manager, never from git"
    )
    sensitive = ("PASSWORD", "TOKEN", "SECRET", "AUTH", "KEY", "REDIS_URL")
    bad = []
    for d in _pod_docs(docs):
        for _, c in containers(d):
            for env in c.get("env", []):
                # A path to a mounted secret file is fine; a literal value is not.
                literal = "value" in env and not str(env["value"]).startswith("/")
                if any(s in env["name"].upper() for s in sensitive) and literal:
                    bad.append(f"{d['metadata']['name']}/{c['name']}: {env['name']}")
    for cm in find(docs, "ConfigMap"):
        for key, value in cm.get("data", {}).items():
            if any(s in key.upper() for s in ("PASSWORD", "TOKEN", "SECRET")):
                bad.append(f"ConfigMap {cm['metadata']['name']}: {key}")
            if "password=" in str(value).lower():
                bad.append(f"ConfigMap {cm['metadata']['name']}: {key} carries a password")
            if re.search(r"://[^/\s:@]+:[^/\s@]+@", str(value)):
                bad.append(f"ConfigMap {cm['metadata']['name']}: {key} has a URL with a password")
    assert not bad, bad


def test_invariant_checks_fail_on_a_violating_workload(rendered: Any) -> None:
    # Mutate a real rendered Deployment and run the same checks: they must fail.
    docs = list(copy.deepcopy(rendered("production")))
    dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "triton")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    del c["readinessProbe"]
    c["image"] = "itscam/triton:latest"
    c["securityContext"]["readOnlyRootFilesystem"] = False
    dep["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "orphan"}
    docs_t = tuple(docs)
    for check in (
        test_every_long_running_container_has_probes,
        test_images_are_pinned_never_latest,
        test_every_pod_runs_as_non_root_with_a_read_only_root,
        test_every_workload_is_covered_by_a_pod_disruption_budget,
        test_every_namespace_denies_by_default_and_every_workload_has_its_own_policy,
    ):
        with pytest.raises(AssertionError):
            check(docs_t)
