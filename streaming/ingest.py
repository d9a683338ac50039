"""Camera ingest: many cameras in one process -> the frames topic.

For each camera source it samples frames at the analysis fps (by capture
time, so a 25 fps file analysed at 10 fps keeps every 2.5th frame), encodes
JPEG, and produces a CloudEvents binary-mode record (``streaming.contracts``)
keyed by camera id through one idempotent, batching aiokafka producer. A
heartbeat per camera goes to ``camera_health`` every second (wall clock),
and a final ``ended`` heartbeat when its source is exhausted.

Sources are blocking iterators (OpenCV, the simulator); each is read in a
worker thread so one slow camera never stalls the others. Producing awaits
the broker's buffer, so a slow broker slows ingest instead of filling memory.

Run: ``python -m streaming.ingest --source clip.mp4 --camera-id cam-1``
(see ``--help``), or call :func:`run_ingest` from Python.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from itscam.clients.kafka import ensure_topics, start_producer
from itscam.errors import DataError, ItscamError
from itscam.settings import Settings, get_settings
from streaming.contracts import (
    MAX_FRAME_BYTES,
    Frame,
    datetime_to_us,
    encode_health,
    frame_headers,
    stream_end_headers,
)

log = logging.getLogger(__name__)
_END = object()


@dataclass
class IngestStats:
    """What one ingest run produced, per camera and in total."""

    frames: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.frames.values())


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """BGR uint8 ``(H, W, 3)`` -> JPEG bytes; re-encodes at lower quality if over the size limit."""
    for q in (quality, 70, 50, 30):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            raise DataError(f"JPEG encoding failed for an image of shape {image.shape}")
        if len(buf) < MAX_FRAME_BYTES - 4096:
            return buf.tobytes()
    raise DataError(
        f"image {image.shape} does not fit in {MAX_FRAME_BYTES} bytes even at quality 30"
    )


class Sampler:
    """Keep frames at ``fps`` by capture time (``capture_ts`` in seconds).

    A frame is kept once it is within a quarter period of its due time, so
    capture-time jitter (and float rounding of epoch seconds) never drops one.
    """

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self.next_due: float | None = None

    def keep(self, capture_ts: float) -> bool:
        if self.period <= 0:
            return True
        if self.next_due is None or capture_ts >= self.next_due - 0.25 * self.period:
            # Step from the due time, not from capture_ts, so a 25 fps source
            # sampled at 10 fps averages exactly 10 fps; re-anchor after a gap.
            due = self.next_due
            late = due is None or capture_ts - due > self.period
            self.next_due = (capture_ts if late or due is None else due) + self.period
            return True
        return False


def _attr(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


def _capture_seconds(ts: Any) -> float:
    return datetime_to_us(ts) / 1e6


class Backlog:
    """Holds ingest back while a consumer group has more than ``limit`` frames to do.

    For bounded runs of file and simulated cameras, which would otherwise put the
    whole run into the broker before the workers get far (the development broker
    rewrites its whole log after each write: 1.5 GB and about a core during a
    4-camera ``itscam evaluate``). A live camera cannot wait; ``limit`` 0 = off.
    When the group commits nothing for ``stall_s`` while ingest waits, ingest stops
    waiting (the run's drain deals with a stalled worker) and says so.
    """

    def __init__(
        self,
        settings: Settings,
        group: str,
        limit: int,
        *,
        poll_s: float = 0.5,
        stall_s: float = 60.0,
    ) -> None:
        self.settings, self.group, self.limit = settings, group, limit
        self.poll_s, self.stall_s = poll_s, stall_s
        self.topic = settings.topic("frames")
        self.sent = 0
        self.waited_s = 0.0
        self._admin: Any = None
        self._start = 0  # the group's committed frames when ingest began
        self._before = 0  # ... and its backlog then
        self._done = 0  # committed since

    async def __aenter__(self) -> Backlog:
        if self.limit > 0:
            from aiokafka.admin import AIOKafkaAdminClient

            from itscam.clients.kafka import group_offsets

            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_servers)
            await self._admin.start()
            committed, ends = await group_offsets(self.settings, self.group, [self.topic])
            self._start = sum(committed.values())
            self._before = sum(ends.values()) - self._start
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None

    async def _committed(self) -> int:
        from itscam.clients.kafka import committed_offsets

        offs = await committed_offsets(self.settings, self.group, self._admin)
        return sum(o for tp, o in offs.items() if tp.topic == self.topic)

    def ahead(self) -> int:
        """Frames produced (or waiting before ingest began) and not yet committed."""
        return self._before + self.sent - self._done

    async def room(self) -> None:
        """Return once one more frame keeps the backlog within ``limit``."""
        if self.limit <= 0 or self.ahead() < self.limit:
            return
        t0 = last_move = time.monotonic()
        while True:
            done = await self._committed() - self._start
            now = time.monotonic()
            if done != self._done:
                self._done, last_move = done, now
            if self.ahead() < self.limit:
                break
            if now - last_move > self.stall_s:
                log.warning(
                    "group %s committed no frame for %.0f s with %d waiting: ingest goes on "
                    "without waiting",
                    self.group,
                    now - last_move,
                    self.ahead(),
                )
                self.limit = 0
                break
            await asyncio.sleep(self.poll_s)
        self.waited_s += time.monotonic() - t0


async def run_ingest(
    settings: Settings,
    cameras: Sequence[Any],
    *,
    run_id: str = "",
    duration_s: float | None = None,
    fps: float | None = None,
    jpeg_quality: int = 85,
    realtime: bool = False,
    stop: asyncio.Event | None = None,
    on_frame: Callable[[Frame, Any], None] | None = None,
    backlog: Backlog | None = None,
) -> IngestStats:
    """Stream every source in ``cameras`` to the frames topic until exhausted, stopped or timed out.

    Args:
        cameras: objects with ``camera_id`` and ``frames() -> Iterator[SourceFrame]``
            (``image`` BGR uint8 ``(H, W, 3)``, ``capture_ts`` datetime or epoch
            seconds, ``seq``; optional ``healthy``).
        fps: analysis fps; default each source's ``analysis_fps`` or ``settings.analysis_fps``.
        duration_s: wall-clock limit for the whole run (``None``: until the sources end).
        realtime: pace each source to its capture times (for live-like runs of files).
        on_frame: called with (frame, source frame) just before each frame is produced.
        backlog: when given (entered), each frame waits for room in it (see :class:`Backlog`).
    """
    await ensure_topics(settings, ("frames", "camera_health"))
    producer = await start_producer(settings, linger_ms=10)
    frames_topic, health_topic = settings.topic("frames"), settings.topic("camera_health")
    stats = IngestStats()
    stop = stop or asyncio.Event()
    t_start = time.monotonic()
    deadline = t_start + duration_s if duration_s else None

    async def one_camera(src: Any) -> None:
        cam = str(_attr(src, "camera_id", "id"))
        # A source that samples itself (``analysis_fps``) is not resampled unless asked.
        own = _attr(src, "analysis_fps", default=None)
        sampler = Sampler(fps if fps else (None if own else settings.analysis_fps))
        it: Iterator[Any] = iter(src.frames())
        stats.frames[cam] = 0
        stats.skipped[cam] = 0
        last_beat, last_capture_us, beat_frames = time.monotonic(), None, 0
        first_capture: float | None = None
        pending: list[asyncio.Future] = []
        exhausted, last_seq = False, -1
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                sf = await asyncio.to_thread(next, it, _END)
                if sf is _END:
                    exhausted = True
                    break
                cts = _capture_seconds(_attr(sf, "capture_ts", "timestamp"))
                if not sampler.keep(cts):
                    stats.skipped[cam] += 1
                    continue
                if realtime:
                    first_capture = cts if first_capture is None else first_capture
                    wait = (cts - first_capture) - (time.monotonic() - t_start)
                    if wait > 0:
                        await asyncio.sleep(wait)
                image = _attr(sf, "image", "frame")
                jpeg = await asyncio.to_thread(encode_jpeg, image, jpeg_quality)
                seq = int(_attr(sf, "seq", "frame_seq", default=stats.frames[cam]))
                frame = Frame(
                    camera_id=cam,
                    capture_ts_us=round(cts * 1e6),
                    seq=seq,
                    width=int(image.shape[1]),
                    height=int(image.shape[0]),
                    image=jpeg,
                    event_id=f"{cam}/{run_id or 'live'}/{seq}",
                    run_id=run_id,
                    healthy=bool(_attr(sf, "healthy", default=True)),
                )
                if backlog is not None:
                    await backlog.room()
                    backlog.sent += 1
                if on_frame is not None:
                    on_frame(frame, sf)
                pending.append(
                    await producer.send(
                        frames_topic, value=jpeg, key=cam.encode(), headers=frame_headers(frame)
                    )
                )
                if len(pending) >= 256:
                    await asyncio.gather(*pending)
                    pending.clear()
                stats.frames[cam] += 1
                last_seq = seq
                stats.bytes += len(jpeg)
                beat_frames += 1
                last_capture_us = frame.capture_ts_us
                now = time.monotonic()
                if now - last_beat >= 1.0:
                    await producer.send(
                        health_topic,
                        key=cam.encode(),
                        value=encode_health(
                            cam,
                            int(time.time() * 1e6),
                            "ok",
                            fps=beat_frames / (now - last_beat),
                            frames_sent=stats.frames[cam],
                            last_capture_ts_us=last_capture_us,
                            run_id=run_id,
                        ),
                    )
                    last_beat, beat_frames = now, 0
        except ItscamError as exc:
            stats.errors[cam] = str(exc)
            log.error("camera %s stopped: %s", cam, exc)
        finally:
            if pending:
                await asyncio.gather(*pending)
            close = getattr(src, "close", None)
            if callable(close):
                close()
        if exhausted and last_capture_us is not None:
            # After every frame (all delivered): the analyser closes the last minute.
            await producer.send_and_wait(
                frames_topic,
                value=b"",
                key=cam.encode(),
                headers=stream_end_headers(cam, last_capture_us, last_seq + 1, run_id),
            )
        await producer.send_and_wait(
            health_topic,
            key=cam.encode(),
            value=encode_health(
                cam,
                int(time.time() * 1e6),
                "ended",
                fps=0.0,
                frames_sent=stats.frames[cam],
                last_capture_ts_us=last_capture_us,
                run_id=run_id,
            ),
        )

    try:
        await asyncio.gather(*(one_camera(c) for c in cameras))
        await producer.flush()
    finally:
        await producer.stop()
    stats.seconds = time.monotonic() - t_start
    return stats


def _build_sources(args: argparse.Namespace) -> list[Any]:
    from itscam.ingest.sources import open_source, scenario_sources

    out: list[Any] = []
    for i, uri in enumerate(args.source or []):
        cam = args.camera_id[i] if args.camera_id and i < len(args.camera_id) else f"camera-{i + 1}"
        out.append(open_source(uri, cam, fps=args.fps, loop=args.loop))
    for name in args.scenario or []:
        out += list(scenario_sources(name, fps=args.fps, start_ts=time.time() - 60.0))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m streaming.ingest", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--source",
        action="append",
        help="video file, rtsp:// or http(s):// URL, or sim://SCENARIO (repeatable)",
    )
    p.add_argument("--camera-id", action="append", help="camera id of each --source, in order")
    p.add_argument(
        "--scenario", action="append", help="simulator scenario: all its cameras (repeatable)"
    )
    p.add_argument("--loop", action="store_true", help="loop video files")
    p.add_argument("--fps", type=float, default=None, help="analysis fps (default: settings)")
    p.add_argument(
        "--duration", type=float, default=None, help="seconds (default: until sources end)"
    )
    p.add_argument("--realtime", action="store_true", help="pace files to their capture times")
    p.add_argument(
        "--run-id",
        default="live",
        help="run tag carried into every row; the analysers keep their state across "
        "ingest restarts with the same tag (default: live)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    try:
        cams = _build_sources(args)
        if not cams:
            p.error("give at least one --source or --scenario")
        configs = [c.config for c in cams if getattr(c, "config", None) is not None]
        if configs:  # simulated cameras bring their own geometry; the workers read it from here
            from streaming.cameras import register_cameras

            register_cameras(settings, configs)
        stats = asyncio.run(
            run_ingest(
                settings,
                cams,
                run_id=args.run_id,
                duration_s=args.duration,
                fps=args.fps,
                realtime=args.realtime,
            )
        )
    except ItscamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"ingested {stats.total} frames from {len(stats.frames)} camera(s) in {stats.seconds:.1f} s"
    )
    return 0 if not stats.errors else 1


if __name__ == "__main__":
    sys.exit(main())
