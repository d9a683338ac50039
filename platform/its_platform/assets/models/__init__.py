"""Triton model updates: inbox -> export -> gates -> publish -> load -> verify; rollback job.

New weights (an Ultralytics ``.pt`` or an exported ``.onnx``) dropped into the
model inbox are picked up by ``model_inbox_sensor``. ``model_candidate``
exports a ``.pt`` through :func:`itscam.model.importer.import_checkpoint` and
checks the detector contract (input ``images`` [N,3,544,960], output
``output0`` [N,8,10710]: the repository's ``itscam.vision.INPUT_HW``; weights
exported at another size are rejected); ``validated_model`` runs the gates (accuracy on the
simulator's held-out set not worse than the serving version, via
:func:`itscam.model.evaluate.evaluate`; median latency within budget);
``triton_model_version`` publishes the next version folder, loads it through
Triton's model-control API and verifies it serves. The previous version stays
in the repository, so ``model_rollback_job`` is one click.
"""

import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MetadataValue,
    OpExecutionContext,
    Output,
    asset,
    job,
    op,
)
from its_platform.assets.models import repository as repo
from its_platform.resources import ModelRepositoryResource, PostgresResource, TritonResource
from pydantic import Field

from itscam.errors import ModelError, ServiceError
from itscam.settings import get_settings
from itscam.vision import INPUT_HW, anchor_count

WEIGHT_SUFFIXES = (".onnx", ".pt")


class CandidateConfig(Config):
    """Which file to consider (the sensor passes the one it saw)."""

    path: str = Field("", description="Weights file; empty = newest .onnx/.pt in the inbox")


class GateConfig(Config):
    require_accuracy: bool = Field(
        True,
        description="Fail the accuracy gate when the evaluator or its held-out set is unavailable",
    )
    latency_runs: int = Field(20, description="Timed single-image runs for the latency gate")


def newest_inbox_file(inbox: Path) -> Path | None:
    files = (
        [p for p in inbox.glob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
        if inbox.is_dir()
        else []
    )
    return max(files, key=lambda p: (p.stat().st_mtime, p.name)) if files else None


def check_contract(onnx: Path) -> tuple[bool, str]:
    """The detector I/O contract, checked by running a batch of 2 through onnxruntime."""
    try:
        from itscam.domain.detections import VEHICLE_CLASSES
        from itscam.model.export import check_onnx

        shape = check_onnx(onnx, len(VEHICLE_CLASSES))
        return True, f"output0 {shape}"
    except ModelError as exc:
        return False, str(exc)
    except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
        return False, f"{type(exc).__name__}: {exc}"


def measure_latency_ms(onnx: Path, runs: int) -> float:
    """Median wall time of one letterboxed ``INPUT_HW`` image through onnxruntime here."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx), sess_options=opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, *INPUT_HW), dtype=np.float32)
    sess.run(None, {"images": x})
    times = []
    for _ in range(max(3, runs)):
        t0 = time.perf_counter()
        sess.run(None, {"images": x})
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def evaluate_map50(onnx: Path) -> tuple[float | None, str]:
    """mAP50 on the simulator's held-out set, or ``None`` with the reason it could not run."""
    try:
        from itscam.model.dataset import DEFAULT_OUT
        from itscam.model.evaluate import evaluate
    except ImportError as exc:
        return None, f"evaluator not available: {exc}"
    try:
        metrics = evaluate(onnx, DEFAULT_OUT)
    except Exception as exc:  # a missing dataset or renderer must not crash the gate
        return None, f"evaluation failed: {type(exc).__name__}: {exc}"
    return float(metrics["map50"]), json.dumps(
        {k: metrics[k] for k in ("map50", "map50_95") if k in metrics}
    )


def _registry(postgres: PostgresResource, query: str, params: Any) -> list[tuple[Any, ...]]:
    with postgres.connection() as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


@asset(
    group_name="models",
    kinds={"onnx"},
    check_specs=[
        AssetCheckSpec(
            "candidate_io_contract",
            asset="model_candidate",
            blocking=True,
            description=f"Input images [N,3,{INPUT_HW[0]},{INPUT_HW[1]}], "
            f"output output0 [N,8,{anchor_count(INPUT_HW)}].",
        )
    ],
)
def model_candidate(
    context: AssetExecutionContext, config: CandidateConfig, models: ModelRepositoryResource
):
    """The newest weights in the model inbox, exported to ONNX and checked against the detector contract."""
    source = Path(config.path) if config.path else newest_inbox_file(models.inbox_path())
    if source is None or not source.exists():
        raise ModelError(f"no .onnx or .pt in {models.inbox_path()}; drop new weights there first")
    work = get_settings().state_dir / "model_candidates"
    work.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".pt":
        from itscam.model.importer import import_checkpoint

        # Export from a copy: Ultralytics writes its ONNX beside the weights, and a file
        # appearing in the inbox would trigger the sensor a second time.
        weights = work / source.name
        shutil.copy2(source, weights)
        onnx = work / f"{source.stem}.onnx"
        try:
            # A checkpoint trained on the four vehicle classes exports as it is ...
            import_checkpoint(weights, onnx, None)
        except ModelError:
            # ... a COCO one (80 classes) keeps only car, motorcycle, bus and truck.
            import_checkpoint(weights, onnx)
    else:
        onnx = work / source.name
        shutil.copy2(source, onnx)
    ok, detail = check_contract(onnx)
    digest = repo.sha256(onnx)
    context.log.info("candidate %s -> %s (%s)", source, onnx, detail)
    value = {"source": str(source), "onnx": str(onnx), "sha256": digest}
    yield Output(
        value,
        metadata={
            "source": MetadataValue.path(str(source)),
            "onnx": MetadataValue.path(str(onnx)),
            "sha256": digest,
            "bytes": onnx.stat().st_size,
        },
    )
    yield AssetCheckResult(
        check_name="candidate_io_contract", passed=ok, metadata={"detail": detail}
    )


@asset(
    group_name="models",
    kinds={"onnx"},
    check_specs=[
        AssetCheckSpec(
            "gate_accuracy_not_worse",
            asset="validated_model",
            blocking=True,
            description="mAP50 on the held-out simulated set >= serving version's - tolerance.",
        ),
        AssetCheckSpec(
            "gate_latency_within_budget",
            asset="validated_model",
            blocking=True,
            description="Median single-image latency within the budget on this machine.",
        ),
    ],
)
def validated_model(
    context: AssetExecutionContext,
    config: GateConfig,
    model_candidate: dict,
    models: ModelRepositoryResource,
    postgres: PostgresResource,
):
    """The candidate after the release gates: accuracy not worse than serving, latency within budget."""
    onnx = Path(model_candidate["onnx"])
    latency = measure_latency_ms(onnx, config.latency_runs)
    latency_ok = latency <= models.latency_budget_ms
    cand_map, cand_note = evaluate_map50(onnx)
    serving = repo.serving_version(models.model_dir())
    base_map: float | None = None
    base_note = "no serving version"
    if serving is not None:
        rows = _registry(
            postgres,
            "SELECT map50 FROM ops.model_versions WHERE model_name = %s AND version = %s "
            "AND map50 IS NOT NULL ORDER BY id DESC LIMIT 1",
            (models.model_name, serving),
        )
        if rows:
            base_map, base_note = float(rows[0][0]), f"registry (version {serving})"
        else:
            base_map, base_note = evaluate_map50(
                models.model_dir() / str(serving) / repo.MODEL_FILE
            )
    if cand_map is None:
        acc_ok = not config.require_accuracy
        acc_detail = f"candidate not evaluated ({cand_note})"
    elif base_map is None:
        acc_ok = serving is None or not config.require_accuracy
        acc_detail = f"candidate mAP50 {cand_map:.4f}; baseline unavailable ({base_note})"
    else:
        acc_ok = cand_map >= base_map - models.accuracy_tolerance
        acc_detail = f"candidate mAP50 {cand_map:.4f} vs serving {base_map:.4f} ({base_note})"
    state = "candidate" if (acc_ok and latency_ok) else "rejected"
    _registry(
        postgres,
        "INSERT INTO ops.model_versions (model_name, state, source_path, sha256, map50, baseline_map50, latency_ms, "
        "detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            models.model_name,
            state,
            model_candidate["source"],
            model_candidate["sha256"],
            cand_map,
            base_map,
            latency,
            json.dumps({"accuracy": acc_detail, "latency_budget_ms": models.latency_budget_ms}),
        ),
    )
    context.log.info(
        "gates: accuracy %s (%s), latency %.1f ms (budget %.0f)",
        acc_ok,
        acc_detail,
        latency,
        models.latency_budget_ms,
    )
    value = dict(model_candidate, map50=cand_map, latency_ms=latency)
    yield Output(
        value,
        metadata={
            "map50": cand_map if cand_map is not None else float("nan"),
            "latency_ms": latency,
            "state": state,
        },
    )
    yield AssetCheckResult(
        check_name="gate_accuracy_not_worse",
        passed=acc_ok,
        metadata={"detail": acc_detail, "failing_count": int(not acc_ok)},
    )
    yield AssetCheckResult(
        check_name="gate_latency_within_budget",
        passed=latency_ok,
        metadata={
            "latency_ms": latency,
            "budget_ms": models.latency_budget_ms,
            "failing_count": int(not latency_ok),
        },
    )


def load_and_verify(triton: TritonResource, name: str, version: int, wait_s: float = 60.0) -> str:
    """Ask Triton to (re)load ``name`` and wait until ``version`` is ready; raise ServiceError if not."""
    from tritonclient.utils import InferenceServerException

    client = triton.client()
    try:
        client.load_model(name)
    except InferenceServerException as exc:
        if "poll" not in str(exc).lower():
            raise ServiceError(
                f"Triton at {triton.endpoint()} refused to load {name}: {exc}"
            ) from None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if client.is_model_ready(name, str(version)):
                meta = client.get_model_metadata(name)
                served = [int(v) for v in meta.versions]
                if max(served) == version:
                    return f"ready; server reports versions {served}"
        except InferenceServerException:
            pass
        time.sleep(0.5)
    raise ServiceError(
        f"Triton did not report {name} version {version} ready within {wait_s:.0f} s"
    )


def reload_dependents(triton: TritonResource, name: str) -> None:
    """Reload the ensemble that calls ``name`` so it resolves the newest version (best effort)."""
    ensemble = get_settings().triton_model
    if ensemble and ensemble != name:
        try:
            triton.client().load_model(ensemble)
        except Exception:  # the local profile may serve the model without its ensemble
            return


@asset(
    group_name="models",
    kinds={"triton"},
    check_specs=[
        AssetCheckSpec(
            "serving_version_live",
            asset="triton_model_version",
            description="Triton reports the published version ready and serving.",
        )
    ],
)
def triton_model_version(
    context: AssetExecutionContext,
    validated_model: dict,
    models: ModelRepositoryResource,
    triton: TritonResource,
    postgres: PostgresResource,
):
    """The version Triton serves: the validated model published as the next version, loaded and verified."""
    model_dir = models.model_dir()
    previous = repo.serving_version(model_dir)
    used = [
        int(r[0])
        for r in _registry(
            postgres,
            "SELECT version FROM ops.model_versions WHERE model_name = %s AND version IS NOT NULL",
            (models.model_name,),
        )
    ]
    version = repo.next_version(model_dir, models.archive_path(), used)
    folder = repo.publish(model_dir, Path(validated_model["onnx"]), version)
    context.log.info("published %s", folder)
    try:
        detail = load_and_verify(triton, models.model_name, version)
        reload_dependents(triton, models.model_name)
    except ServiceError as exc:
        repo.archive_version(model_dir, version, models.archive_path(), "failed-verify")
        if previous is not None:
            try:
                load_and_verify(triton, models.model_name, previous)
            except ServiceError:
                context.log.error("previous version %s did not come back either", previous)
        raise ServiceError(f"version {version} did not go live and was withdrawn: {exc}") from None
    with postgres.connection() as conn:
        conn.execute(
            "UPDATE ops.model_versions SET state = 'previous', updated_at = now() "
            "WHERE model_name = %s AND state = 'serving'",
            (models.model_name,),
        )
        conn.execute(
            "UPDATE ops.model_versions SET state = 'serving', version = %s, updated_at = now() WHERE id = "
            "(SELECT max(id) FROM ops.model_versions WHERE model_name = %s AND sha256 = %s AND state = 'candidate')",
            (version, models.model_name, validated_model["sha256"]),
        )
    yield Output(
        {"version": version, "previous": previous, "folder": str(folder)},
        metadata={
            "version": version,
            "previous_version": previous if previous is not None else -1,
            "folder": MetadataValue.path(str(folder)),
            "triton": detail,
        },
    )
    yield AssetCheckResult(
        check_name="serving_version_live", passed=True, metadata={"detail": detail}
    )


@op(description="Withdraw the serving version and go back to the previous one.")
def rollback_serving_version(
    context: OpExecutionContext,
    models: ModelRepositoryResource,
    triton: TritonResource,
    postgres: PostgresResource,
) -> dict:
    model_dir = models.model_dir()
    found = repo.versions(model_dir)
    if len(found) < 2:
        raise ModelError(f"{models.model_name} has versions {found}; nothing to roll back to")
    current, previous = found[-1], found[-2]
    moved = repo.archive_version(model_dir, current, models.archive_path(), "rolled-back")
    detail = load_and_verify(triton, models.model_name, previous)
    reload_dependents(triton, models.model_name)
    with postgres.connection() as conn:
        conn.execute(
            "UPDATE ops.model_versions SET state = 'rolled_back', updated_at = now() "
            "WHERE model_name = %s AND version = %s",
            (models.model_name, current),
        )
        conn.execute(
            "UPDATE ops.model_versions SET state = 'serving', updated_at = now() "
            "WHERE model_name = %s AND version = %s",
            (models.model_name, previous),
        )
        conn.execute(
            "INSERT INTO ops.platform_events (source, kind, detail) VALUES ('dagster', 'model_rollback', %s)",
            (
                json.dumps(
                    {
                        "model": models.model_name,
                        "from": current,
                        "to": previous,
                        "archived": str(moved),
                    }
                ),
            ),
        )
    context.log.info("rolled back %s: %s -> %s (%s)", models.model_name, current, previous, detail)
    return {"from": current, "to": previous, "archived": str(moved)}


@job(
    description="One-click rollback: archive the serving model version and serve the previous one."
)
def model_rollback_job() -> None:
    rollback_serving_version()


MODEL_ASSETS = [model_candidate, validated_model, triton_model_version]
