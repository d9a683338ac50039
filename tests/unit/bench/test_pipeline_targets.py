"""The target lines ``itscam bench pipeline`` prints on stderr beside its JSON line."""

from __future__ import annotations

from itscam.bench.pipeline import target_lines


def test_each_measured_figure_is_held_against_its_target() -> None:
    out = {
        "pipeline_vs_raw": 0.853,
        "null_vs_naive": 1.75,
        "analysis_vs_peer": 0.638,
        "mota": 0.9364,
        "peer_mota": 0.9292,
        "idf1": 0.94,
        "peer_idf1": 0.9429,
    }
    assert target_lines(out) == [
        "pipeline_vs_raw 0.853 (target >= 0.8): met",
        "null_vs_naive 1.75 (target >= 5.0): NOT met",
        "analysis_vs_peer 0.638 (target <= 1.0): met",
        "mota 0.9364 (target >= peer_mota 0.9292): met",
        "idf1 0.94 (target >= peer_idf1 0.9429): NOT met",
    ]


def test_a_phase_left_out_prints_no_line_for_its_figures() -> None:
    # --skip null --skip analysis: only the end-to-end ratio was measured.
    assert target_lines({"pipeline_vs_raw": 0.79, "null_vs_naive": None}) == [
        "pipeline_vs_raw 0.79 (target >= 0.8): NOT met"
    ]
