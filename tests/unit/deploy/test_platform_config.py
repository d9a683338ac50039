"""Kafka topics against the streaming code, Dagster configuration against
Dagster's own schemas, and the settings the workloads pass to itscam/settings.py."""

from __future__ import annotations

import copy
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.factories import DEPLOY, ENVIRONMENTS, find, one

TOPICS = (
    "frames",
    "detections",
    "crossings",
    "counts_1m",
    "events",
    "camera_health",
    "dead_letter",
)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_topics_are_the_project_topics_with_the_configured_partitions(
    env: str, rendered: Any
) -> None:
    from itscam.settings import Settings

    docs = rendered(env)
    ns = "itscam-edge" if env == "edge" else "itscam"
    config = one(docs, "ConfigMap", "itscam-config", ns)["data"]
    settings = Settings(
        kafka_bootstrap=config["ITSCAM_KAFKA_BOOTSTRAP"],
        kafka_partitions=int(config["ITSCAM_KAFKA_PARTITIONS"]),
        topic_prefix=config["ITSCAM_TOPIC_PREFIX"],
    )
    topics = {t["spec"]["topicName"]: t["spec"] for t in find(docs, "KafkaTopic")}
    assert set(topics) == {settings.topic(t) for t in TOPICS}
    for name, spec in topics.items():
        # Faust tables fail with PartitionsMismatch unless these agree.
        assert spec["partitions"] == settings.kafka_partitions, name
        brokers = sum(
            p["spec"]["replicas"]
            for p in find(docs, "KafkaNodePool")
            if "broker" in p["spec"]["roles"]
        )
        # Replicated 3x with 2 in sync in the cloud; a one-node edge site has one replica.
        assert spec["replicas"] == min(3, brokers), name
        assert int(spec["config"]["min.insync.replicas"]) == max(1, spec["replicas"] - 1), name


def test_production_partitions_leave_room_for_every_consumer(rendered: Any) -> None:
    docs = rendered("production")
    topics = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in find(docs, "KafkaTopic")}
    assert topics["itscam.frames"] >= 64 and topics["itscam.detections"] >= 64
    for so in find(docs, "ScaledObject"):
        topic = next(t for t in so["spec"]["triggers"] if t["type"] == "kafka")["metadata"]["topic"]
        # Consumers beyond the partition count sit idle: KEDA's ceiling must fit.
        assert so["spec"]["maxReplicaCount"] <= topics[topic], so["metadata"]["name"]


def test_frames_topic_accepts_the_contract_message_size(rendered: Any) -> None:
    frames = next(
        t
        for t in find(rendered("production"), "KafkaTopic")
        if t["spec"]["topicName"] == "itscam.frames"
    )
    assert int(frames["spec"]["config"]["max.message.bytes"]) >= 1_048_576


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_keda_consumer_group_is_the_faust_app_id(env: str, rendered: Any) -> None:
    streaming_app = pytest.importorskip("streaming.app")
    docs = rendered(env)
    ns = "itscam-edge" if env == "edge" else "itscam"
    assert (
        one(docs, "ConfigMap", "itscam-config", ns)["data"]["ITSCAM_STREAM_APP_ID"]
        == streaming_app.APP_ID
    )
    for so in find(docs, "ScaledObject"):
        for t in so["spec"]["triggers"]:
            if t["type"] == "kafka":
                assert t["metadata"]["consumerGroup"] == streaming_app.APP_ID


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_worker_settings_load_with_the_project_settings_model(env: str, rendered: Any) -> None:
    from itscam.settings import load_settings

    docs = rendered(env)
    ns = "itscam-edge" if env == "edge" else "itscam"
    data = one(docs, "ConfigMap", "itscam-config", ns)["data"]
    fields = {
        k.removeprefix("ITSCAM_").lower(): v for k, v in data.items() if k.startswith("ITSCAM_")
    }
    settings = load_settings(**fields)
    assert settings.profile == "production"
    assert settings.kafka_servers == data["ITSCAM_KAFKA_BOOTSTRAP"]
    if env != "edge":
        assert settings.triton_model == "yolo11_detector"
        triton = one(docs, "Deployment", "triton")["spec"]["template"]["spec"]["containers"][0]
        assert (
            triton["readinessProbe"]["httpGet"]["path"]
            == f"/v2/models/{settings.triton_model}/ready"
        )
        assert triton["resources"]["limits"]["nvidia.com/gpu"] == "1"
        metrics = [p for p in triton["ports"] if p["name"] == "metrics"]
        assert metrics and f"--metrics-port={metrics[0]['containerPort']}" in triton["args"]
    else:
        assert settings.inference_backend == "onnxruntime"


def test_worker_metrics_port_is_the_probed_and_scraped_port(rendered: Any) -> None:
    docs = rendered("production")
    port = int(one(docs, "ConfigMap", "itscam-config", "itscam")["data"]["ITSCAM_METRICS_PORT"])
    for name in ("camera-processor", "event-processor"):
        c = one(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"] == port
        assert c["readinessProbe"]["httpGet"]["port"] == "metrics"
    monitor = one(docs, "PodMonitor", "itscam-workers")
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"metrics"}


# --- Dagster -------------------------------------------------------------------

DAGSTER = DEPLOY / "dagster"


def _instance_config(tmp_path: Path, text: str) -> dict[str, Any]:
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(text)
    config, _ = dagster_instance_config(str(tmp_path))
    return dict(config)


def _class_config_errors(section: dict[str, Any]) -> list[str]:
    from dagster._config import validate_config

    klass = getattr(importlib.import_module(section["module"]), section["class"])
    result = validate_config(klass.config_type(), section.get("config", {}))
    return [e.message for e in result.errors or []]


def test_production_dagster_yaml_validates_against_dagster_schemas(tmp_path: Path) -> None:
    config = _instance_config(tmp_path, (DAGSTER / "dagster.yaml").read_text())
    for key in ("scheduler", "run_coordinator", "run_launcher", "compute_logs"):
        assert not _class_config_errors(config[key]), key
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    from dagster._config import validate_config
    from dagster_postgres import DagsterPostgresStorage

    storage = validate_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert storage.success, storage.errors


def test_dagster_validation_rejects_a_broken_run_launcher(tmp_path: Path) -> None:
    config = yaml.safe_load((DAGSTER / "dagster.yaml").read_text())
    broken = copy.deepcopy(config["run_launcher"])
    del broken["config"]["instance_config_map"]
    broken["config"]["job_namespce"] = "typo"
    assert _class_config_errors(broken)
    from dagster._core.errors import DagsterInvalidConfigError

    config["run_coordinatorr"] = {}
    with pytest.raises(DagsterInvalidConfigError):
        _instance_config(tmp_path, yaml.safe_dump(config))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snake_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {_snake(k): _snake_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_snake_keys(v) for v in node]
    return node


def test_helm_values_render_the_committed_dagster_yaml(tmp_path: Path) -> None:
    """Translate the chart's values the way its templates do and compare."""
    values = yaml.safe_load((DAGSTER / "values.yaml").read_text())
    instance = yaml.safe_load((DAGSTER / "dagster.yaml").read_text())

    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = {
        "load_incluster_config": k8s["loadInclusterConfig"],
        "job_namespace": k8s["jobNamespace"],
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "dagster_home": values["global"]["dagsterHome"],
        "env_config_maps": [c["name"] for c in k8s["envConfigMaps"]],
        "env_secrets": [s["name"] for s in k8s["envSecrets"]],
        "fail_pod_on_run_failure": k8s["failPodOnRunFailure"],
        "run_k8s_config": _snake_keys(k8s["runK8sConfig"]),
    }
    assert launcher == instance["run_launcher"]["config"]
    assert not _class_config_errors(
        {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": launcher}
    )

    pg = values["postgresql"]
    db = instance["storage"]["postgres"]["postgres_db"]
    assert (db["hostname"], db["username"], db["db_name"], db["port"], db["params"]) == (
        pg["postgresqlHost"],
        pg["postgresqlUsername"],
        pg["postgresqlDatabase"],
        pg["service"]["port"],
        pg["postgresqlParams"],
    )

    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert instance["run_coordinator"]["config"] == _snake_keys(queued)
    assert instance["run_monitoring"] == _snake_keys(values["dagsterDaemon"]["runMonitoring"])
    assert instance["run_retries"] == _snake_keys(values["dagsterDaemon"]["runRetries"])
    s3 = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert values["computeLogManager"]["type"] == "S3ComputeLogManager"
    assert instance["compute_logs"]["config"] == _snake_keys(s3)
    retention = {k: v for k, v in values["retention"].items() if k != "enabled"}
    assert instance["retention"] == _snake_keys(retention)
    _instance_config(tmp_path, yaml.safe_dump(instance))


def test_user_code_deployment_serves_the_platform_definitions() -> None:
    values = yaml.safe_load((DAGSTER / "values.yaml").read_text())
    (dep,) = values["dagster-user-deployments"]["deployments"]
    args = dep["dagsterApiGrpcArgs"]
    module = args[args.index("-m") + 1]
    assert module == "its_platform.definitions" and args[args.index("-a") + 1] == "defs"
    assert (DEPLOY.parent / "platform" / Path(*module.split("."))).with_suffix(".py").exists()
    assert dep["securityContext"]["readOnlyRootFilesystem"] is True
    assert dep["podSecurityContext"]["runAsNonRoot"] is True
    assert (
        values["dagsterWebserver"]["image"]["tag"] == importlib.import_module("dagster").__version__
    )


def test_k8s_job_executor_config_validates() -> None:
    from dagster._config import validate_config
    from dagster_k8s import k8s_job_executor

    run_config = yaml.safe_load((DAGSTER / "k8s-job-executor.yaml").read_text())
    schema = k8s_job_executor.config_schema.config_type
    assert validate_config(schema, run_config["execution"]["config"]).success
    broken = {**run_config["execution"]["config"], "max_concurent": 3}
    assert not validate_config(schema, broken).success


def test_dagster_namespace_gets_the_settings_and_secrets_it_is_told_to_use(rendered: Any) -> None:
    docs = rendered("production")
    values = yaml.safe_load((DAGSTER / "values.yaml").read_text())
    ns = values["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"]
    for cm in values["runLauncher"]["config"]["k8sRunLauncher"]["envConfigMaps"]:
        assert find(docs, "ConfigMap", cm["name"], ns), cm
    for secret in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]:
        assert find(docs, "ExternalSecret", secret["name"], ns), secret
    assert find(docs, "ExternalSecret", values["global"]["postgresqlSecretName"], ns)
    assert (
        one(docs, "Database", "itscam-pg-dagster")["spec"]["name"]
        == values["postgresql"]["postgresqlDatabase"]
    )


#: ITSCAM_* variables the manifests set that no code reads yet: contracts the
#: manifests propose (deploy/README.md, "Contracts with the application code").
PROPOSED = {
    "ITSCAM_STREAM_ROLE",
    "ITSCAM_INGEST_SHARD_INDEX",
    "ITSCAM_INGEST_CAMERAS_PER_SHARD",
    "ITSCAM_DAGSTER_EXECUTOR",
    "ITSCAM_ONNX_PROVIDERS",
    "ITSCAM_ONNX_THREADS",
    "ITSCAM_ENVIRONMENT",
    "ITSCAM_EDGE_SITE_PROFILE",
    "ITSCAM_EDGE_NODE_TYPE",
    "ITSCAM_EDGE_CAMERAS",
    "ITSCAM_STREAM_APP_ID",
    "ITSCAM_MODEL_REPOSITORY_URI",
}


def test_every_itscam_variable_is_read_by_the_code_or_a_named_proposal(rendered: Any) -> None:
    from itscam.settings import Settings

    fields = {f"ITSCAM_{name.upper()}" for name in Settings.model_fields}
    source = "\n".join(
        p.read_text()
        for folder in ("itscam", "streaming", "platform")
        for p in (DEPLOY.parent / folder).rglob("*.py")
    )
    names = set()
    for env in ENVIRONMENTS:
        for d in rendered(env):
            if d["kind"] == "ConfigMap":
                names |= {k for k in d.get("data", {}) if k.startswith("ITSCAM_")}
            if d["kind"] in ("Deployment", "StatefulSet"):
                for c in (
                    d["spec"]["template"]["spec"].get("initContainers", [])
                    + d["spec"]["template"]["spec"]["containers"]
                ):
                    names |= {
                        e["name"] for e in c.get("env", []) if e["name"].startswith("ITSCAM_")
                    }
    unknown = {n for n in names if n not in fields and n not in source and n not in PROPOSED}
    assert not unknown, (
        f"typo, or a new contract to list in PROPOSED and the README: {sorted(unknown)}"
    )
    readme = (DEPLOY / "README.md").read_text()
    assert not {n for n in PROPOSED if n not in readme}, (
        "list every proposed variable in the README"
    )


def test_grafana_database_users_and_secrets_exist(rendered: Any) -> None:
    docs = rendered("production")
    kps = yaml.safe_load((DEPLOY / "helm-values" / "kube-prometheus-stack.yaml").read_text())[
        "grafana"
    ]
    roles = {r["name"]: r for r in one(docs, "Cluster", "itscam-pg")["spec"]["managed"]["roles"]}
    db = kps["grafana.ini"]["database"]
    assert (
        db["user"] in roles
        and one(docs, "Database", "itscam-pg-grafana")["spec"]["name"] == db["name"]
    )
    (analytics,) = [
        d for d in kps["additionalDataSources"] if d["type"] == "grafana-postgresql-datasource"
    ]
    assert "pg_read_all_data" in roles[analytics["user"]]["inRoles"]
    secret = kps["envValueFrom"]["GF_DATABASE_PASSWORD"]["secretKeyRef"]
    mounted = {m["secretName"] for m in kps["extraSecretMounts"]}
    assert secret["name"] in mounted
    keys = {
        d["secretKey"]
        for d in one(docs, "ExternalSecret", secret["name"], "itscam-monitoring")["spec"]["data"]
    }
    assert secret["key"] in keys and "reader-password" in keys
    for role in roles.values():
        assert find(docs, "ExternalSecret", role["passwordSecret"]["name"], "itscam-data"), role[
            "name"
        ]


def test_dagster_may_roll_triton_and_nothing_more(rendered: Any) -> None:
    docs = rendered("production")
    values = yaml.safe_load((DAGSTER / "values.yaml").read_text())
    binding = one(docs, "RoleBinding", "dagster-triton-rollout", "itscam")
    (subject,) = binding["subjects"]
    job_ns = values["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"]
    assert (subject["name"], subject["namespace"]) == (values["serviceAccount"]["name"], job_ns)
    (rule,) = one(docs, "Role", binding["roleRef"]["name"], "itscam")["rules"]
    assert rule["resourceNames"] == ["triton"] and set(rule["verbs"]) == {"get", "patch"}
    one(docs, "Deployment", "triton", "itscam")
