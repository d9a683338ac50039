"""A new ONNX in the inbox goes through the gates to Triton serving it, and the rollback job undoes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import materialize
from its_platform.assets.models import MODEL_ASSETS, model_rollback_job
from its_platform.assets.models import repository as repo
from its_platform.resources import ModelRepositoryResource, TritonResource

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "triton_models" / "yolo11n" / "1" / "model.onnx"


@pytest.fixture(scope="module")
def triton_server(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip("no trained detector at triton_models/yolo11n/1/model.onnx")
    from tests.unit.inference.factories import TritonServer

    with TritonServer(tmp_path_factory.mktemp("triton"), MODEL) as server:
        yield server


def _resources(server, pg, tmp_path, budget_ms: float = 2000.0) -> dict:
    return {
        "models": ModelRepositoryResource(
            repository=str(server.repository),
            inbox=str(tmp_path / "inbox"),
            archive=str(tmp_path / "archive"),
            latency_budget_ms=budget_ms,
        ),
        "triton": TritonResource(url=server.grpc_url),
        "postgres": pg,
    }


def _drop(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    candidate = inbox / "candidate.onnx"
    shutil.copy2(MODEL, candidate)
    return candidate


def test_new_onnx_is_served_then_rolled_back(triton_server, pg, tmp_path) -> None:
    candidate = _drop(tmp_path)
    resources = _resources(triton_server, pg, tmp_path)
    result = materialize(
        MODEL_ASSETS,
        resources=resources,
        run_config={"ops": {"model_candidate": {"config": {"path": str(candidate)}}}},
    )
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert all(e.passed for e in checks.values()), {n: e.metadata for n, e in checks.items()}
    assert "candidate mAP50" in checks["gate_accuracy_not_worse"].metadata["detail"].value
    out = result.output_for_node("triton_model_version")
    version, model_dir = out["version"], triton_server.repository / "yolo11n"
    assert version > 1 and repo.versions(model_dir) == [1, version]
    client = resources["triton"].client()
    assert client.is_model_ready("yolo11n", str(version))
    assert [int(v) for v in client.get_model_metadata("yolo11n").versions] == [version]
    state = pg.fetch_all(
        "SELECT state FROM ops.model_versions WHERE model_name = 'yolo11n' AND version = %s",
        (version,),
    )
    assert state == [("serving",)]

    rollback = model_rollback_job.execute_in_process(resources=resources)
    assert rollback.success
    assert repo.versions(model_dir) == [1]
    assert (tmp_path / "archive" / f"{version}-rolled-back" / "model.onnx").exists()
    assert client.is_model_ready("yolo11n", "1")
    assert [int(v) for v in client.get_model_metadata("yolo11n").versions] == [1]
    state = pg.fetch_all(
        "SELECT state FROM ops.model_versions WHERE model_name = 'yolo11n' AND version = %s",
        (version,),
    )
    assert state == [("rolled_back",)]


def test_a_candidate_over_the_latency_budget_is_never_published(
    triton_server, pg, tmp_path
) -> None:
    candidate = _drop(tmp_path)
    resources = _resources(triton_server, pg, tmp_path, budget_ms=0.01)
    result = materialize(
        MODEL_ASSETS,
        resources=resources,
        raise_on_error=False,
        run_config={
            "ops": {
                "model_candidate": {"config": {"path": str(candidate)}},
                "validated_model": {"config": {"latency_runs": 3}},
            }
        },
    )
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"gate_latency_within_budget"}
    done = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "triton_model_version" not in done
    assert repo.versions(triton_server.repository / "yolo11n") == [1]


def test_a_file_that_breaks_the_detector_contract_stops_at_the_first_gate(pg, tmp_path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.onnx").write_bytes(b"not an onnx graph")
    models = ModelRepositoryResource(
        repository=str(tmp_path / "repo"), inbox=str(inbox), archive=str(tmp_path / "archive")
    )
    result = materialize(
        MODEL_ASSETS,
        resources={"models": models, "triton": TritonResource(), "postgres": pg},
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["candidate_io_contract"].passed
    assert "gate_accuracy_not_worse" not in evaluations
    done = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert done == {"model_candidate"}


def test_a_candidate_worse_than_the_serving_version_is_rejected(pg, tmp_path) -> None:
    if not MODEL.exists():
        pytest.skip("no trained detector at triton_models/yolo11n/1/model.onnx")
    repository = tmp_path / "repo"
    (repository / "yolo11n" / "1").mkdir(parents=True)
    shutil.copy2(MODEL, repository / "yolo11n" / "1" / "model.onnx")
    candidate = _drop(tmp_path)
    with pg.connection() as conn:
        # The registry says the serving version scored better than any real model could.
        conn.execute("DELETE FROM ops.model_versions WHERE model_name = 'itest6_yolo'")
        conn.execute(
            "INSERT INTO ops.model_versions (model_name, version, state, source_path, sha256, map50) "
            "VALUES ('itest6_yolo', 1, 'serving', 'seed', 'x', 0.9999)"
        )
    (repository / "itest6_yolo").symlink_to(repository / "yolo11n", target_is_directory=True)
    models = ModelRepositoryResource(
        repository=str(repository),
        model_name="itest6_yolo",
        inbox=str(tmp_path / "inbox"),
        archive=str(tmp_path / "archive"),
        latency_budget_ms=5000,
    )
    result = materialize(
        MODEL_ASSETS,
        resources={"models": models, "triton": TritonResource(), "postgres": pg},
        raise_on_error=False,
        run_config={"ops": {"model_candidate": {"config": {"path": str(candidate)}}}},
    )
    failed = {
        e.check_name: e.metadata for e in result.get_asset_check_evaluations() if not e.passed
    }
    assert set(failed) == {"gate_accuracy_not_worse"}
    assert "vs serving 0.9999" in failed["gate_accuracy_not_worse"]["detail"].value
    done = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert "triton_model_version" not in done
    assert pg.fetch_all(
        "SELECT state FROM ops.model_versions WHERE model_name = 'itest6_yolo' AND version IS NULL "
        "ORDER BY id DESC LIMIT 1"
    ) == [("rejected",)]


def test_a_pt_checkpoint_is_exported_without_touching_the_inbox(tmp_path, monkeypatch) -> None:
    weights = REPO / "runs" / "detect" / "vehicles" / "weights" / "best.pt"
    if not (REPO / ".venv-train" / "bin" / "python").exists() or not weights.exists():
        pytest.skip(
            "needs .venv-train and a trained checkpoint (runs/detect/vehicles/weights/best.pt)"
        )
    from itscam.settings import get_settings

    monkeypatch.setenv("ITSCAM_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        shutil.copy2(weights, inbox / "mine.pt")
        models = ModelRepositoryResource(repository=str(tmp_path / "repo"), inbox=str(inbox))
        from its_platform.assets.models import model_candidate

        result = materialize([model_candidate], resources={"models": models})
        assert [(e.check_name, e.passed) for e in result.get_asset_check_evaluations()] == [
            ("candidate_io_contract", True)
        ]
        out = result.output_for_node("model_candidate")
        assert out["onnx"] == str(tmp_path / "state" / "model_candidates" / "mine.onnx")
        assert sorted(p.name for p in inbox.iterdir()) == ["mine.pt"]
    finally:
        get_settings.cache_clear()
