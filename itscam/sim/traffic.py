"""Microscopic traffic on a :class:`~itscam.sim.geometry.Layout`, stepped in time.

Each lane is a 1-D track. A vehicle's position ``p`` is the distance (metres)
of its centre from the lane's upstream end, measured in its travel direction,
so ``p`` grows as it drives; a road of half-length ``H`` has lanes ``2 H`` long,
and road coordinate ``s = direction * (p - H)``.

- Car following: the Intelligent Driver Model (Treiber et al. 2000) with
  per-class parameters; leaders are the next vehicle in the lane, a red signal's
  stop line, or a stall target.
- Lane changes: a simple MOBIL rule (incentive > 0.3 m/s^2, the new follower
  must not brake harder than 3 m/s^2), drawn as a 3 s lateral glide.
- Arrivals: Poisson per lane at ``demand_veh_h`` (vehicles/hour/lane).
- Switchable disturbances (see :class:`TrafficConfig`): a bottleneck that
  slows one direction for a while (congestion wave), a stalled vehicle, a
  wrong-way driver, fixed-time signals at an intersection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from itscam.domain.detections import VEHICLE_CLASSES
from itscam.errors import ConfigError
from itscam.sim.geometry import Lane, Layout, Road
from itscam.sim.render import VehicleState
from itscam.sim.vehicles import DESIRED_SPEED, VehicleModel, make_vehicle

#: IDM parameters per class: time headway T (s), max acceleration a (m/s^2),
#: comfortable deceleration b (m/s^2), jam gap s0 (m).
IDM = {
    "car": (1.3, 1.6, 2.0, 2.0),
    "motorcycle": (1.1, 2.2, 2.5, 1.5),
    "bus": (1.7, 0.9, 1.6, 2.5),
    "truck": (1.8, 0.8, 1.5, 2.5),
}
LANE_CHANGE_S = 3.0
#: The hardest braking of any vehicle (m/s^2): IDM's is clamped to it, an incident's too.
MAX_BRAKE_MPS2 = 9.0
#: The softest braking of a vehicle in an incident (m/s^2): an emergency stop.
ABRUPT_MPS2 = 6.0


@dataclass
class SimVehicle:
    id: int
    model: VehicleModel
    lane: Lane
    road: Road
    p: float
    v: float
    v0: float
    lateral: float = 0.0
    lateral_rate: float = 0.0
    wrong_way: bool = False
    stall_target: float | None = None
    stalled_since: float | None = None
    #: Road coordinate ``p`` where this vehicle's front stops in an incident (braking
    #: hard at a constant rate, IDM overridden); None = not involved.
    incident_target: float | None = None
    next_lc_check: float = 0.0

    @property
    def length(self) -> float:
        return self.model.length

    def pose(self) -> tuple[float, float, float]:
        """World ``(x, y, heading)`` of the footprint centre."""
        road, lane = self.road, self.lane
        s = lane.direction * (self.p - road.half_length)
        xy = road.point(s, lane.offset + self.lateral)
        heading = lane.heading_rad(road) + (math.pi if self.wrong_way else 0.0)
        return float(xy[0]), float(xy[1]), heading

    def state(self) -> VehicleState:
        x, y, h = self.pose()
        return VehicleState(self.id, self.model, x, y, h, self.v, self.lane.id)


@dataclass(frozen=True)
class TrafficConfig:
    """Traffic and disturbance switches of a scenario (the YAML ``traffic:`` and ``events:``).

    Attributes:
        demand_veh_h: arrivals per lane per hour (Poisson).
        class_mix: class -> share of arrivals.
        lane_changes: allow MOBIL lane changes.
        congestion: ``{start_s, end_s, road, direction (+1/-1), at_s, length_m, speed_mps}``:
            a temporary bottleneck (road coordinate ``at_s``) that caps speeds; the queue
            behind it travels upstream as a congestion wave. None = off.
        stalled_vehicle: ``{start_s, end_s, lane, at_s}``: the first vehicle able to stop
            comfortably before road coordinate ``at_s`` in ``lane`` stops there until
            ``end_s``. None = off.
        incident: ``{start_s, end_s, lanes: [lane, neighbour], at_s, decel_mps2}``: a
            collision: from ``start_s``, the first vehicle (not a motorcycle) that can
            stop at road coordinate ``at_s`` in ``lane`` braking at ``decel_mps2`` (up to
            9) does so, and one in the neighbouring lane, a little behind it, brakes as
            hard (6-9) and stops beside it, 2-12 m further back (a sideswipe); both
            stand until ``end_s``, then drive on. Traffic behind queues or changes
            lanes. None = off.
        wrong_way: ``{start_s, lane, speed_mps}``: a car enters ``lane`` from its downstream
            end driving against the traffic; the lane is kept clear of arrivals from
            ``start_s - 90`` until it has left. None = off.
        signal: ``{cycle_s, main_green_s, all_red_s}`` fixed-time signals for intersection
            layouts (main road first). None = no signals.
        speed_factor: scales every class's desired-speed range (1.0 = urban, ~1.6 = highway).
    """

    demand_veh_h: float = 600.0
    class_mix: dict[str, float] = field(
        default_factory=lambda: {"car": 0.8, "motorcycle": 0.07, "bus": 0.04, "truck": 0.09}
    )
    lane_changes: bool = True
    congestion: dict[str, Any] | None = None
    stalled_vehicle: dict[str, Any] | None = None
    incident: dict[str, Any] | None = None
    wrong_way: dict[str, Any] | None = None
    signal: dict[str, Any] | None = None
    speed_factor: float = 1.0

    def __post_init__(self) -> None:
        bad = set(self.class_mix) - set(VEHICLE_CLASSES)
        if bad or not self.class_mix or sum(self.class_mix.values()) <= 0:
            raise ConfigError(
                f"traffic.class_mix: use positive shares of {VEHICLE_CLASSES}, got {self.class_mix}"
            )
        if self.demand_veh_h < 0:
            raise ConfigError("traffic.demand_veh_h must be >= 0")
        inc = self.incident
        if inc is not None:
            lanes = inc.get("lanes")
            if not (isinstance(lanes, list | tuple) and len(lanes) == 2 and lanes[0] != lanes[1]):
                raise ConfigError(
                    f"events.incident.lanes: name two neighbouring lanes, got {lanes!r}"
                )
            if not 3.0 <= float(inc.get("decel_mps2", 7.0)) <= MAX_BRAKE_MPS2:
                raise ConfigError(
                    f"events.incident.decel_mps2 must be within 3-{MAX_BRAKE_MPS2:g} m/s^2"
                )
            if float(inc["end_s"]) <= float(inc["start_s"]):
                raise ConfigError("events.incident: end_s must be after start_s")


def idm_accel(v: float, v0: float, gap: float, dv: float, cls: str) -> float:
    """IDM acceleration (m/s^2) at speed ``v`` with desired ``v0``, ``gap`` to the leader
    (bumper to bumper, metres; ``inf`` for none) and closing speed ``dv = v - v_leader``."""
    T, a, b, s0 = IDM[cls]
    free = 1.0 - (v / max(v0, 0.1)) ** 4
    if not math.isfinite(gap):
        return a * free
    s_star = s0 + max(0.0, v * T + v * dv / (2 * math.sqrt(a * b)))
    return a * (free - (s_star / max(gap, 0.1)) ** 2)


class TrafficSim:
    """Advances all vehicles of a layout by ``dt`` seconds per :meth:`step`."""

    def __init__(self, layout: Layout, config: TrafficConfig, seed: int) -> None:
        self.layout = layout
        self.cfg = config
        self.rng = np.random.default_rng([seed, 17])
        self.t = 0.0
        self.vehicles: list[SimVehicle] = []
        self._next_id = 1
        lanes = [(road, lane) for road in layout.roads for lane in road.lanes]
        self._lanes = lanes
        self._next_arrival = {lane.id: self._gap_time() for _, lane in lanes}
        names = list(config.class_mix)
        w = np.array([config.class_mix[n] for n in names], np.float64)
        self._classes, self._weights = names, w / w.sum()
        self.wrong_way_id: int | None = None
        self.stalled_id: int | None = None
        #: Vehicles of the incident (``config.incident``), once it has happened.
        self.incident_ids: list[int] = []
        self._wrong_way_done = False
        self._warm_fill()

    # -- helpers -----------------------------------------------------------------

    def _gap_time(self) -> float:
        rate = self.cfg.demand_veh_h / 3600.0
        return float(self.rng.exponential(1.0 / rate)) if rate > 0 else math.inf

    def _new_vehicle(
        self, road: Road, lane: Lane, p: float, v: float | None = None, cls: str | None = None
    ) -> SimVehicle:
        cls = cls or str(self.rng.choice(self._classes, p=self._weights))
        model = make_vehicle(cls, self.rng)
        v0 = float(self.rng.uniform(*DESIRED_SPEED[cls])) * self.cfg.speed_factor
        veh = SimVehicle(
            self._next_id,
            model,
            lane,
            road,
            p,
            v0 if v is None else v,
            v0,
            next_lc_check=float(self.rng.uniform(0, 1)),
        )
        self._next_id += 1
        return veh

    def _warm_fill(self) -> None:
        """Start with traffic already on the road at roughly the equilibrium spacing."""
        for road, lane in self._lanes:
            flow = self.cfg.demand_veh_h / 3600.0
            if flow <= 0:
                continue
            p = 2 * road.half_length - 5.0
            cross = self.layout.kind == "intersection" and road is not self.layout.roads[0]
            jw = self.layout.junction_half_width(road)
            while p > 5.0:
                veh = self._new_vehicle(road, lane, p)
                if not (cross and abs(p - road.half_length) < jw + veh.length):
                    self.vehicles.append(veh)
                p -= max(veh.v0 / flow * float(self.rng.uniform(0.5, 1.5)), veh.length + 8.0)

    def lane_vehicles(self, lane_id: str) -> list[SimVehicle]:
        """Vehicles in a lane (wrong-way vehicle excluded), sorted by ``p``."""
        return sorted(
            (v for v in self.vehicles if v.lane.id == lane_id and not v.wrong_way),
            key=lambda v: v.p,
        )

    def _blocked_lane(self) -> str | None:
        ww = self.cfg.wrong_way
        if not ww or self._wrong_way_done:
            return None
        if self.t >= float(ww["start_s"]) - 90.0:
            return str(ww["lane"])
        return None

    def signal_green(self, road: Road) -> bool:
        sig = self.cfg.signal
        if not sig or self.layout.kind != "intersection":
            return True
        cycle = float(sig.get("cycle_s", 60.0))
        green_main = float(sig.get("main_green_s", cycle / 2 - 4))
        all_red = float(sig.get("all_red_s", 3.0))
        phase = self.t % cycle
        if road is self.layout.roads[0]:
            return phase < green_main
        return green_main + all_red <= phase < cycle - all_red

    def _stop_line_p(self, road: Road) -> float:
        return road.half_length - (self.layout.junction_half_width(road) + 4.2)

    def _obstacles(self, veh: SimVehicle, leader: SimVehicle | None) -> tuple[float, float]:
        """``(gap, closing speed)`` to whatever the vehicle must respect first."""
        gap, dv = math.inf, 0.0
        if leader is not None:
            gap = leader.p - veh.p - (leader.length + veh.length) / 2
            dv = veh.v - leader.v
        front = veh.p + veh.length / 2
        if self.layout.kind == "intersection" and not self.signal_green(veh.road):
            stop = self._stop_line_p(veh.road)
            d = stop - front
            # Stop only if the line is ahead and reachable at ~4 m/s^2; otherwise clear it.
            if 0 <= d < gap and veh.v**2 / (2 * 4.0) < d + 0.5:
                gap, dv = d, veh.v
        if veh.stall_target is not None:
            d = veh.stall_target - front
            if d < gap:
                gap, dv = max(d, 0.0), veh.v
        return gap, dv

    def _desired(self, veh: SimVehicle) -> float:
        c = self.cfg.congestion
        if (
            c
            and float(c["start_s"]) <= self.t < float(c["end_s"])
            and veh.road.id == str(c.get("road", veh.road.id))
            and veh.lane.direction == int(c.get("direction", 1))
        ):
            s = veh.lane.direction * (veh.p - veh.road.half_length)
            at, length = float(c["at_s"]), float(c.get("length_m", 60.0))
            ahead = (s - at) * veh.lane.direction
            if -length / 2 <= ahead <= length / 2:
                return min(veh.v0, float(c.get("speed_mps", 2.0)))
        return veh.v0

    # -- step --------------------------------------------------------------------

    def step(self, dt: float) -> None:
        self._events()
        self._arrivals()
        by_lane: dict[str, list[SimVehicle]] = {}
        for v in self.vehicles:
            if not v.wrong_way:
                by_lane.setdefault(v.lane.id, []).append(v)
        for lst in by_lane.values():
            lst.sort(key=lambda v: v.p)
        acc: dict[int, float] = {}
        for lst in by_lane.values():
            for k, veh in enumerate(lst):
                leader = lst[k + 1] if k + 1 < len(lst) else None
                gap, dv = self._obstacles(veh, leader)
                acc[veh.id] = idm_accel(veh.v, self._desired(veh), gap, dv, veh.model.cls)
        if self.cfg.lane_changes:
            self._lane_changes(by_lane, acc)
        for veh in self.vehicles:
            if veh.wrong_way:
                veh.p -= veh.v * dt
                continue
            a = max(acc.get(veh.id, 0.0), -MAX_BRAKE_MPS2)
            if veh.incident_target is not None and veh.stalled_since is None:
                a = self._incident_brake(veh, dt)
            if veh.stalled_since is not None:
                veh.v, a = 0.0, 0.0
            v_new = max(0.0, veh.v + a * dt)
            veh.p += (veh.v + v_new) / 2 * dt
            veh.v = v_new
            if veh.lateral:
                step = veh.lateral_rate * dt
                veh.lateral = 0.0 if abs(veh.lateral) <= abs(step) else veh.lateral - step
        self._stall_progress()
        self.vehicles = [v for v in self.vehicles if self._on_road(v)]
        self.t += dt

    def _on_road(self, v: SimVehicle) -> bool:
        if v.wrong_way:
            if v.p < -10.0:
                self._wrong_way_done = True
                return False
            return True
        return v.p < 2 * v.road.half_length + 10.0

    def _arrivals(self) -> None:
        blocked = self._blocked_lane()
        for road, lane in self._lanes:
            if self.t < self._next_arrival[lane.id]:
                continue
            if lane.id == blocked:
                self._next_arrival[lane.id] = self.t + self._gap_time()
                continue
            lst = [v for v in self.vehicles if v.lane.id == lane.id and not v.wrong_way]
            last = min(lst, key=lambda v: v.p) if lst else None
            veh = self._new_vehicle(road, lane, 0.0)
            if last is not None:
                room = last.p - (last.length + veh.length) / 2
                if room < 4.0:
                    continue  # queue at the entrance: try again next step
                veh.v = min(veh.v, last.v + 0.5 * room / 2.0, math.sqrt(2 * 2.0 * room))
            veh.p = -veh.length / 2 + 1.0
            self.vehicles.append(veh)
            self._next_arrival[lane.id] = self.t + self._gap_time()

    def _events(self) -> None:
        ww = self.cfg.wrong_way
        if ww and self.wrong_way_id is None and self.t >= float(ww["start_s"]):
            lane = self.layout.lane(str(ww["lane"]))
            road = self.layout.road(lane.road_id)
            veh = self._new_vehicle(
                road, lane, 2 * road.half_length, v=float(ww.get("speed_mps", 11.0)), cls="car"
            )
            veh.wrong_way = True
            self.vehicles.append(veh)
            self.wrong_way_id = veh.id
        sv = self.cfg.stalled_vehicle
        if sv and self.stalled_id is None and float(sv["start_s"]) <= self.t < float(sv["end_s"]):
            lane = self.layout.lane(str(sv["lane"]))
            road = self.layout.road(lane.road_id)
            target = float(sv["at_s"]) * lane.direction + road.half_length
            cands = [
                v
                for v in self.lane_vehicles(lane.id)
                if v.p + v.length / 2 + v.v**2 / (2 * 1.5) + 5 < target and v.model.cls == "car"
            ]
            if cands:
                veh = max(cands, key=lambda v: v.p)
                veh.stall_target = target
                self.stalled_id = veh.id
        if sv and self.stalled_id is not None and self.t >= float(sv["end_s"]):
            for v in self.vehicles:
                if v.id == self.stalled_id:
                    v.stall_target, v.stalled_since = None, None
        inc = self.cfg.incident
        if inc and not self.incident_ids and float(inc["start_s"]) <= self.t < float(inc["end_s"]):
            self._start_incident(inc)
        if inc and self.incident_ids and self.t >= float(inc["end_s"]):
            for v in self.vehicles:
                if v.id in self.incident_ids and v.incident_target is not None:
                    v.incident_target, v.stalled_since = None, None

    def _start_incident(self, inc: dict[str, Any]) -> None:
        """The collision, if two vehicles are where it can happen now (else next step)."""
        decel = float(inc.get("decel_mps2", 7.0))
        first_lane = self.layout.lane(str(inc["lanes"][0]))
        road = self.layout.road(first_lane.road_id)
        target = float(inc["at_s"]) * first_lane.direction + road.half_length

        def stop_at(v: SimVehicle, a: float) -> float:  # where its front stops braking at a
            return v.p + v.length / 2 + v.v**2 / (2 * a)

        def able(v: SimVehicle) -> bool:
            return v.model.cls != "motorcycle" and v.v > 5.0 and v.stall_target is None

        # The first: braking at `decel` (or up to the maximum) stops it at the target.
        cands = [
            v
            for v in self.lane_vehicles(first_lane.id)
            if able(v) and stop_at(v, MAX_BRAKE_MPS2) < target <= stop_at(v, decel)
        ]
        if not cands:
            return
        first = max(cands, key=lambda v: v.p)
        # Beside it: one that can stop 2-12 m behind it braking at 6-9 m/s^2.
        lo, hi = target - 12.0, target - 2.0
        beside = [
            v
            for v in self.lane_vehicles(str(inc["lanes"][1]))
            if able(v) and stop_at(v, MAX_BRAKE_MPS2) <= hi and stop_at(v, ABRUPT_MPS2) >= lo
        ]
        if not beside:
            return
        second = max(beside, key=lambda v: v.p)
        first.incident_target = target
        second.incident_target = min(max(stop_at(second, decel), lo), hi)
        self.incident_ids = [first.id, second.id]

    def _incident_brake(self, veh: SimVehicle, dt: float) -> float:
        """Constant braking that stops the vehicle's front at its incident target."""
        assert veh.incident_target is not None
        d = veh.incident_target - (veh.p + veh.length / 2)
        need = veh.v**2 / (2 * max(d, 1e-3))
        if d <= 0.05 or veh.v <= 0.05 or need * dt >= veh.v:
            veh.stalled_since = self.t
            return -veh.v / dt  # stops within this step
        return -min(need, MAX_BRAKE_MPS2)

    def _stall_progress(self) -> None:
        if self.stalled_id is None:
            return
        for v in self.vehicles:
            if (
                v.id == self.stalled_id
                and v.stall_target is not None
                and v.stalled_since is None
                and v.v < 0.3
                and v.stall_target - (v.p + v.length / 2) < 3.0
            ):
                v.stalled_since, v.v = self.t, 0.0

    def _lane_changes(self, by_lane: dict[str, list[SimVehicle]], acc: dict[int, float]) -> None:
        blocked = self._blocked_lane()
        for road in self.layout.roads:
            for direction in (1, -1):
                lanes = [ln for ln in road.lanes if ln.direction == direction]
                for k, lane in enumerate(lanes):
                    for veh in list(by_lane.get(lane.id, [])):
                        if (
                            veh.next_lc_check > self.t
                            or veh.lateral
                            or veh.stall_target is not None
                            or veh.incident_target is not None
                        ):
                            continue
                        veh.next_lc_check = self.t + 1.0
                        if self._in_junction(veh):
                            continue
                        for j in (k - 1, k + 1):
                            if not 0 <= j < len(lanes) or lanes[j].id == blocked:
                                continue
                            if self._try_change(veh, lane, lanes[j], by_lane, acc):
                                break

    def _in_junction(self, veh: SimVehicle) -> bool:
        if self.layout.kind != "intersection":
            return False
        s = veh.lane.direction * (veh.p - veh.road.half_length)
        return abs(s) < self.layout.junction_half_width(veh.road) + 25.0

    def _try_change(
        self,
        veh: SimVehicle,
        cur: Lane,
        new: Lane,
        by_lane: dict[str, list[SimVehicle]],
        acc: dict[int, float],
    ) -> bool:
        target = by_lane.setdefault(new.id, [])
        ahead = [v for v in target if v.p >= veh.p]
        behind = [v for v in target if v.p < veh.p]
        lead = ahead[0] if ahead else None
        foll = behind[-1] if behind else None
        gap_f = lead.p - veh.p - (lead.length + veh.length) / 2 if lead else math.inf
        gap_b = veh.p - foll.p - (foll.length + veh.length) / 2 if foll else math.inf
        if gap_f < 3.0 or gap_b < 3.0:
            return False
        a_new = idm_accel(
            veh.v, self._desired(veh), gap_f, veh.v - (lead.v if lead else 0.0), veh.model.cls
        )
        if foll is not None:
            a_foll = idm_accel(foll.v, self._desired(foll), gap_b, foll.v - veh.v, foll.model.cls)
            if a_foll < -3.0:
                return False
        if a_new - acc.get(veh.id, 0.0) < 0.3:
            return False
        cur_list = by_lane[cur.id]
        cur_list.remove(veh)
        target.append(veh)
        target.sort(key=lambda v: v.p)
        # Keep the world position: the lateral offset glides from the old lane to the new.
        veh.lateral = (cur.offset - new.offset) + veh.lateral
        veh.lateral_rate = veh.lateral / LANE_CHANGE_S
        veh.lane = new
        return True
