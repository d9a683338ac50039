"""The analysis benchmark runs both trackers on one stream and scores them."""

from __future__ import annotations

import numpy as np

from itscam.domain.bench_analysis import run_analysis_bench, synthetic_stream


def test_synthetic_stream_has_about_forty_objects_and_consistent_truth():
    s = synthetic_stream(seconds=3)
    n = [len(t) for t in s.truth_ids]
    assert 30 <= np.mean(n) <= 50
    assert all(len(b) == len(i) for b, i in zip(s.truth_boxes, s.truth_ids, strict=True))
    assert len(s.detections) == len(s.ts) == 30


def test_bench_reports_every_figure_and_ours_tracks_at_least_as_well_as_the_peer():
    r = run_analysis_bench(seconds=8)
    for k in (
        "analysis_ms_per_frame",
        "peer_ms_per_frame",
        "analysis_vs_peer",
        "mota",
        "idf1",
        "peer_mota",
        "peer_idf1",
    ):
        assert isinstance(r[k], float), k
    assert (
        r["analysis_vs_peer"] == round(r["analysis_ms_per_frame"] / r["peer_ms_per_frame"], 3)
        or abs(r["analysis_vs_peer"] - r["analysis_ms_per_frame"] / r["peer_ms_per_frame"]) < 0.01
    )
    assert 0.5 < r["mota"] <= 1 and 0.5 < r["idf1"] <= 1
    assert r["mota"] >= r["peer_mota"] - 0.01 and r["idf1"] >= r["peer_idf1"] - 0.01
