"""Traffic scene simulator with exact ground truth.

- :mod:`itscam.sim.camera`: pinhole camera over the road plane, exact homography.
- :mod:`itscam.sim.geometry`: roads, lanes, straight and intersection layouts (metres).
- :mod:`itscam.sim.vehicles`: vehicle classes as cuboid parts with distinct looks.
- :mod:`itscam.sim.render`: rasteriser with per-vehicle ground truth and id mask.
- :mod:`itscam.sim.traffic`: IDM car following, lane changes, disturbances.
- :mod:`itscam.sim.scenario`: YAML scenarios (``scenarios/*.yaml``), runs in time,
  scenario ground truth, camera registry entries (:meth:`Scenario.camera_config`).
- :mod:`itscam.sim.snapshot`: random still scenes for detector datasets.
"""

from itscam.sim.scenario import Scenario, ScenarioTruth, shipped_scenarios

__all__ = ["Scenario", "ScenarioTruth", "shipped_scenarios"]
