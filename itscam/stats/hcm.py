"""Traffic statistics after the Highway Capacity Manual (HCM 6th edition).

Plain functions of counts and speeds; the SQL that computes the same figures
inside PostgreSQL (:mod:`itscam.stats.sql`) takes its constants from here, so
the thresholds and factors exist once.

Units and conventions:

- Volumes are vehicle counts in an interval; flow rates are per hour and per
  lane (every statistic here is per camera, lane and direction, so ``N = 1``).
- Passenger-car equivalents: ``f_HV = 1 / (1 + P_T (E_T - 1))`` (HCM 6 eq.
  12-10 with recreational vehicles folded into trucks), ``P_T`` the share of
  heavy vehicles (buses and trucks) and ``E_T`` their passenger-car equivalent,
  2.0 by default (HCM 6 for basic freeway segments on level terrain).
  Motorcycles count as passenger cars, as in the HCM.
- Peak hour factor ``PHF = V / (4 * V15max)``: hourly volume over four times
  the busiest 15-minute volume in that hour; 1.0 is perfectly even, 0.25 is
  everything in one quarter.
- Density ``D = v_p / S`` in passenger cars per mile per lane, with the flow
  rate ``v_p`` in pc/h/ln and the mean speed ``S`` converted from km/h to
  mi/h (1 mi = 1.609344 km exactly). Per kilometre: ``D_km = D_mi / 1.609344``.
- Level of service for basic freeway segments by density (HCM 6 exhibit
  12-15, pc/mi/ln): A <= 11, B <= 18, C <= 26, D <= 35, E <= 45, F above.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from itscam.errors import DataError

#: Kilometres per statute mile (exact, international mile).
KM_PER_MILE = 1.609344

#: Passenger-car equivalent of a heavy vehicle (HCM 6, level terrain).
DEFAULT_E_T = 2.0

#: Upper density bound (pc/mi/ln) of each level of service, basic freeway segment.
LOS_THRESHOLDS_PC_MI_LN: tuple[tuple[str, float], ...] = (
    ("A", 11.0),
    ("B", 18.0),
    ("C", 26.0),
    ("D", 35.0),
    ("E", 45.0),
)
#: Level of service above the last threshold.
LOS_WORST = "F"

#: The HCM analysis period.
ANALYSIS_PERIOD_MIN = 15


def kmh_to_mph(speed_kmh: float) -> float:
    """Convert km/h to mi/h."""
    return speed_kmh / KM_PER_MILE


def mph_to_kmh(speed_mph: float) -> float:
    """Convert mi/h to km/h."""
    return speed_mph * KM_PER_MILE


def per_mile_to_per_km(density_per_mile: float) -> float:
    """Convert a density per mile to the same density per kilometre."""
    return density_per_mile / KM_PER_MILE


def flow_rate(volume: float, interval_min: float = ANALYSIS_PERIOD_MIN) -> float:
    """Hourly flow rate (veh/h/ln) equivalent to ``volume`` counted over ``interval_min`` minutes."""
    if interval_min <= 0:
        raise DataError(f"interval must be positive, got {interval_min} min")
    if volume < 0:
        raise DataError(f"volume must be >= 0, got {volume}")
    return volume * 60.0 / interval_min


def heavy_share(heavy: float, total: float) -> float:
    """Share ``P_T`` of heavy vehicles in ``total`` (0 when nothing was counted)."""
    if heavy < 0 or total < 0 or heavy > total:
        raise DataError(f"heavy vehicles ({heavy}) must lie in 0..total ({total})")
    return heavy / total if total else 0.0


def heavy_vehicle_factor(p_t: float, e_t: float = DEFAULT_E_T) -> float:
    """``f_HV = 1 / (1 + P_T (E_T - 1))`` for heavy-vehicle share ``p_t`` in 0..1."""
    if not 0.0 <= p_t <= 1.0:
        raise DataError(f"heavy-vehicle share must lie in 0..1, got {p_t}")
    if e_t < 1.0:
        raise DataError(f"E_T must be >= 1 (a heavy vehicle is at least one car), got {e_t}")
    return 1.0 / (1.0 + p_t * (e_t - 1.0))


def pc_flow_rate(flow_veh_h: float, f_hv: float, phf: float = 1.0) -> float:
    """Flow rate in passenger cars (pc/h/ln): ``v_p = V / (PHF * f_HV)``.

    For a 15-minute flow rate the peak is already in the number, so ``phf``
    stays 1.0; pass the PHF when ``flow_veh_h`` is a full hourly volume.
    """
    if not 0.0 < f_hv <= 1.0:
        raise DataError(f"f_HV must lie in (0, 1], got {f_hv}")
    if not 0.25 <= phf <= 1.0:
        raise DataError(f"PHF must lie in 0.25..1, got {phf}")
    return flow_veh_h / (phf * f_hv)


def peak_hour_factor(volumes_15min: Sequence[float]) -> float | None:
    """``PHF = V / (4 V15max)`` over the four 15-minute volumes of one hour.

    Returns ``None`` for an hour with no traffic (the factor is undefined).
    """
    if len(volumes_15min) != 4:
        raise DataError(
            f"PHF needs the four 15-minute volumes of an hour, got {len(volumes_15min)}"
        )
    if any(v < 0 for v in volumes_15min):
        raise DataError(f"volumes must be >= 0, got {list(volumes_15min)}")
    peak = max(volumes_15min)
    if peak == 0:
        return None
    return sum(volumes_15min) / (4.0 * peak)


def density_pc_mi_ln(pc_flow: float, speed_kmh: float | None) -> float | None:
    """Density ``D = v_p / S`` in pc/mi/ln from a flow in pc/h/ln and a mean speed in km/h.

    No flow means an empty road (density 0) even without a speed; flow
    without a usable speed has no density (``None``).
    """
    if pc_flow < 0:
        raise DataError(f"flow must be >= 0, got {pc_flow}")
    if pc_flow == 0:
        return 0.0
    if speed_kmh is None or not math.isfinite(speed_kmh) or speed_kmh <= 0:
        return None
    return pc_flow / kmh_to_mph(speed_kmh)


def level_of_service(density: float | None) -> str | None:
    """Basic-freeway-segment LOS letter for a density in pc/mi/ln (``None`` if unknown)."""
    if density is None:
        return None
    if density < 0:
        raise DataError(f"density must be >= 0, got {density}")
    for letter, upper in LOS_THRESHOLDS_PC_MI_LN:
        if density <= upper:
            return letter
    return LOS_WORST


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..1), as PostgreSQL's ``percentile_cont``."""
    if not 0.0 <= q <= 1.0:
        raise DataError(f"percentile must lie in 0..1, got {q}")
    data = sorted(values)
    if not data:
        return None
    pos = q * (len(data) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)
