"""Traffic analysis maths shared by the stream processors, the platform and the tests.

Nothing here imports Faust, Dagster or Triton. The public API:

* :mod:`~itscam.domain.detections` — ``Detections`` (one frame's boxes), ``VEHICLE_CLASSES``.
* :mod:`~itscam.domain.registry` — ``load_registry(path) -> Registry``,
  ``parse_camera(dict) -> CameraConfig`` (schema in its docstring and in
  ``config/cameras.yaml``); ``CameraConfig.homography`` (image -> road metres),
  ``CameraConfig.to_row()`` for ``camera_data.cameras``.
* :mod:`~itscam.domain.analyzer` — ``CameraAnalyzer(config, run_id=...)`` with
  ``update(capture_ts, frame_seq, detections, healthy) -> AnalysisOutput``
  (``crossings``, ``minute_rows``, ``events``, ``latest``), ``heartbeat(ts)``,
  ``flush(ts)``, ``to_state()`` / ``CameraAnalyzer.from_state(config, state)``.
* :mod:`~itscam.domain.events` — ``as_db_row(row)`` (epoch seconds -> UTC datetimes).
* :mod:`~itscam.domain.bench_analysis` — ``run_analysis_bench() -> dict``.

The building blocks (``geometry``, ``tracker``, ``counting``, ``speed``, ``zones``,
``windows``) are usable on their own; their docstrings state shapes and units.
"""
