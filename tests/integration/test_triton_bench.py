"""`itscam bench inference` runs end to end and prints one JSON line with every figure."""

from __future__ import annotations

import json

import pytest

from itscam.bench.inference import main
from tests.unit.inference.factories import any_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_inference_prints_one_json_line_with_every_figure(capsys):
    model = any_model()
    if model is None:
        pytest.skip("no detector model")
    argv = ["--model", str(model), "--frames", "2", "--seconds", "1", "--rounds", "1"]
    argv += ["--batches", "1", "4", "--concurrency", "1", "4"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert [r["batch"] for r in result["raw"]] == [1, 4]
    assert [r["concurrency"] for r in result["triton"]] == [1, 4]
    for run in result["triton"]:
        assert run["errors"] == 0 and run["images_per_s"] > 0
        assert run["bytes_received_per_image"] < 4096
        assert run["bytes_sent_per_image"] > 1000  # the JPEG itself
    for step in ("preprocess", "yolo11n", "postprocess", "yolo11_detector"):
        row = result["breakdown"]["c4"][step]
        assert row["compute_infer_ms"] > 0
        assert {"queue_ms", "compute_input_ms", "compute_output_ms"} <= set(row)
    best_raw = max(r["images_per_s"] for r in result["raw"])
    best_triton = max(r["images_per_s"] for r in result["triton"])
    assert result["triton_vs_raw"] == pytest.approx(best_triton / best_raw, abs=1e-3)
    assert "p99_c1_minus_raw_b1_ms" in result
