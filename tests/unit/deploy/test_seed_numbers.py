"""The seed's numbers, read from the seed text, are the numbers in deploy/."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.unit.deploy.factories import (
    DEPLOY,
    SEED,
    SHARED_SEED,
    dashboards,
    duration_seconds,
    find,
    load_yaml_docs,
    one,
    quantity,
    seed,
    size_bytes,
)

CLUSTER = DEPLOY / "cluster" / "eksctl-cluster.yaml"
HELM = DEPLOY / "helm-values"


def test_the_committed_spec_is_the_shared_seed() -> None:
    if not SHARED_SEED.exists():
        pytest.skip(f"no shared seed beside the repository ({SHARED_SEED})")
    assert SEED.read_text() == SHARED_SEED.read_text()


def _cluster() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER.read_text())


def test_control_plane_spans_three_zones_with_the_seed_system_nodes() -> None:
    count, instance = seed().control_plane
    cfg = _cluster()
    assert cfg["kind"] == "ClusterConfig" and cfg["apiVersion"] == "eksctl.io/v1alpha5"
    assert len(set(cfg["availabilityZones"])) == count
    system = next(g for g in cfg["managedNodeGroups"] if g["name"] == "system")
    assert system["instanceType"] == instance
    assert system["minSize"] == system["maxSize"] == count
    assert len(set(system["availabilityZones"])) == count


@pytest.mark.parametrize(
    "pool", ["ml-inference", "gpu-heavy", "general", "database", "edge-gateway"]
)
def test_node_pools_have_the_seed_instance_types_and_sizes(pool: str) -> None:
    want = seed().node_pools[pool]
    group = next(g for g in _cluster()["managedNodeGroups"] if g["name"] == pool)
    types = group.get("instanceTypes") or [group["instanceType"]]
    assert types == [want.instance_type]
    assert (group["minSize"], group["maxSize"]) == (want.min, want.max)
    assert want.min <= group["desiredCapacity"] <= want.max
    assert group["labels"]["itscam.io/pool"] == pool


def test_gpu_pools_are_tainted_and_workloads_tolerate_it(rendered: Any) -> None:
    groups = {g["name"]: g for g in _cluster()["managedNodeGroups"]}
    for pool in ("ml-inference", "gpu-heavy"):
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in groups[pool][
            "taints"
        ]
    triton = one(rendered("production"), "Deployment", "triton")
    spec = triton["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"itscam.io/pool": "ml-inference"}
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert groups["ml-inference"]["labels"]["itscam.io/accelerator"] == "nvidia-tesla-t4"


def test_cluster_autoscaler_keeps_the_seed_node_bounds() -> None:
    low, high = seed().cluster_autoscaler_bounds
    values = yaml.safe_load((HELM / "cluster-autoscaler.yaml").read_text())
    assert values["extraArgs"]["max-nodes-total"] == high
    groups = _cluster()["managedNodeGroups"]
    assert sum(g["minSize"] for g in groups) >= low
    assert sum(g["maxSize"] for g in groups) <= high
    assert values["autoDiscovery"]["clusterName"] == _cluster()["metadata"]["name"]


@pytest.mark.parametrize("env", ["development", "staging", "production"])
def test_environment_replica_counts(env: str, rendered: Any) -> None:
    inference, processors = seed().environment(env)
    docs = rendered(env)
    assert one(docs, "Deployment", "triton")["spec"]["replicas"] == inference
    assert one(docs, "Deployment", "camera-processor")["spec"]["replicas"] == processors
    hpa = one(docs, "HorizontalPodAutoscaler", "triton")["spec"]
    assert hpa["minReplicas"] <= inference <= hpa["maxReplicas"]
    so = one(docs, "ScaledObject", "camera-processor")["spec"]
    assert so["minReplicaCount"] <= processors <= so["maxReplicaCount"]


def test_edge_site_replica_counts(rendered: Any) -> None:
    inference, processors = seed().environment("edge")
    docs = rendered("edge")
    assert one(docs, "Deployment", "edge-inference")["spec"]["replicas"] == inference
    assert one(docs, "Deployment", "camera-processor")["spec"]["replicas"] == processors


def test_production_autoscaling_bounds_are_the_seed_bounds(rendered: Any) -> None:
    docs = rendered("production")
    s = seed()
    hpa = one(docs, "HorizontalPodAutoscaler", "triton")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == s.scale_bounds("ML Inference")
    cam = one(docs, "ScaledObject", "camera-processor")["spec"]
    assert (cam["minReplicaCount"], cam["maxReplicaCount"]) == s.scale_bounds("Camera Processing")
    ev = one(docs, "ScaledObject", "event-processor")["spec"]
    assert (ev["minReplicaCount"], ev["maxReplicaCount"]) == s.scale_bounds("Event Processing")


def test_hpa_scales_on_cpu_memory_latency_and_queue_time(rendered: Any) -> None:
    hpa = one(rendered("production"), "HorizontalPodAutoscaler", "triton")["spec"]
    resources = {m["resource"]["name"] for m in hpa["metrics"] if m["type"] == "Resource"}
    pods = {
        m["pods"]["metric"]["name"]: m["pods"]["target"]
        for m in hpa["metrics"]
        if m["type"] == "Pods"
    }
    assert resources == {"cpu", "memory"}
    assert set(pods) == {"triton_inference_latency_ms", "triton_queue_time_ms"}
    # Scale out before the seed's latency target is reached.
    assert (
        float(pods["triton_inference_latency_ms"]["averageValue"])
        <= seed().inference_latency_target_ms
    )
    adapter = yaml.safe_load((HELM / "prometheus-adapter.yaml").read_text())
    served = {r["name"]["as"] for r in adapter["rules"]["custom"]}
    assert set(pods) <= served


def test_keda_scales_faust_workers_on_consumer_lag(rendered: Any) -> None:
    docs = rendered("production")
    for name, topic in (
        ("camera-processor", "itscam.frames"),
        ("event-processor", "itscam.detections"),
    ):
        so = one(docs, "ScaledObject", name)["spec"]
        kafka = next(t for t in so["triggers"] if t["type"] == "kafka")["metadata"]
        assert kafka["topic"] == topic
        assert (
            kafka["bootstrapServers"]
            == one(docs, "ConfigMap", "itscam-config", "itscam")["data"]["ITSCAM_KAFKA_BOOTSTRAP"]
        )
        assert not find(docs, "HorizontalPodAutoscaler", name), "KEDA owns this Deployment's HPA"
    ev = next(
        t
        for t in one(docs, "ScaledObject", "event-processor")["spec"]["triggers"]
        if t["type"] == "kafka"
    )
    assert int(ev["metadata"]["lagThreshold"]) <= seed().event_lag_max


def test_vpas_recommend_for_every_scaled_workload(rendered: Any) -> None:
    docs = rendered("production")
    targets = {v["spec"]["targetRef"]["name"] for v in find(docs, "VerticalPodAutoscaler")}
    assert {"triton", "camera-processor", "event-processor", "camera-ingest"} <= targets


def test_postgres_tuning_and_topology(rendered: Any) -> None:
    docs = rendered("production")
    primary_n, replica_n = seed().postgres_instances
    primary = one(docs, "Cluster", "itscam-pg")["spec"]
    analytics = one(docs, "Cluster", "itscam-pg-analytics")["spec"]
    assert primary["instances"] == primary_n
    assert analytics["instances"] == replica_n
    assert analytics["replica"] == {"enabled": True, "source": "itscam-pg"}
    for cluster in (primary, analytics):
        params = cluster["postgresql"]["parameters"]
        for key, value in seed().postgres_tuning.items():
            assert params[key] == value, key
        assert "timescaledb" in cluster["postgresql"]["shared_preload_libraries"]
        # shared_buffers + effective cache fit the pod's memory limit.
        mem = quantity(cluster["resources"]["limits"]["memory"])
        assert size_bytes(params["effective_cache_size"]) < mem


def test_pgbouncer_takes_the_seed_client_connections(rendered: Any) -> None:
    docs = rendered("production")
    max_conn = int(seed().postgres_tuning["max_connections"])
    for pooler in find(docs, "Pooler"):
        params = pooler["spec"]["pgbouncer"]["parameters"]
        assert int(params["max_client_conn"]) == seed().pgbouncer_max_connections
        # Server connections of all pooler instances stay inside max_connections.
        assert int(params["default_pool_size"]) * pooler["spec"]["instances"] < max_conn


def test_redis_cluster_size_and_memory(rendered: Any) -> None:
    nodes, memory = seed().redis
    docs = rendered("production")
    sts = one(docs, "StatefulSet", "redis-cluster")
    assert sts["spec"]["replicas"] == nodes
    conf = one(docs, "ConfigMap", "redis-cluster")["data"]["redis.conf"]
    maxmemory = next(line.split()[1] for line in conf.splitlines() if line.startswith("maxmemory "))
    assert size_bytes(maxmemory.upper().replace("GB", "GB")) == size_bytes(memory)
    limit = quantity(
        sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    )
    assert limit > size_bytes(memory)


def test_influxdb_replicas_storage_and_retention_tiers(rendered: Any) -> None:
    replicas, storage, tiers = seed().influx
    docs = rendered("production")
    sts = one(docs, "StatefulSet", "influxdb")
    assert sts["spec"]["replicas"] == replicas
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert quantity(claim) == size_bytes(storage)
    buckets = dict(
        line.split("\t")
        for line in one(docs, "ConfigMap", "influxdb-retention")["data"]["buckets.tsv"].splitlines()
    )
    assert {name.removeprefix("itscam-"): duration_seconds(d) for name, d in buckets.items()} == {
        name: duration_seconds(d) for name, d in tiers.items()
    }
    relay = one(docs, "ConfigMap", "telegraf-influx-relay")["data"]["telegraf.conf"]
    assert relay.count("[[outputs.influxdb_v2]]") == replicas, "every point goes to every replica"


def _rules(docs: Any) -> dict[str, dict[str, Any]]:
    rules = {}
    for pr in find(docs, "PrometheusRule"):
        for group in pr["spec"]["groups"]:
            for rule in group["rules"]:
                rules[rule.get("alert") or rule["record"]] = rule
    return rules


def test_alert_thresholds_are_the_seed_thresholds(rendered: Any) -> None:
    a = seed().alerts
    rules = _rules(rendered("production"))
    latency = rules["HighInferenceLatency"]
    assert latency["expr"].rstrip().endswith(f"> {a['latency_ms']}")
    assert duration_seconds(latency["for"]) == a["latency_for_s"]
    assert "/ 1000" in rules["itscam:triton_inference_latency_ms:avg2m"]["expr"], (
        "the rule is in ms"
    )
    error = rules["HighErrorRate"]
    assert error["expr"].rstrip().endswith(f"> {a['error_ratio']}")
    assert duration_seconds(error["for"]) == a["error_for_s"]
    assert a["offline"] == "immediate"
    assert duration_seconds(rules["CameraOffline"].get("for", "0s")) == 0
    assert {
        "PostgresInstanceDown",
        "PostgresConnectionsNearLimit",
        "PgBouncerClientsWaiting",
    } <= set(rules)
    assert (
        "LowGPUUtilization" in rules
        and "DCGM_FI_DEV_GPU_UTIL" in rules["LowGPUUtilization"]["expr"]
    )
    assert (
        rules["MonthlyCostOverBudget"]["expr"].rstrip().endswith(f"> {seed().monthly_budget_usd}")
    )


def test_alert_rules_use_the_workers_metric_names(rendered: Any) -> None:
    # The names the stream workers export (streaming/metrics.py).
    from streaming import metrics

    exported = {
        c._name for c in vars(metrics).values() if hasattr(c, "_name") and hasattr(c, "_type")
    }
    used = set()
    for rule in _rules(rendered("production")).values():
        for token in re.findall(r"\bitscam_[a-z0-9_]+", rule["expr"]):
            used.add(token.removesuffix("_bucket").removesuffix("_total"))
    exported_base = {n.removesuffix("_total") for n in exported}
    missing = used - exported_base - {"itscam_camera_up"}
    assert not missing, f"rules use metrics no worker exports: {missing}"


def test_observability_stack_sizes() -> None:
    o = seed().observability
    kps = yaml.safe_load((HELM / "kube-prometheus-stack.yaml").read_text())
    spec = kps["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == o["prometheus_replicas"]
    assert spec["retention"] == o["prometheus_retention"]
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert quantity(claim) == size_bytes(o["prometheus_storage"])
    assert kps["alertmanager"]["alertmanagerSpec"]["replicas"] == o["alertmanager_replicas"]
    assert (
        kps["grafana"]["replicas"] >= 2
        and kps["grafana"]["grafana.ini"]["database"]["type"] == "postgres"
    )
    loki = yaml.safe_load((HELM / "loki.yaml").read_text())
    assert loki["write"]["replicas"] == loki["read"]["replicas"] == o["loki_replicas"]
    assert loki["loki"]["replication_factor"] == o["loki_replicas"]


def test_alertmanager_routes_reach_slack_and_email_with_secrets_by_file() -> None:
    cfg = yaml.safe_load((HELM / "kube-prometheus-stack.yaml").read_text())["alertmanager"][
        "config"
    ]
    names = {r["receiver"] for r in cfg["route"]["routes"]} | {cfg["route"]["receiver"]}
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert names <= set(receivers)
    assert any("slack_configs" in r for r in receivers.values())
    assert any("email_configs" in r for r in receivers.values())
    assert cfg["global"]["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert cfg["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    assert "slack_api_url" not in cfg["global"] and "smtp_auth_password" not in cfg["global"]
    offline = next(r for r in cfg["route"]["routes"] if "CameraOffline" in r["matchers"][0])
    assert offline["group_wait"] == "0s", "camera offline is immediate"


def test_dashboards_cover_pipeline_cameras_traffic_and_cost() -> None:
    boards = dashboards()
    assert set(boards) == {"pipeline", "camera-health", "traffic-overview", "cost"}
    for name, board in boards.items():
        assert board["uid"].startswith("itscam-") and board["panels"], name
        for panel in board["panels"]:
            assert panel["targets"], f"{name}: panel {panel['title']} has no query"
    cost_text = str(boards["cost"])
    assert str(seed().monthly_budget_usd) in cost_text


@pytest.mark.parametrize("profile", ["primary", "gpu", "micro"])
def test_edge_site_profiles_carry_the_seed_camera_densities(profile: str, rendered: Any) -> None:
    _, _, instance, cameras = seed().edge_nodes[profile]
    overlay = {
        "primary": "edge-sites/primary-site",
        "gpu": "edge-sites/gpu-site",
        "micro": "edge-sites/micro-site",
    }[profile]
    docs = rendered(overlay)
    cfg = one(docs, "ConfigMap", "itscam-config", "itscam-edge")["data"]
    assert cfg["ITSCAM_EDGE_SITE_PROFILE"] == profile
    assert cfg["ITSCAM_EDGE_NODE_TYPE"] == instance
    assert int(cfg["ITSCAM_EDGE_CAMERAS"]) == cameras
    assert cfg["ITSCAM_INFERENCE_BACKEND"] == "onnxruntime"
    ingest = one(docs, "StatefulSet", "camera-ingest")
    per_shard = int(
        next(
            e["value"]
            for e in ingest["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"] == "ITSCAM_INGEST_CAMERAS_PER_SHARD"
        )
    )
    assert ingest["spec"]["replicas"] * per_shard >= cameras
    assert not find(docs, "Deployment", "triton"), "edge sites infer in-process"


def test_edge_fleet_sizes_are_documented_in_the_site_config() -> None:
    text = (DEPLOY / "overlays" / "edge" / "site.yaml").read_text()
    for profile, (low, high, instance, cameras) in seed().edge_nodes.items():
        assert f"{instance}" in text and f"{cameras} cameras each, {low}-{high} nodes" in text, (
            profile
        )


def test_cloud_fallback_hands_frames_to_the_cloud(rendered: Any) -> None:
    normal = rendered("edge-sites/primary-site")
    fallback = rendered("edge-sites/primary-site-cloud-fallback")
    assert (
        "frames"
        not in one(normal, "KafkaMirrorMaker2", "edge-to-cloud")["spec"]["mirrors"][0][
            "topicsPattern"
        ]
    )
    assert (
        "frames"
        in one(fallback, "KafkaMirrorMaker2", "edge-to-cloud")["spec"]["mirrors"][0][
            "topicsPattern"
        ]
    )
    assert one(fallback, "Deployment", "edge-inference")["spec"]["replicas"] == 0


def test_every_seed_number_appears_in_deploy() -> None:
    # A reviewer's grep: every figure of the seed (counts, sizes, durations,
    # money, percentages) is written somewhere in deploy/.
    text = "\n".join(
        p.read_text()
        for p in DEPLOY.rglob("*")
        if p.is_file()
        and p.suffix in (".yaml", ".json", ".md", ".env", ".Dockerfile", ".txt", ".py", ".sh")
        and "spec" not in p.parts
    )
    unit = r"(?:\s?(?:ms|GB|TB|Mbps|d|h|y|min|minutes|hour|weeks?))?"
    figures = set(re.findall(r"\$?\d[\d,.]*\+?%?" + unit, seed().text))
    s = seed()
    figures |= {
        s.control_plane[1],
        *(p.instance_type for p in s.node_pools.values()),
        *(f"{p.min}-{p.max}" for p in s.node_pools.values()),
        *(t for _, _, t, _ in s.edge_nodes.values()),
    }
    assert len(figures) > 60
    missing = sorted(f for f in figures if f.strip(".,") not in text)
    assert not missing, missing


def test_load_yaml_docs_reads_multi_document_files() -> None:
    assert len(load_yaml_docs(DEPLOY / "base" / "data" / "kafka-topics.yaml")) == 7


def _promql_expressions(docs: Any) -> list[tuple[str, str]]:
    out = [(name, rule["expr"]) for name, rule in _rules(docs).items()]
    for board, data in dashboards().items():
        for panel in data["panels"]:
            for target in panel["targets"]:
                if "expr" in target:
                    # Grafana template variables are not PromQL: give them a value.
                    out.append(
                        (f"{board}/{panel['title']}", target["expr"].replace("$camera_id", ".*"))
                    )
    adapter = yaml.safe_load((HELM / "prometheus-adapter.yaml").read_text())
    for rule in adapter["rules"]["custom"]:
        query = (
            rule["metricsQuery"]
            .replace("<<.GroupBy>>", "pod")
            .replace("<<.LabelMatchers>>", 'pod="x"')
        )
        out.append((rule["name"]["as"], query))
        out.append((rule["name"]["as"] + " series", rule["seriesQuery"]))
    return out


def test_every_promql_expression_parses(rendered: Any) -> None:
    import promql_parser

    bad = []
    for name, expr in _promql_expressions(rendered("production")):
        try:
            promql_parser.parse(expr)
        except ValueError as exc:
            bad.append(f"{name}: {exc}")
    assert not bad, bad


def test_promql_check_catches_a_syntax_error() -> None:
    import promql_parser

    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(itscam_frames_total[5m]) > 0.05")


_SQL_WORDS = {
    "select",
    "as",
    "from",
    "where",
    "group",
    "by",
    "order",
    "desc",
    "asc",
    "and",
    "or",
    "is",
    "null",
    "not",
    "sum",
    "avg",
    "count",
    "max",
    "min",
    "now",
    "interval",
    "hour",
    "time",
    "timefilter",
    "in",
    "limit",
}


def _table_columns(table: str) -> set[str]:
    """Column names of ``schema.table`` as the project's migrations create it."""
    sql = "\n".join(
        p.read_text()
        for p in sorted((DEPLOY.parent / "itscam" / "db" / "migrations").glob("*.sql"))
    )
    m = re.search(
        rf"CREATE TABLE IF NOT EXISTS {re.escape(table)} \((.*?)\n\);", sql, re.S
    ) or re.search(rf"create_time_table\('{re.escape(table)}', \$cols\$(.*?)\$cols\$", sql, re.S)
    assert m, f"no migration creates {table}"
    return {
        line.split()[0]
        for line in m.group(1).splitlines()
        if line.strip() and line.strip()[0].islower()
    }


def test_dashboard_sql_uses_tables_and_columns_the_migrations_create() -> None:
    checked = 0
    for board, data in dashboards().items():
        for panel in data["panels"]:
            for target in panel["targets"]:
                sql = target.get("rawSql")
                if not sql:
                    continue
                tables = set(re.findall(r"FROM ([a-z_]+\.[a-z_0-9]+)", sql))
                assert tables, f"{board}/{panel['title']}: no table"
                columns = set().union(*(_table_columns(t) for t in tables))
                body = re.sub(r"'[^']*'", "", sql.replace("$__timeFilter", ""))
                aliases = set(re.findall(r"\bAS ([a-z_0-9]+)", body, re.I))
                words = {w for w in re.findall(r"\b[a-z_][a-z_0-9]*\b", body)}
                words -= (
                    _SQL_WORDS
                    | aliases
                    | {t.split(".")[0] for t in tables}
                    | {t.split(".")[1] for t in tables}
                )
                unknown = words - columns
                assert not unknown, (
                    f"{board}/{panel['title']}: {sorted(unknown)} not in {sorted(tables)}"
                )
                checked += 1
    assert checked >= 6


def test_production_pre_scales_for_the_rush_hours(rendered: Any) -> None:
    so = one(rendered("production"), "ScaledObject", "camera-processor")["spec"]
    crons = [t["metadata"] for t in so["triggers"] if t["type"] == "cron"]
    _, processors = seed().environment("production")
    assert len(crons) == 2 and all(int(c["desiredReplicas"]) == processors for c in crons)
    assert all(
        len(c["start"].split()) == len(c["end"].split()) == 5 and c["timezone"] for c in crons
    )


def test_every_iam_role_the_manifests_use_is_created_for_that_service_account(
    rendered: Any,
) -> None:
    cfg = _cluster()
    roles = {
        sa["roleName"]: (sa["metadata"]["namespace"], sa["metadata"]["name"])
        for sa in cfg["iam"]["serviceAccounts"]
        if "roleName" in sa
    }
    used = set()
    for path in DEPLOY.rglob("*.yaml"):
        if "cluster" in path.parts:
            continue
        used |= set(
            re.findall(
                r"eks\.amazonaws\.com/role-arn: arn:aws:iam::\d+:role/([\w-]+)", path.read_text()
            )
        )
    assert used and used <= set(roles), sorted(used - set(roles))
    docs = rendered("production")
    for sa in find(docs, "ServiceAccount"):
        arn = sa["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
        if arn:
            assert roles[arn.rsplit("/", 1)[1]] == (
                sa["metadata"]["namespace"],
                sa["metadata"]["name"],
            )
    pg = one(docs, "Cluster", "itscam-pg")
    arn = pg["spec"]["serviceAccountTemplate"]["metadata"]["annotations"][
        "eks.amazonaws.com/role-arn"
    ]
    assert roles[arn.rsplit("/", 1)[1]] == ("itscam-data", "itscam-pg"), (
        "CNPG names the SA after the cluster"
    )


@pytest.mark.parametrize("env", ["development", "staging", "production"])
def test_memory_settings_fit_their_containers(env: str, rendered: Any) -> None:
    docs = rendered(env)
    sts = one(docs, "StatefulSet", "redis-cluster")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    conf = one(docs, "ConfigMap", "redis-cluster")["data"]["redis.conf"]
    maxmemory = next(line.split()[1] for line in conf.splitlines() if line.startswith("maxmemory "))
    cmd = container["command"]
    if "--maxmemory" in cmd:
        maxmemory = cmd[len(cmd) - 1 - cmd[::-1].index("--maxmemory") + 1]
    assert size_bytes(maxmemory.upper()) < quantity(container["resources"]["limits"]["memory"])
    for cluster in find(docs, "Cluster"):
        params = cluster["spec"]["postgresql"]["parameters"]
        limit = quantity(cluster["spec"]["resources"]["limits"]["memory"])
        assert size_bytes(params["shared_buffers"]) < limit / 2, cluster["metadata"]["name"]
        assert size_bytes(params["effective_cache_size"]) < limit, cluster["metadata"]["name"]
