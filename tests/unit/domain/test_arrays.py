"""Packed arrays in analyser checkpoints: exact, strict JSON, older list checkpoints still load."""

from __future__ import annotations

import json

import numpy as np

from itscam.domain.arrays import pack, unpack
from itscam.domain.speed import TrackTable


def test_packed_arrays_round_trip_exactly_through_strict_json() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5, 2)) * 1e9
    a[0, 0, 0], a[1, 1, 1], a[2, 2, 0] = np.nan, np.inf, -np.inf
    for arr in (a, np.arange(7, dtype=np.int64), np.array([-1, 0, 1], np.int8), np.zeros((0, 4))):
        text = json.dumps(pack(arr), allow_nan=False)  # strict JSON
        back = unpack(json.loads(text), arr.dtype)
        assert back.shape == arr.shape and back.dtype == arr.dtype
        assert np.array_equal(back, arr, equal_nan=arr.dtype.kind == "f")


def test_a_list_from_an_older_checkpoint_still_loads() -> None:
    assert unpack([[1.5, 2.0]], np.float64).tolist() == [[1.5, 2.0]]


def test_track_table_state_is_exact_and_smaller_than_json_numbers() -> None:
    t = TrackTable()
    rng = np.random.default_rng(1)
    for k in range(30):
        ids = np.arange(40, dtype=np.int64)
        slots, _ = t.slots_for(ids, 100.0 + k / 10)
        t.observe(
            slots,
            100.0 + k / 10,
            rng.normal(size=(40, 2)) * 30,
            np.zeros(40, np.int32),
            np.full(40, 0.9),
        )
    st = json.loads(json.dumps(t.to_state(), allow_nan=False))
    t2 = TrackTable()
    t2.load_state(st)
    assert json.dumps(t2.to_state()) == json.dumps(t.to_state())
    as_numbers = len(json.dumps(t.xy[t.live_slots()].tolist()))
    assert len(json.dumps(st["xy"])) < 0.7 * as_numbers
