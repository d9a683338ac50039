"""Worked examples with known answers for the HCM statistics."""

from __future__ import annotations

import pytest

from itscam.errors import DataError
from itscam.stats import hcm


def test_flow_rate_scales_15_minute_volume_to_an_hour() -> None:
    assert hcm.flow_rate(300) == 1200.0
    assert hcm.flow_rate(25, interval_min=1) == 1500.0


@pytest.mark.parametrize(
    ("p_t", "e_t", "expected"),
    [
        (0.0, 2.0, 1.0),
        (0.10, 2.0, 1 / 1.1),  # 10 % trucks on level terrain
        (0.05, 1.5, 1 / 1.025),
        (1.0, 2.0, 0.5),
        (0.2, 3.0, 1 / 1.4),
    ],
)
def test_heavy_vehicle_factor_worked_examples(p_t: float, e_t: float, expected: float) -> None:
    assert hcm.heavy_vehicle_factor(p_t, e_t) == pytest.approx(expected)


def test_heavy_vehicle_factor_default_e_t_is_two() -> None:
    assert hcm.DEFAULT_E_T == 2.0
    assert hcm.heavy_vehicle_factor(0.25) == pytest.approx(0.8)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_heavy_vehicle_factor_rejects_shares_outside_0_1(bad: float) -> None:
    with pytest.raises(DataError):
        hcm.heavy_vehicle_factor(bad)


def test_peak_hour_factor_worked_example() -> None:
    # V = 1000, busiest quarter 300 -> 1000 / 1200
    assert hcm.peak_hour_factor([250, 300, 275, 175]) == pytest.approx(0.8333333)
    assert hcm.peak_hour_factor([100, 100, 100, 100]) == 1.0
    assert hcm.peak_hour_factor([0, 0, 40, 0]) == 0.25


def test_peak_hour_factor_is_undefined_without_traffic() -> None:
    assert hcm.peak_hour_factor([0, 0, 0, 0]) is None
    with pytest.raises(DataError):
        hcm.peak_hour_factor([1, 2, 3])


def test_pc_flow_rate_worked_example() -> None:
    # HCM style: 1000 veh/h, PHF 0.85, 5 % trucks at E_T = 2 -> f_HV = 0.952
    f_hv = hcm.heavy_vehicle_factor(0.05)
    assert hcm.pc_flow_rate(1000, f_hv, phf=0.85) == pytest.approx(1000 / (0.85 * (1 / 1.05)))
    assert hcm.pc_flow_rate(1000, f_hv, phf=0.85) == pytest.approx(1235.29, abs=0.01)


def test_density_from_pc_flow_and_speed_in_kmh() -> None:
    # 1800 pc/h/ln at 60 mi/h = 96.56064 km/h -> 30 pc/mi/ln -> LOS D
    density = hcm.density_pc_mi_ln(1800, 60 * 1.609344)
    assert density == pytest.approx(30.0)
    assert hcm.per_mile_to_per_km(density) == pytest.approx(18.6411, abs=1e-4)
    assert hcm.level_of_service(density) == "D"


def test_density_edge_cases() -> None:
    assert hcm.density_pc_mi_ln(0, None) == 0.0
    assert hcm.density_pc_mi_ln(500, None) is None
    assert hcm.density_pc_mi_ln(500, 0.0) is None


@pytest.mark.parametrize(
    ("density", "los"),
    [
        (0.0, "A"),
        (11.0, "A"),
        (11.01, "B"),
        (18.0, "B"),
        (18.5, "C"),
        (26.0, "C"),
        (26.1, "D"),
        (35.0, "D"),
        (35.2, "E"),
        (45.0, "E"),
        (45.01, "F"),
        (120.0, "F"),
        (None, None),
    ],
)
def test_level_of_service_thresholds_are_inclusive_upper_bounds(
    density: float | None, los: str | None
) -> None:
    assert hcm.level_of_service(density) == los


def test_unit_conversions_round_trip() -> None:
    assert hcm.kmh_to_mph(100) == pytest.approx(62.137119)
    assert hcm.mph_to_kmh(hcm.kmh_to_mph(87.0)) == pytest.approx(87.0)


def test_percentile_matches_postgres_percentile_cont() -> None:
    assert hcm.percentile([40, 10, 30, 20], 0.85) == pytest.approx(35.5)
    assert hcm.percentile([50], 0.85) == 50
    assert hcm.percentile([], 0.85) is None


def test_heavy_share_rejects_more_heavy_than_total() -> None:
    assert hcm.heavy_share(3, 12) == 0.25
    assert hcm.heavy_share(0, 0) == 0.0
    with pytest.raises(DataError):
        hcm.heavy_share(5, 4)


def test_sql_los_case_uses_the_hcm_thresholds() -> None:
    from itscam.stats.sql import los_case

    text = los_case("d")
    for letter, upper in hcm.LOS_THRESHOLDS_PC_MI_LN:
        assert f"WHEN d <= {upper!r} THEN '{letter}'" in text
    assert text.endswith("ELSE 'F' END")


def test_sql_windows_must_be_aware_and_non_empty() -> None:
    from datetime import UTC, datetime

    from itscam.stats import sql

    start = datetime(2026, 1, 1, tzinfo=UTC)
    query, params = sql.stats_15min(start, start.replace(day=2), e_t=2.5)
    assert params["e_t"] == 2.5 and "percentile_cont(0.85)" in query
    with pytest.raises(ValueError, match="timezone-aware"):
        sql.stats_hourly(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="empty window"):
        sql.stats_daily(start, start)
