"""scripts/oracle_counts.py: a cached render replays to the very same scores."""

from __future__ import annotations

from tests.unit.scripts import load_script


def _module():
    return load_script("oracle_counts")


def test_cached_render_replays_to_the_same_scores(tmp_path, monkeypatch):
    oc = _module()
    fresh = oc.run_one("highway", 12.0, 5.0, cache=tmp_path)
    (meta,) = tmp_path.glob("*.json")
    assert meta.name == "highway_12s_5fps.json"

    def no_render(*a, **k):
        raise AssertionError("rendered again despite the cache")

    monkeypatch.setattr(oc, "render", no_render)
    again = oc.run_one("highway", 12.0, 5.0, cache=tmp_path)
    assert again == fresh
    assert fresh["true_crossings"] > 0 and fresh["measured_crossings"] > 0


def test_jitter_moves_boxes_and_confidences_within_its_bounds():
    import numpy as np
    import pytest

    from itscam.domain.detections import Detections

    oc = _module()
    d = Detections(
        np.array([[10.0, 20.0, 50.0, 60.0]] * 200), np.full(200, 0.5), np.zeros(200, np.int32)
    )
    (j,) = oc.jittered([d], 0.1, np.random.default_rng(3))
    moved = np.abs(j.xyxy - d.xyxy)
    assert moved.max() <= 0.1 and moved.mean() > 0.02  # uniform in +-0.1 px
    assert np.abs(j.confidence - 0.5).max() <= 0.001 and (j.confidence != 0.5).all()
    with pytest.raises(SystemExit):  # jitter without the detector's boxes is refused
        oc.main(["--jitter", "0.1", "highway"])
