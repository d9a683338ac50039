"""Camera sources behind one interface: simulator, video file, RTSP/HTTP stream.

Every source has a ``camera_id``, an analysis ``fps`` (frames it yields per
second of capture time), ``frames() -> Iterator[SourceFrame]`` and ``health()``.
Frames are BGR uint8 ``(H, W, 3)`` with ``capture_ts`` in epoch seconds and a
per-source ``seq`` counting yielded frames from 0. Sampling keeps a frame
whenever its capture time reaches the next due time (``1 / fps`` apart), so a
25 fps feed analysed at 10 fps yields exactly 10 frames per second on average.

- :class:`SimulatorSource`: one camera of a :class:`~itscam.sim.scenario.Scenario`;
  frames carry their ground truth; the scenario's camera outages yield nothing.
- :class:`VideoFileSource`: a file through OpenCV/FFmpeg, optionally looping;
  capture times are ``start_ts + frame_index / native_fps``.
- :class:`StreamSource` (``RtspSource``, ``HttpSource``): a live RTSP/HTTP stream
  through OpenCV/FFmpeg with open/read timeouts and reconnection with
  exponential backoff (0.5 s doubling to 8 s, with jitter) after any failure;
  capture time is the wall clock at read.
"""

from __future__ import annotations

import math
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from itscam.errors import ConfigError, DataError


@dataclass
class SourceFrame:
    """One frame from a source.

    Attributes:
        image: ``(H, W, 3)`` BGR uint8.
        capture_ts: capture time, epoch seconds.
        seq: index of this frame among those the source yielded (from 0).
        truth: simulator ground truth (list of ``GroundTruthBox``) or None for real cameras.
        healthy: the source's own verdict on this frame.
    """

    image: np.ndarray
    capture_ts: float
    seq: int
    truth: list | None = None
    healthy: bool = True


@dataclass
class SourceHealth:
    """A source's state: ``state`` is one of starting, ok, reconnecting, outage, ended, failed."""

    camera_id: str
    state: str = "starting"
    frames: int = 0
    reconnects: int = 0
    last_frame_ts: float | None = None
    last_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Sampler:
    """Keeps frames at ``fps`` by capture time (``None`` or 0 keeps every frame)."""

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self.next_due: float | None = None

    def keep(self, ts: float) -> bool:
        if self.period <= 0:
            return True
        if self.next_due is None or ts >= self.next_due - 1e-6:
            # Step from the due time so the average rate is exact; resync after a gap.
            due = self.next_due
            self.next_due = (ts if due is None or ts - due > self.period else due) + self.period
            return True
        return False


class CameraSource(ABC):
    """Common interface of camera sources (see module docstring)."""

    camera_id: str
    fps: float

    def __init__(self, camera_id: str, fps: float) -> None:
        if fps <= 0:
            raise ConfigError(f"camera {camera_id!r}: analysis fps must be > 0, got {fps}")
        self.camera_id = camera_id
        self.fps = float(fps)
        self._health = SourceHealth(camera_id)
        self._stop = threading.Event()

    @property
    def analysis_fps(self) -> float:
        return self.fps

    @abstractmethod
    def frames(self) -> Iterator[SourceFrame]:
        """Yield sampled frames until the source ends or :meth:`stop` is called."""

    def health(self) -> SourceHealth:
        """A snapshot of the source's state."""
        return replace(self._health, extra=dict(self._health.extra))

    def stop(self) -> None:
        """Ask :meth:`frames` to end at its next frame or retry (thread-safe)."""
        self._stop.set()

    def _emit(
        self, image: np.ndarray, ts: float, truth: list | None = None, healthy: bool = True
    ) -> SourceFrame:
        h = self._health
        frame = SourceFrame(image, ts, h.frames, truth, healthy)
        h.frames += 1
        h.last_frame_ts = ts
        h.state = "ok"
        return frame


class SimulatorSource(CameraSource):
    """One simulated camera of a scenario.

    Args:
        scenario: a :class:`~itscam.sim.scenario.Scenario` or a shipped scenario name.
        camera_id: which camera (default: the scenario's first).
        fps: analysis fps; must divide the scenario's step rate (default: the step rate).
        duration_s: simulated seconds (default: the scenario's duration).
        start_ts: capture time of t = 0 (default: the scenario's ``start_ts``).

    ``truth`` (a ``ScenarioTruth``) is filled while frames are drawn and complete once
    :meth:`frames` is exhausted; ``registry_entry`` is the camera's registry dict;
    ``observed`` collects the ids of vehicles labelled (big and visible enough to
    detect, see :meth:`~itscam.sim.render.GroundTruthBox.labelled`) in at least one
    yielded frame.
    """

    def __init__(
        self,
        scenario: Any,
        camera_id: str | None = None,
        *,
        fps: float | None = None,
        duration_s: float | None = None,
        start_ts: float | None = None,
    ) -> None:
        from itscam.sim.scenario import Scenario, ScenarioTruth

        sc = Scenario.load(scenario) if isinstance(scenario, str | Path) else scenario
        if start_ts is not None:
            sc = Scenario(dict(sc.spec, start_ts=float(start_ts)), seed=sc.seed)
        self.scenario = sc
        cam = sc.camera(camera_id)
        self.every = max(1, round(sc.fps / (fps or sc.fps)))
        super().__init__(cam.camera_id, sc.fps / self.every)
        self.duration_s = sc.duration_s if duration_s is None else float(duration_s)
        self.truth = ScenarioTruth(interval_s=sc.interval_s, start_ts=sc.start_ts)
        self.registry_entry = sc.camera_config(cam.camera_id)
        self.registry_entry["fps"] = self.fps
        self.observed: set[int] = set()

    @property
    def config(self):
        """The parsed camera registry entry (:class:`itscam.domain.registry.CameraConfig`)."""
        from itscam.domain.registry import parse_camera

        return parse_camera(self.registry_entry)

    def frames(self) -> Iterator[SourceFrame]:
        for step in self.scenario.run(
            cameras=[self.camera_id], duration_s=self.duration_s, truth=self.truth, every=self.every
        ):
            if self._stop.is_set():
                break
            fr = step.frames.get(self.camera_id)
            if fr is None:
                self._health.state = "outage"
                continue
            h = fr.image.shape[0]
            self.observed.update(b.track_id for b in fr.boxes if b.labelled(h))
            yield self._emit(fr.image, step.ts, fr.boxes)
        self._health.state = "ended"


class VideoFileSource(CameraSource):
    """A video file (any container/codec FFmpeg reads), optionally looping.

    Args:
        path: the file.
        camera_id: id to report.
        fps: analysis fps (default: the file's native rate).
        loop: restart at the end (capture times keep increasing).
        start_ts: capture time of the first frame (default: wall clock when frames() starts).
        max_frames: stop after yielding this many frames (None: no limit).
    """

    def __init__(
        self,
        path: str | Path,
        camera_id: str = "video-1",
        *,
        fps: float | None = None,
        loop: bool = False,
        start_ts: float | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ConfigError(f"video file {self.path} not found")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened():
                raise DataError(f"cannot open video {self.path}: not a format FFmpeg decodes")
            native = cap.get(cv2.CAP_PROP_FPS) or 0.0
            self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.size = (
                int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            )
        finally:
            cap.release()
        self.native_fps = native if native > 0 else 25.0
        super().__init__(camera_id, min(fps or self.native_fps, self.native_fps))
        self.loop = loop
        self.start_ts = start_ts
        self.max_frames = max_frames

    def frames(self) -> Iterator[SourceFrame]:
        t0 = time.time() if self.start_ts is None else self.start_ts
        sampler = Sampler(self.fps if self.fps < self.native_fps else None)
        index = 0
        passes = 0
        while not self._stop.is_set():
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
            got_any = False
            try:
                while not self._stop.is_set():
                    ok, img = cap.read()
                    if not ok:
                        break
                    got_any = True
                    ts = t0 + index / self.native_fps
                    index += 1
                    if sampler.keep(ts):
                        yield self._emit(img, ts)
                        if self.max_frames is not None and self._health.frames >= self.max_frames:
                            self._health.state = "ended"
                            return
            finally:
                cap.release()
            passes += 1
            self._health.extra["passes"] = passes
            if not self.loop or not got_any:
                break
        self._health.state = "ended"


class StreamSource(CameraSource):
    """A live RTSP or HTTP stream with reconnection and exponential backoff.

    Args:
        url: ``rtsp://...`` or ``http(s)://...`` (anything FFmpeg opens).
        camera_id: id to report.
        fps: analysis fps (default 10).
        backoff_initial_s, backoff_max_s: first retry delay and its cap; doubles per
            consecutive failure, +-20 % jitter, reset by a good frame.
        max_retries: give up after this many consecutive failures (None: never).
        open_timeout_s, read_timeout_s: FFmpeg timeouts so a dead server is noticed.
        clock, sleep: injectable for tests of the timing logic.
    """

    def __init__(
        self,
        url: str,
        camera_id: str = "stream-1",
        *,
        fps: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_retries: int | None = None,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(camera_id, fps)
        self.url = url
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.max_retries = max_retries
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._clock = clock
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self._rng = random.Random(hash(url) & 0xFFFF)

    def backoff(self, failures: int) -> float:
        """Delay before retry number ``failures`` (1-based), with jitter."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2 ** max(failures - 1, 0))
        return base * self._rng.uniform(0.8, 1.2)

    def _open(self) -> cv2.VideoCapture:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)

    def frames(self) -> Iterator[SourceFrame]:
        sampler = Sampler(self.fps)
        failures = 0
        h = self._health
        while not self._stop.is_set():
            cap = self._open()
            try:
                if not cap.isOpened():
                    raise ConnectionError(f"cannot open {self.url}")
                while not self._stop.is_set():
                    ok, img = cap.read()
                    if not ok or img is None:
                        raise ConnectionError(f"stream {self.url} stopped delivering frames")
                    failures = 0
                    ts = self._clock()
                    if sampler.keep(ts):
                        yield self._emit(img, ts)
            except ConnectionError as exc:
                failures += 1
                h.last_error = str(exc)
                if self.max_retries is not None and failures > self.max_retries:
                    h.state = "failed"
                    return
                h.state = "reconnecting"
                h.reconnects += 1
                self._sleep(self.backoff(failures))
            finally:
                cap.release()
        h.state = "ended"


RtspSource = StreamSource
HttpSource = StreamSource


def open_source(
    uri: str, camera_id: str, *, fps: float | None = None, loop: bool = False
) -> CameraSource:
    """A source from a URI: ``rtsp://``/``http(s)://`` stream, ``sim://SCENARIO[/CAMERA]``,
    or a file path."""
    if uri.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return StreamSource(uri, camera_id, fps=fps or 10.0)
    if uri.startswith("sim://"):
        name, _, cam = uri[len("sim://") :].partition("/")
        return SimulatorSource(name, cam or None, fps=fps)
    return VideoFileSource(uri, camera_id, fps=fps, loop=loop)


def scenario_sources(
    name: str,
    *,
    fps: float | None = None,
    duration_s: float | None = None,
    start_ts: float | None = None,
) -> list[SimulatorSource]:
    """One :class:`SimulatorSource` per camera of a shipped (or YAML-path) scenario."""
    from itscam.sim.scenario import Scenario

    sc = Scenario.load(name)
    return [
        SimulatorSource(sc, c.camera_id, fps=fps, duration_s=duration_s, start_ts=start_ts)
        for c in sc.cameras
    ]


def demo_sources(
    n_cameras: int = 4, seconds: float = 60.0, fps: float = 10.0, *, start_ts: float | None = None
) -> tuple[list[SimulatorSource], int]:
    """Simulated cameras over different geometries for the demo, and their true vehicle count.

    Cameras cycle through the shipped scenarios (a second round reseeds them and
    renames the cameras ``<id>-2``, ...). The clock ends ~2 minutes before now so
    every frame is in the past. The count is the number of true counting-line
    crossings while each camera is online: what a perfect pipeline would count.
    """
    from itscam.sim.scenario import Scenario, shipped_scenarios

    names = shipped_scenarios()
    if not names:
        raise ConfigError("no shipped scenarios in itscam/sim/scenarios")
    ts0 = math.floor(time.time() - seconds - 120.0) if start_ts is None else start_ts
    out: list[SimulatorSource] = []
    true_vehicles = 0
    for k in range(n_cameras):
        base = Scenario.load(names[k % len(names)])
        rnd = k // len(names)
        spec = dict(base.spec, start_ts=ts0)
        if rnd:
            spec["cameras"] = [
                dict(c, camera_id=f"{c['camera_id']}-{rnd + 1}") for c in base.spec["cameras"]
            ]
        sc = Scenario(spec, seed=base.seed + 1000 * rnd)
        truth = sc.ground_truth(duration_s=seconds)
        cam_id = sc.cameras[0].camera_id
        true_vehicles += sum(
            1 for c in truth.crossings if c["camera_id"] == cam_id and c["camera_online"]
        )
        out.append(SimulatorSource(sc, cam_id, fps=fps, duration_s=seconds))
    return out, true_vehicles
