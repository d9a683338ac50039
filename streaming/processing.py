"""What the agents do with a micro-batch of events: plain async code, no Faust imports.

Each processor takes a list of Faust events (objects with ``.message`` carrying
``key``, ``value``, ``headers``, ``topic``, ``partition``, ``offset``) and a
``send(topic, key, value, headers=None)`` coroutine, so unit tests drive it
with hand-built events and agent tests drive it through ``test_context()``.

Per-camera analyser state and restarts
---------------------------------------
A camera's frames all sit in one partition (key = camera id), so one worker
at a time owns its :class:`CameraAnalyzer`; the detect agent analyses each
frame's detections as soon as they are inferred (one hop: the detections topic
feeds the detection sink only). The analysers of the cameras analysed since the
last checkpoint are checkpointed together, at most every ``checkpoint_every_s``
(``ITSCAM_CHECKPOINT_EVERY_S``, 2 s), to a Faust table (changelog-backed; rebuilt
on start or rebalance), each with the offset of the last frame it analysed; a
batch's frames are acked (and so committed) only once a checkpoint covering them
is on the changelog. A camera at 10 fps is checkpointed once per interval, not
once per micro-batch (a checkpoint is ~90 kB at 40 vehicles).
After a restart or rebalance the worker restores that checkpoint, skips the
records it already reflects, and replays the rest: the analyser continues
with its tracks intact, so there is no burst of phantom crossings, and any
output re-produced by the replay is identical and deduplicated by the sinks'
natural keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import struct
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any

from itscam.domain.detections import Detections
from itscam.settings import Settings
from streaming import metrics
from streaming.cameras import CameraDirectory
from streaming.contracts import (
    COUNTS_FIELDS,
    CROSSING_FIELDS,
    CROSSING_FRAME_FIELDS,
    EVENT_FIELDS,
    REASON_ANALYSIS,
    REASON_INFERENCE,
    REASON_SCHEMA,
    REASON_UNDECODABLE,
    SCHEMA_CAMERA_HEALTH,
    SCHEMA_COUNTS_1M,
    SCHEMA_CROSSING,
    SCHEMA_DETECTIONS,
    SCHEMA_EVENT,
    ContractViolation,
    Frame,
    as_recorded,
    decode_frame,
    encode_detections,
    encode_record,
    loads,
)
from streaming.deadletter import send_dead_letter
from streaming.sinks import (
    COUNTS_COLUMNS,
    CROSSING_COLUMNS,
    DETECTION_COLUMNS,
    EVENT_COLUMNS,
    FRAME_COLUMNS,
    MetricsSink,
    PostgresSink,
    StateSink,
    camera_metrics,
    counts_row,
    crossing_row,
    detection_rows,
    event_row,
    frame_row,
)
from streaming.watchdog import ProgressWatchdog

log = logging.getLogger(__name__)

Send = Callable[..., Awaitable[Any]]
# (partition, offset, run id length) in front of the run id and the analyser's JSON state
_CKPT = struct.Struct("<qqH")
#: The analyser changelog's topic configs: compacted, and "delete" with no retention
#: limit (deletes nothing by time or size) so DeleteRecords may purge it.
CHANGELOG_CONFIGS = {"cleanup.policy": "compact,delete", "retention.ms": "-1"}


def _header(blob: bytes) -> tuple[tuple[int, int, str], int] | None:
    """A checkpoint's mark (frames partition, offset, run id) and where its state
    starts; ``None`` for bytes that are not a checkpoint this code can read."""
    try:
        part, off, n = _CKPT.unpack_from(blob)
        return (part, off, blob[_CKPT.size : _CKPT.size + n].decode()), _CKPT.size + n
    except (struct.error, UnicodeDecodeError, TypeError):
        return None


def _now_us() -> int:
    return int(time.time() * 1e6)


async def _dead_letter(send: Send, topic: str, event: Any, reason: str, detail: str) -> None:
    m = event.message
    await send_dead_letter(
        _Sender(send, topic),
        key=m.key,
        value=m.value,
        headers=m.headers,
        reason=reason,
        detail=detail,
        source_topic=m.topic,
        partition=m.partition,
        offset=m.offset,
    )


class _Sender:
    """Adapts ``send(topic, ...)`` to the ``topic.send(...)`` shape of deadletter."""

    def __init__(self, send: Send, topic: str) -> None:
        self._send, self._topic = send, topic

    async def send(self, *, key: Any, value: Any, headers: Any = None) -> Any:
        return await self._send(self._topic, key, value, headers)


def _key(camera_id: str) -> bytes:
    return camera_id.encode()


class Settlement:
    """What a finished batch waits on before its events may be acked.

    ``delivered``: its outputs are on the broker (the pipeline may take another
    batch); ``durable``: the analyser checkpoints covering its frames are on the
    changelog too (its events may be acked, and then committed). Awaiting the
    settlement awaits both.
    """

    def __init__(self, delivered: Awaitable[Any], durable: Awaitable[Any] | None = None) -> None:
        self.delivered = asyncio.ensure_future(delivered)
        self.durable = None if durable is None else asyncio.ensure_future(durable)

    def done(self) -> bool:
        return self.delivered.done() and (self.durable is None or self.durable.done())

    def __await__(self) -> Generator[Any, None, None]:
        return self._both().__await__()

    async def _both(self) -> None:
        await self.delivered
        if self.durable is not None:
            await self.durable


def _retrieved(fut: asyncio.Future) -> None:
    """Done-callback that marks a future's exception as seen (its batch may be gone)."""
    if not fut.cancelled():
        fut.exception()


class _Producing:
    """Tracks the delivery futures of what a processor sends during one micro-batch.

    Outputs are sent at once (not attached to a Faust event), and every
    processor awaits their delivery (:meth:`_flush`) before it checkpoints and
    before its events are acked: an output can be duplicated by a replay after
    a crash (the sinks deduplicate) but never lost.
    """

    send: Send
    _pending: list[Any]

    def _track(self, result: Any) -> None:
        if result is not None and hasattr(result, "__await__"):
            self._pending.append(result)

    async def _out(self, topic: str, key: Any, value: Any, headers: Any = None) -> None:
        self._track(await self.send(topic, key, value, headers))

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


#: Frames per detector request group (the local model's max batch).
SUB_BATCH = 8


def chunks_in_flight(max_in_flight: int, sub_batch: int = SUB_BATCH) -> int:
    """Sub-batches a worker keeps at the detector at once: ``max_in_flight`` frames' worth."""
    return max(1, max_in_flight // max(1, sub_batch))


class FrameProcessor(_Producing):
    """Validate frames, run the detector on the valid ones, emit detections records.

    Args:
        topics: full topic names ``{"detections": ..., "dead_letter": ...}``.
        detector: has ``async detect(images: list[bytes]) -> list[Detections | Exception]``
            (JPEG bytes in, original-frame pixel boxes out) and optionally ``model_version``.
        cameras: membership test for camera ids (unknown ids are dead-lettered).
        analysis: where each frame's detections are analysed (tracks, counts,
            events) before the batch is acked; ``None``: detections only.
        max_inflight: detector requests in flight at once (sub-batches of ``sub_batch``).
    """

    def __init__(
        self,
        topics: dict[str, str],
        send: Send,
        detector_factory: Callable[[], Any],
        cameras: Any,
        *,
        analysis: AnalysisProcessor | None = None,
        sub_batch: int = SUB_BATCH,
        max_inflight: int = 2,
        retries: int = 3,
    ) -> None:
        self.topics = topics
        self.send = send
        self._pending: list[Any] = []
        self._detector_factory = detector_factory
        self._detector: Any = None
        self.cameras = cameras
        self.analysis = analysis
        self.sub_batch = sub_batch
        self.sem = asyncio.Semaphore(max_inflight)
        self.retries = retries
        self.frames_ok = 0

    @property
    def detector(self) -> Any:
        if self._detector is None:
            self._detector = self._detector_factory()
        return self._detector

    async def _detect(self, images: list[bytes]) -> tuple[list[Any], float]:
        async with self.sem:
            t0 = time.perf_counter()
            out = await self.detector.detect(images)
            return list(out), (time.perf_counter() - t0) * 1e3

    async def process(self, events: Sequence[Any]) -> None:
        settled = await self.finish(events, self.start(events))
        if settled is not None:
            await settled

    def start(self, events: Sequence[Any]) -> tuple[int, list[tuple[Any, Any]], Any]:
        """Validate ``events`` and start inference on the valid frames (a running task).

        Sends nothing: every output of the batch, dead letters included, is
        produced by :meth:`finish`, which the agent awaits in batch order, so
        the next batch can be started (inferred) while this one is finished.
        """
        now = _now_us()
        checked: list[tuple[Any, Any]] = []  # (event, Frame | ContractViolation)
        valid: list[tuple[Any, Frame]] = []
        for ev in events:
            m = ev.message
            try:
                frame = decode_frame(
                    m.key, m.value, m.headers, now_us=now, known_cameras=self.cameras
                )
            except ContractViolation as exc:
                checked.append((ev, exc))
                continue
            checked.append((ev, frame))
            if not frame.end:  # an end-of-stream record has no image to infer
                valid.append((ev, frame))
        task = None
        if valid:
            metrics.BATCH_SIZE.observe(len(valid))
            chunks = [valid[i : i + self.sub_batch] for i in range(0, len(valid), self.sub_batch)]
            task = asyncio.ensure_future(self._detect_chunks(chunks))
        return now, checked, task

    async def _detect_chunks(self, chunks: list[list[tuple[Any, Frame]]]) -> Any:
        results = await asyncio.gather(*(self._detect_with_retry(c) for c in chunks))
        return chunks, results

    async def finish(
        self, events: Sequence[Any], handle: tuple[int, list[tuple[Any, Any]], Any]
    ) -> Settlement | None:
        """Dead-letter the invalid frames, emit the detections of the valid ones, analyse them.

        Returns what to await before the batch may be acked (a :class:`Settlement`:
        every output delivered, then a checkpoint covering its frames durable), or
        ``None`` when that is done already. The agent finishes the next batch
        meanwhile (:func:`streaming.batching.pipelined_batches`).
        """
        now, checked, task = handle
        for ev, item in checked:
            if isinstance(item, ContractViolation):
                await _dead_letter(
                    self._out, self.topics["dead_letter"], ev, item.reason, item.detail
                )
        if task is None and not any(isinstance(f, Frame) and f.end for _, f in checked):
            await self._flush()
            return None
        found: dict[int, tuple[Any, float]] = {}  # id(event) -> (detections | error, ms)
        model_version = ""
        if task is not None:
            chunks, results = await task
            model_version = str(getattr(self.detector, "model_version", "") or "")
            for chunk, (dets_list, ms) in zip(chunks, results, strict=True):
                for (ev, _), dets in zip(chunk, dets_list, strict=True):
                    found[id(ev)] = (dets, ms / max(1, len(chunk)))
        # In stream order, so a camera's end-of-stream record follows its frames.
        inferred: list[tuple[Any, dict[str, Any], Detections | None]] = []
        for ev, frame in checked:
            if not isinstance(frame, Frame):
                continue
            fields = {
                "camera_id": frame.camera_id,
                "capture_ts_us": frame.capture_ts_us,
                "frame_seq": frame.seq,
                "run_id": frame.run_id,
                "healthy": frame.healthy,
            }
            if frame.end:
                inferred.append((ev, {**fields, "end": True}, None))
                continue
            dets, per_image_ms = found[id(ev)]
            if isinstance(dets, Exception):
                reason = REASON_UNDECODABLE if _is_decode_error(dets) else REASON_INFERENCE
                await _dead_letter(self._out, self.topics["dead_letter"], ev, reason, str(dets))
                continue
            dets = as_recorded(dets)
            value = encode_detections(
                frame,
                dets,
                ingest_ts_us=_ingest_us(ev, now),
                model_version=model_version,
                inference_ms=per_image_ms,
            )
            await self._out(self.topics["detections"], _key(frame.camera_id), value, None)
            inferred.append((ev, fields, dets))
            self.frames_ok += 1
            metrics.FRAMES.labels(frame.camera_id).inc()
            metrics.DETECTIONS.labels(frame.camera_id).inc(len(dets))
            metrics.FRAME_AGE.observe(max(0.0, (_now_us() - frame.capture_ts_us) / 1e6))
        analysed = None
        if self.analysis is not None and inferred:
            analysed = await self.analysis.analyse(inferred)
        sent, self._pending = self._pending, []  # this batch's deliveries, not the next one's
        return Settlement(
            self._delivered(sent, analysed), None if analysed is None else analysed.durable
        )

    @staticmethod
    async def _delivered(sent: list[Any], analysed: Settlement | None) -> None:
        if sent:
            await asyncio.gather(*sent)
        if analysed is not None:
            await analysed.delivered

    async def _detect_with_retry(self, chunk: list[tuple[Any, Frame]]) -> tuple[list[Any], float]:
        """Detect a sub-batch; frames with a transient error (or a failed call) are retried.

        A frame still failing after ``retries`` attempts keeps its error (the
        caller dead-letters it); a bad image fails at once.
        """
        images = [f.image for _, f in chunk]
        results: list[Any] = [None] * len(images)
        todo = list(range(len(images)))
        delay, total_ms = 0.2, 0.0
        for attempt in range(self.retries + 1):
            try:
                out, ms = await self._detect([images[i] for i in todo])
                if len(out) != len(todo):
                    raise RuntimeError(
                        f"detector returned {len(out)} results for {len(todo)} images"
                    )
                metrics.INFER_LATENCY.observe(ms / 1e3)
                total_ms += ms
            except Exception as exc:  # the whole call failed: every frame is transient
                out = [exc] * len(todo)
            retry = []
            for i, r in zip(todo, out, strict=True):
                results[i] = r
                if isinstance(r, Exception) and _is_transient(r):
                    retry.append(i)
            todo = retry
            if not todo:
                break
            metrics.ERRORS.labels("inference").inc()
            if attempt < self.retries:
                log.warning(
                    "inference failed for %d frame(s) (%s); retrying in %.1f s",
                    len(todo),
                    results[todo[0]],
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return results, total_ms


def _is_transient(exc: Exception) -> bool:
    """Transient: the frame may succeed on another try (server down, deadline); not a bad image."""
    transient = getattr(exc, "transient", None)
    if transient is not None:
        return bool(transient)
    from itscam.errors import DataError

    return not isinstance(exc, DataError | ValueError)


def _is_decode_error(exc: Exception) -> bool:
    return not _is_transient(exc)


def _ingest_us(ev: Any, default: int) -> int:
    """Broker append time of the frame record (ms), as microseconds."""
    ts = getattr(ev.message, "timestamp", None)
    return int(ts * 1000) if isinstance(ts, int | float) and ts > 1e12 else default


# --------------------------------------------------------------------------- analysis


def make_analyzer(config: Any, run_id: str = "", state: dict[str, Any] | None = None) -> Any:
    """A per-camera analyser (:class:`itscam.domain.analyzer.CameraAnalyzer`), fresh or resumed."""
    from itscam.domain.analyzer import CameraAnalyzer

    if state is not None:
        return CameraAnalyzer.from_state(config, state, run_id=run_id)
    return CameraAnalyzer(config, run_id=run_id)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _outputs(out: Any, *names: str) -> list[Any]:
    for n in names:
        v = out.get(n) if isinstance(out, dict) else getattr(out, n, None)
        if v is not None:
            return list(v)
    return []


def _state(out: Any) -> dict[str, Any] | None:
    for n in ("latest", "state", "latest_state"):
        v = out.get(n) if isinstance(out, dict) else getattr(out, n, None)
        if v is not None:
            return v if isinstance(v, dict) else getattr(v, "__dict__", None)
    return None


class AnalysisProcessor(_Producing):
    """Per-camera tracking and analysis with checkpointed state (see module docstring).

    Args:
        table: mapping ``bytes camera id -> bytes checkpoint`` (a Faust table
            in the worker, a dict in tests).
        analyzer_factory: ``(CameraConfig, run_id, state | None) -> analyser`` with
            ``update(capture_ts, frame_seq, detections, healthy) -> output`` and
            ``to_state() -> dict`` (JSON-safe; checkpoints are JSON, never pickles,
            so a record on a topic can never execute code).
        checkpoint_every_s: checkpoint the cameras analysed since the last
            checkpoint at most this often (seconds; 0 = after every batch). A
            batch's events are acked once a checkpoint covering it is durable, so
            this also paces commits, and a restart replays at most about this much.
        checkpoint_idle_s: ... or sooner, once no batch came for this long.
        carry_after_s: with each checkpoint, write again the latest checkpoint of
            every camera in this worker's partitions not checkpointed for this long
            (an idle camera, or one restored from another worker's checkpoint), so
            its place on the changelog keeps up and the checkpoints before it can be
            purged (:meth:`superseded_below`); 0 = never.
    """

    def __init__(
        self,
        topics: dict[str, str],
        send: Send,
        cameras: Any,
        table: Any,
        *,
        analyzer_factory: Callable[..., Any] = make_analyzer,
        state_sink: StateSink | None = None,
        checkpoint_every_s: float = 0.0,
        checkpoint_idle_s: float = 0.25,
        carry_after_s: float = 0.0,
    ) -> None:
        self.topics = topics
        self.send = send
        self._pending: list[Any] = []
        self.cameras = cameras
        self.table = table
        self.factory = analyzer_factory
        self.state_sink = state_sink
        self.checkpoint_every_s = checkpoint_every_s
        # analysed since their last checkpoint: camera -> (partition, offset, analyser, run)
        self._dirty: dict[str, tuple[int, int, Any, str]] = {}
        # the settled-gates of batches analysed since the last checkpoint was taken
        self._waiting: list[asyncio.Future] = []
        # camera -> (partition, offset, run) of the durable checkpoint the analyser in
        # memory descends from (None: none was in the table when it started)
        self._kept: dict[str, tuple[int, int, str] | None] = {}
        self._last_checkpoint = -math.inf
        self.checkpoint_idle_s = checkpoint_idle_s
        self._timer: asyncio.TimerHandle | None = None  # the interval's end
        self._idle: asyncio.TimerHandle | None = None  # no batch for checkpoint_idle_s
        self._timed: asyncio.Future | None = None
        # bumped when a delivery fails: checkpoints taken before then are not written
        self._generation = 0
        self._reset = False
        self.checkpoints = 0
        #: ``owns(partition)``: whether this worker still owns a frames partition (set
        #: by the worker); a camera whose partition moved away is not checkpointed
        #: here any more: its new owner replays from the committed offset.
        self.owns: Callable[[int], bool] | None = None
        # camera -> (partition, offset, analyser, run id) of what this worker holds in memory
        self.live: dict[str, tuple[int, int, Any, str]] = {}
        # camera -> (changelog partition, offset, monotonic time) of the last checkpoint
        # this worker wrote and saw delivered (see superseded_below and _carried)
        self._written: dict[str, tuple[int, int, float]] = {}
        self.carry_after_s = carry_after_s
        self._last_carry = -math.inf
        # camera -> checkpoints of it taken and not yet settled (delivered or failed)
        self._unsettled: Counter[str] = Counter()
        # camera -> (wall clock at the last frame, its capture time, run id)
        self.seen: dict[str, tuple[float, float, str]] = {}
        self.lock = asyncio.Lock()
        # the delivery of the last batch's outputs (each waits for the one before), and
        # of the last checkpoints (each after the outputs sent before it and the one before)
        self._delivering: asyncio.Future | None = None
        self._checkpointing: asyncio.Future | None = None
        self.skipped = 0
        self.frames = 0

    def _restore(self, camera_id: str, cfg: Any, run_id: str) -> tuple[int, int, Any, str] | None:
        """The camera's analyser as of its checkpoint, if it belongs to the same run.

        A different run id (a new evaluation of a simulated camera, a replayed
        file) is a different stream: its clock and its vehicles have nothing to
        do with the old state, so it starts fresh.
        """
        blob = self.table.get(_key(camera_id))
        mark: tuple[int, int, str] | None = None
        start = 0
        if blob:
            header = _header(blob)
            if header is None:
                log.error(
                    "checkpoint of camera %s has an unknown layout; starting fresh", camera_id
                )
                return None
            mark, start = header
        live = self.live.get(camera_id)
        if live is not None and self._kept.get(camera_id) == mark:
            # The table holds what this worker last made durable (or nothing, as
            # before its first checkpoint): nobody else advanced the camera, so the
            # analyser in memory (at or past that checkpoint) goes on.
            return live
        # From here on the analyser descends from the table's checkpoint (or starts
        # fresh beside it): later batches go on from memory until someone else writes.
        self._kept[camera_id] = mark
        if mark is None or mark[2] != run_id:
            return None
        try:
            analyzer = self.factory(cfg, run_id, json.loads(blob[start:]))
        except Exception as exc:
            log.error("checkpoint of camera %s is unreadable (%s); starting fresh", camera_id, exc)
            return None
        part, off, run = mark
        log.info("camera %s: analyser restored from checkpoint at %d@%d", camera_id, part, off)
        return (part, off, analyzer, run)

    async def analyse(
        self, items: Sequence[tuple[Any, dict[str, Any], Detections | None]]
    ) -> Settlement:
        """Analyse frames in stream order: ``(frame event, its fields, its detections)``.

        The fields are those of a detections record (``camera_id``,
        ``capture_ts_us``, ``frame_seq``, ``run_id``, ``healthy``); the event's
        partition and offset are what the checkpoint records.

        Returns once the frames are analysed and their outputs sent, with a
        :class:`Settlement`: ``delivered`` when those outputs are on the broker
        (the next batch may be taken), ``durable`` when a checkpoint covering
        these frames is on the changelog too: the frames' events may be acked
        only then. The next batch can be analysed meanwhile.
        """
        async with self.lock:
            self._reset_if_failed()
            held, states = await self._analyse(items)
            self._dirty.update(held)
            delivered = self._deliver_outputs(states)
            gate = asyncio.get_running_loop().create_future()
            self._waiting.append(gate)
            self._checkpoint_when_due()
            return Settlement(delivered, gate)

    async def tick(
        self,
        now: float,
        owns: Callable[[int], bool],
        *,
        idle_s: float = 2.0,
        live_skew_s: float = 30.0,
    ) -> int:
        """Advance event time of live cameras that sent nothing for ``idle_s`` (timer).

        Without frames an analyser cannot notice that its camera went dark;
        this closes complete minutes and opens ``camera_offline`` once the gap
        passes the camera's threshold. Only cameras whose capture clock tracks
        the wall clock (within ``live_skew_s``: not a replay or a simulation)
        and whose partition this worker still owns (``owns(partition)``) are
        touched. Returns how many analysers were advanced.
        """
        async with self.lock:
            self._reset_if_failed()
            touched: dict[str, tuple[int, int, Any, str]] = {}
            for cam, (part, off, analyzer, run) in list(self.live.items()):
                seen = self.seen.get(cam)
                if seen is None or not owns(part):
                    continue
                wall, capture, run_id = seen
                if abs(wall - capture) > live_skew_s or now - wall < idle_s:
                    continue
                await self._emit(cam, run_id, analyzer.flush(capture + (now - wall)))
                touched[cam] = (part, off, analyzer, run)
            self._dirty.update(touched)
            delivered = self._deliver_outputs({})
            if touched:
                self._checkpoint_when_due()
        await delivered
        return len(touched)

    def _deliver_outputs(self, states: dict[str, dict[str, Any]]) -> asyncio.Future:
        """Deliver what was just sent, after everything sent before it (a future)."""
        sent, self._pending = self._pending, []
        prev, gen = self._delivering, self._generation
        self._delivering = fut = asyncio.ensure_future(self._send_after(prev, sent, states))
        fut.add_done_callback(lambda f: self._delivery_done(f, gen))
        return fut

    def _checkpoint_when_due(self) -> None:
        """Checkpoint now if ``checkpoint_every_s`` has passed, else make sure a timer
        will: at the interval's end, or sooner once no batch came for
        ``checkpoint_idle_s`` (a quiet stream has no traffic to save, and its last
        frames should not wait for the interval to be acked)."""
        wait = self.checkpoint_every_s - (time.monotonic() - self._last_checkpoint)
        if wait <= 0:
            self._checkpoint_now()
            return
        loop = asyncio.get_running_loop()
        if self._timer is None:
            self._timer = loop.call_later(wait, self._on_timer)
        if self._idle is not None:
            self._idle.cancel()
        self._idle = loop.call_later(min(wait, self.checkpoint_idle_s), self._on_timer)

    def _on_timer(self) -> None:
        self._cancel_timers()
        self._timed = asyncio.ensure_future(self._timed_checkpoint())

    def _cancel_timers(self) -> None:
        for t in (self._timer, self._idle):
            if t is not None:
                t.cancel()
        self._timer = self._idle = None

    async def _timed_checkpoint(self) -> None:
        async with self.lock:
            self._reset_if_failed()
            if self._dirty or self._waiting:
                self._checkpoint_now()

    def _checkpoint_now(self) -> asyncio.Future:
        """Take the checkpoints of the cameras analysed since the last ones (under the
        lock: the analysers move on with the next batch) and deliver them after every
        output sent so far; the waiting batches are settled when they are durable.

        Faust commits an acked offset without waiting for changelog writes still in
        the producer's buffer, so a batch is acked only after its checkpoint is
        delivered: a worker killed earlier restored an older checkpoint and never
        analysed the frames between it and the committed offset. The checkpoints
        go to the changelog in the order they were taken, so its last value is
        always the newest state; the table (what a restart on this worker sees)
        only ever holds durable checkpoints.
        """
        self._cancel_timers()
        self._last_checkpoint = time.monotonic()
        dirty, self._dirty = self._dirty, {}
        if self.owns is not None:
            dirty = {cam: held for cam, held in dirty.items() if self.owns(held[0])}
        waiting, self._waiting = self._waiting, []
        blobs = [
            (cam, (part, off, run), self._blob(part, off, analyzer, run))
            for cam, (part, off, analyzer, run) in dirty.items()
        ]
        blobs += self._carried(dirty)
        self._unsettled.update(cam for cam, _, _ in blobs)
        # after every output sent so far, and after the previous checkpoints
        after = [f for f in (self._delivering, self._checkpointing) if f is not None]
        gen = self._generation
        self._checkpointing = fut = asyncio.ensure_future(self._send_checkpoints(after, gen, blobs))
        fut.add_done_callback(lambda f: self._checkpointed(f, gen, blobs, waiting))
        return fut

    async def _send_after(
        self, prev: asyncio.Future | None, sent: list[Any], states: dict[str, dict[str, Any]]
    ) -> None:
        if prev is not None:
            # Order only: a failed delivery is reported to its own batch (which stays
            # unacked); the agent restarted after it must not inherit the failure.
            with contextlib.suppress(Exception):
                await prev
        if sent:
            await asyncio.gather(*sent)
        if self.state_sink is not None and states:
            self.state_sink.put(states)  # queued; written by the sink's own thread

    async def _send_checkpoints(
        self,
        after: list[asyncio.Future],
        gen: int,
        blobs: list[tuple[str, tuple[int, int, str], bytes]],
    ) -> dict[str, tuple[int, int]]:
        for prev in after:
            with contextlib.suppress(Exception):
                await prev
        if gen != self._generation:
            # An output taken before these checkpoints was never delivered: they would
            # say its frames were done. Not written; those batches are replayed.
            raise RuntimeError("an earlier delivery failed: checkpoints not written")
        send = getattr(self.table, "send", None)
        if send is None:
            return {}
        sent = [
            (cam, mark[0], send(_key(cam), blob, mark[0]))
            for cam, mark, blob in blobs
            if mark[0] >= 0
        ]
        sent = [(c, p, f) for c, p, f in sent if f is not None and hasattr(f, "__await__")]
        delivered = await asyncio.gather(*(f for _, _, f in sent))
        # where each checkpoint landed on the changelog (a RecordMetadata's offset)
        return {
            cam: (part, off)
            for (cam, part, _), md in zip(sent, delivered, strict=True)
            if isinstance(off := getattr(md, "offset", None), int) and off >= 0
        }

    def _delivery_done(self, fut: asyncio.Future, gen: int) -> None:
        failed = fut.cancelled() or fut.exception() is not None
        if failed and gen == self._generation:
            self._generation += 1
            self._reset = True

    def _checkpointed(
        self,
        fut: asyncio.Future,
        gen: int,
        blobs: list[tuple[str, tuple[int, int, str], bytes]],
        waiting: list[asyncio.Future],
    ) -> None:
        exc: BaseException | None
        exc = asyncio.CancelledError() if fut.cancelled() else fut.exception()
        self._unsettled.subtract(cam for cam, _, _ in blobs)
        self._unsettled += Counter()  # drop the cameras with nothing unsettled
        if exc is None:
            written = fut.result() or {}
            now = time.monotonic()
            for cam, mark, blob in blobs:
                self._keep(cam, blob)
                self._kept[cam] = mark
                if cam in written:
                    self._written[cam] = (*written[cam], now)
                else:
                    self._written.pop(cam, None)
            self.checkpoints += len(blobs)
        elif gen == self._generation:
            self._generation += 1
            self._reset = True
        for g in waiting:
            if g.done():
                continue
            if exc is None:
                g.set_result(None)
            else:
                g.set_exception(exc)
                g.add_done_callback(_retrieved)

    def _reset_if_failed(self) -> None:
        """After a failed delivery, drop the analysers in memory and what waits for a
        checkpoint: the next frames restore the last durable checkpoint and the
        unacked batches are analysed again (identical outputs; the sinks dedupe)."""
        if not self._reset:
            return
        self._reset = False
        log.warning("a delivery failed: analysers restart from their last durable checkpoint")
        self.live.clear()
        self._dirty.clear()
        waiting, self._waiting = self._waiting, []
        for g in waiting:
            if not g.done():
                g.set_exception(RuntimeError("an earlier delivery failed: batch not durable"))
                g.add_done_callback(_retrieved)

    def _blob(self, part: int, off: int, analyzer: Any, run: str) -> bytes:
        """A camera's checkpoint: frames partition and offset, run id, analyser state."""
        state = json.dumps(analyzer.to_state(), separators=(",", ":"), default=_json_default)
        rb = run.encode()
        return _CKPT.pack(part, off, len(rb)) + rb + state.encode()

    def _carried(self, dirty: dict[str, Any]) -> list[tuple[str, tuple[int, int, str], bytes]]:
        """The checkpoints to write again with this round (see ``carry_after_s``).

        A camera qualifies when it is not in this round, has no checkpoint of its
        own still unsettled (the table's value is then its newest state) and was not
        written by this worker for ``carry_after_s``; only in partitions this worker
        owns. The same bytes go to the changelog again, in checkpoint order.
        """
        now = time.monotonic()
        if self.carry_after_s <= 0 or now - self._last_carry < self.carry_after_s / 2:
            return []
        self._last_carry = now
        out = []
        for cam, mark, blob in self._held_checkpoints():
            if cam in dirty or self._unsettled[cam] or mark[0] < 0:
                continue
            if self.owns is not None and not self.owns(mark[0]):
                continue
            if now - self._written.get(cam, (0, 0, -math.inf))[2] >= self.carry_after_s:
                out.append((cam, mark, blob))
        return out

    def _held_checkpoints(self) -> Generator[tuple[str, tuple[int, int, str], bytes], None, None]:
        """``(camera, mark, checkpoint)`` of every readable checkpoint in the table."""
        items = getattr(self.table, "items", None)
        for key, blob in items() if items is not None else ():
            header = _header(blob)
            if header is not None and isinstance(key, bytes):
                yield key.decode(errors="replace"), header[0], blob

    def superseded_below(self, held: set[int]) -> dict[int, int]:
        """Per changelog partition in ``held``: the offset below which every checkpoint
        has been superseded by a later one of the same camera (none where unknown).

        The local broker does not compact the changelog, and it rewrites its whole
        log after each write: checkpoints piled up (85 % of its 190 MB after
        ``itscam evaluate``) and its CPU grew with them. Production Kafka compacts
        the topic, so this is for ``ITSCAM_CHECKPOINT_PURGE_S`` on the local profile.
        A partition is only answered when every camera the table holds in it has
        its latest checkpoint written by this worker at a known offset (a camera
        restored from another worker's checkpoint and not checkpointed here since
        leaves the partition alone); the answer is the smallest of those offsets,
        so each camera's latest checkpoint stays.
        """
        lowest: dict[int, int] = {}  # partition -> smallest latest-checkpoint offset
        unknown: set[int] = set()
        # (a value that is no readable checkpoint has nothing there to keep safe)
        for cam, mark, _ in self._held_checkpoints():
            part, written = mark[0], self._written.get(cam)
            if self._kept.get(cam) != mark or written is None or written[0] != part:
                unknown.add(part)  # not (or no longer) this worker's checkpoint
            else:
                lowest[part] = min(lowest.get(part, written[1]), written[1])
        return {part: off for part, off in lowest.items() if part in held - unknown}

    def _keep(self, cam: str, blob: bytes) -> None:
        keep = getattr(self.table, "keep", None)
        if keep is not None:
            keep(_key(cam), blob)  # changelog partition = the camera's frames partition
        else:
            self.table[_key(cam)] = blob

    async def _analyse(
        self, items: Sequence[tuple[Any, dict[str, Any], Detections | None]]
    ) -> tuple[dict[str, tuple[int, int, Any, str]], dict[str, dict[str, Any]]]:
        """Update the cameras' analysers and send their outputs; returns what to
        checkpoint and the latest state per camera (for Redis)."""
        by_cam: dict[str, list[tuple[Any, dict[str, Any], Detections | None]]] = defaultdict(list)
        for ev, rec, dets in items:
            by_cam[rec["camera_id"]].append((ev, rec, dets))
        states: dict[str, dict[str, Any]] = {}
        checkpoints: dict[str, tuple[int, int, Any, str]] = {}
        for cam, items in by_cam.items():
            cfg = self.cameras.get(cam)
            if cfg is None:
                for ev, _, _ in items:
                    await _dead_letter(
                        self._out,
                        self.topics["dead_letter"],
                        ev,
                        "unknown_camera",
                        f"camera {cam!r} is not in the registry",
                    )
                continue
            run_id = items[0][1].get("run_id") or ""
            try:
                held = self._restore(cam, cfg, run_id)
                if held is None:
                    held = (-1, -1, self.factory(cfg, run_id, None), run_id)
            except (
                Exception
            ) as exc:  # a camera whose analyser cannot be built must not stop the rest
                log.exception("camera %s: analyser cannot be created", cam)
                metrics.ERRORS.labels("analysis").inc()
                for ev, _, _ in items:
                    await _dead_letter(
                        self._out,
                        self.topics["dead_letter"],
                        ev,
                        REASON_ANALYSIS,
                        f"analyser cannot be created: {exc!r}",
                    )
                continue
            part, off, analyzer, run = held
            for ev, rec, dets in items:
                m = ev.message
                if m.partition == part and m.offset <= off:
                    self.skipped += 1  # already reflected in the restored analyser
                    continue
                if (rec.get("run_id") or "") != run:  # a new run of this camera starts fresh
                    run = rec.get("run_id") or ""
                    analyzer = self.factory(cfg, run, None)
                try:
                    if rec.get("end"):  # the source ran out: close its last minute
                        out = analyzer.end_of_stream()
                    else:
                        out = analyzer.update(
                            rec["capture_ts_us"] / 1e6,
                            rec["frame_seq"],
                            dets,
                            bool(rec.get("healthy", True)),
                        )
                except Exception as exc:
                    # Keep the record (dead letter) and the worker going; the
                    # analyser skips this frame, like a dropped frame.
                    log.exception("camera %s: analysis of frame %s failed", cam, rec["frame_seq"])
                    metrics.ERRORS.labels("analysis").inc()
                    await _dead_letter(
                        self._out, self.topics["dead_letter"], ev, REASON_ANALYSIS, repr(exc)
                    )
                    continue
                self.frames += not rec.get("end")
                part, off = m.partition, m.offset
                self.seen[cam] = (time.time(), rec["capture_ts_us"] / 1e6, rec.get("run_id") or "")
                await self._emit(cam, rec.get("run_id") or "", out)
                st = _state(out)
                if st is not None:
                    states[cam] = st
            self.live[cam] = (part, off, analyzer, run)
            checkpoints[cam] = (part, off, analyzer, run)
        return checkpoints, states

    async def _emit(self, cam: str, run_id: str, out: Any) -> None:
        key = _key(cam)
        for c in _outputs(out, "crossings"):
            metrics.CROSSINGS.labels(cam).inc()
            await self._out(
                self.topics["crossings"],
                key,
                encode_record(
                    SCHEMA_CROSSING,
                    CROSSING_FIELDS + CROSSING_FRAME_FIELDS,
                    c,
                    camera_id=cam,
                    run_id=run_id,
                ),
            )
        for r in _outputs(out, "minute_rows", "counts", "counts_1m"):
            await self._out(
                self.topics["counts_1m"],
                key,
                encode_record(SCHEMA_COUNTS_1M, COUNTS_FIELDS, r, camera_id=cam, run_id=run_id),
            )
        for e in _outputs(out, "events"):
            await self._out(
                self.topics["events"],
                key,
                encode_record(SCHEMA_EVENT, EVENT_FIELDS, e, camera_id=cam, run_id=run_id),
            )


# --------------------------------------------------------------------------- sinks


class SinkProcessor(_Producing):
    """Decode sink-topic records, write them to PostgreSQL (retrying until it works)."""

    def __init__(
        self,
        topics: dict[str, str],
        send: Send,
        pg: PostgresSink,
        metrics_sink: MetricsSink | None = None,
        *,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.topics = topics
        self.send = send
        self._pending: list[Any] = []
        self.pg = pg
        self.metrics_sink = metrics_sink
        self.max_backoff_s = max_backoff_s
        self.rows: dict[str, int] = defaultdict(int)
        self.retrying = 0  # writes now waiting for PostgreSQL to come back

    async def _write(
        self, batches: Mapping[str, tuple[Sequence[str], list[tuple], int | None]]
    ) -> None:
        delay = 0.5
        failing = False
        while True:
            t0 = time.perf_counter()
            try:
                written = await asyncio.to_thread(self.pg.write, batches)
            except Exception as exc:
                # Not acking keeps these records uncommitted; retrying the same
                # idempotent batch is safe. Data already accepted is never dropped.
                metrics.ERRORS.labels("postgres").inc()
                log.warning("PostgreSQL write failed (%s); retrying in %.1f s", exc, delay)
                if not failing:
                    failing = True
                    self.retrying += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failing:
                self.retrying -= 1
            for table, n in written.items():
                self.rows[table] += n
                metrics.SINK_ROWS.labels(table).inc(n)
                metrics.SINK_LATENCY.labels(table).observe(time.perf_counter() - t0)
            return

    async def process_detections(self, events: Sequence[Any]) -> None:
        recs: list[dict[str, Any]] = []
        for ev in events:
            try:
                rec = loads(ev.message.value, SCHEMA_DETECTIONS)
                frame_row(rec)
            except (ContractViolation, KeyError, TypeError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, ContractViolation) else REASON_SCHEMA
                await _dead_letter(self._out, self.topics["dead_letter"], ev, reason, str(exc))
                continue
            recs.append(rec)
        await self._flush()
        if not recs:
            return
        frames = [frame_row(r) for r in recs]
        dets = [row for r in recs for row in detection_rows(r)]
        await self._write(
            {
                "camera_data.frame_metadata": (FRAME_COLUMNS, frames, 1),
                "analytics.vehicle_detections": (DETECTION_COLUMNS, dets, 1),
            }
        )
        if self.metrics_sink is not None:
            self.metrics_sink.write(camera_metrics(recs))  # queued; never waited for

    async def process_health(self, events: Sequence[Any], state_sink: StateSink) -> None:
        """Ingest heartbeats -> the camera's latest state in Redis (``ingest_*`` fields)."""
        latest: dict[str, dict[str, Any]] = {}
        for ev in events:
            try:
                rec = loads(ev.message.value, SCHEMA_CAMERA_HEALTH)
                latest[rec["camera_id"]] = {
                    "ingest_status": rec["status"],
                    "ingest_fps": rec.get("fps"),
                    "ingest_ts_us": rec["ts_us"],
                    "ingest_frames": rec.get("frames_sent"),
                    "last_capture_ts_us": rec.get("last_capture_ts_us"),
                }
            except (ContractViolation, KeyError, TypeError) as exc:
                reason = exc.reason if isinstance(exc, ContractViolation) else REASON_SCHEMA
                await _dead_letter(self._out, self.topics["dead_letter"], ev, reason, str(exc))
        await self._flush()
        if latest:
            state_sink.put(latest)

    async def process_analytics(self, events: Sequence[Any]) -> None:
        spec = {
            self.topics["crossings"]: (
                SCHEMA_CROSSING,
                "analytics.crossings",
                CROSSING_COLUMNS,
                crossing_row,
                6,
            ),
            self.topics["counts_1m"]: (
                SCHEMA_COUNTS_1M,
                "analytics.lane_counts_1m",
                COUNTS_COLUMNS,
                counts_row,
                3,
            ),
            self.topics["events"]: (
                SCHEMA_EVENT,
                "analytics.events",
                EVENT_COLUMNS,
                event_row,
                None,
            ),
        }
        rows: dict[str, list[tuple]] = defaultdict(list)
        for ev in events:
            schema, table, _, builder, _ = spec[ev.message.topic]
            try:
                rows[table].append(builder(loads(ev.message.value, schema)))
            except (ContractViolation, KeyError, TypeError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, ContractViolation) else REASON_SCHEMA
                await _dead_letter(self._out, self.topics["dead_letter"], ev, reason, str(exc))
        await self._flush()
        batches = {
            table: (cols, rows[table], tcol)
            for _, table, cols, _, tcol in spec.values()
            if rows.get(table)
        }
        if batches:
            await self._write(batches)


# --------------------------------------------------------------------------- wiring


class Runtime:
    """Per-worker singletons: settings, detector, camera directory, sinks, processors."""

    def __init__(
        self,
        settings: Settings,
        *,
        state_table: Any,
        send: Send | None = None,
        detector_factory: Callable[[], Any] | None = None,
        analyzer_factory: Callable[..., Any] = make_analyzer,
        cameras: Any = None,
    ) -> None:
        self.settings = settings
        self.topics = {
            n: settings.topic(n)
            for n in ("frames", "detections", "crossings", "counts_1m", "events", "dead_letter")
        }
        self.send = send or self._faust_send
        self.cameras = cameras if cameras is not None else CameraDirectory(settings)
        self.state_sink = StateSink(settings)
        self.analysis = AnalysisProcessor(
            self.topics,
            self._send,
            self.cameras,
            state_table,
            analyzer_factory=analyzer_factory,
            state_sink=self.state_sink,
            checkpoint_every_s=settings.checkpoint_every_s,
            # idle cameras' checkpoints written again so the purge can pass them
            carry_after_s=3 * settings.checkpoint_purge_s,
        )
        self.frames = FrameProcessor(
            self.topics,
            self._send,
            detector_factory or self._make_detector,
            self.cameras,
            analysis=self.analysis,
            max_inflight=chunks_in_flight(settings.triton_max_in_flight, SUB_BATCH),
        )
        self.sink = SinkProcessor(
            self.topics, self._send, PostgresSink(settings), MetricsSink(settings)
        )
        self._metrics_started = False
        self._faust_topics: dict[str, Any] = {}
        self.watchdog = ProgressWatchdog(settings.stall_exit_s)
        self._admin: Any = None  # for the purges, opened on first use
        self._purged: dict[Any, int] = {}  # frames partition -> offset deleted below
        self._ck_purged: dict[int, int] = {}  # changelog partition -> offset deleted below
        self._ck_altered = False  # the changelog's cleanup policy was widened once

    async def update_lag(self, assigned: Callable[[], set[Any]] | None = None) -> float:
        """Consumer-group lag per topic into the ``itscam_consumer_lag`` gauge; and how
        long (s) the committed offsets of this worker's ``assigned()`` partitions (of all
        of them if it holds none) have stood still while records waited on them
        (:class:`streaming.watchdog.ProgressWatchdog`)."""
        from itscam.clients.kafka import group_offsets, lag_by_topic
        from streaming.app import APP_ID

        topics = [
            self.topics[t] for t in ("frames", "detections", "crossings", "counts_1m", "events")
        ]
        committed, ends = await group_offsets(self.settings, APP_ID, topics)
        for topic, n in lag_by_topic(topics, committed, ends).items():
            metrics.LAG.labels(topic).set(n)
        if assigned is None:
            return 0.0
        # A worker holding no partition watches the whole group: one that had left the
        # group and never rejoined (seen once) holds none and would otherwise never notice.
        held = assigned()
        mine = {tp for tp in ends if tp in held} or set(ends)
        stalled = self.watchdog.observe(
            time.monotonic(), {tp: committed[tp] for tp in mine}, {tp: ends[tp] for tp in mine}
        )
        metrics.STALLED.set(stalled)
        return stalled

    async def purge_frames(self, held: set[int]) -> int:
        """Delete the frames below this app's committed offsets in the frames partitions
        ``held`` (Kafka DeleteRecords, ``ITSCAM_FRAMES_PURGE_S``); returns frames deleted.

        A committed offset is only ever past frames whose outputs were delivered and
        whose analyser checkpoint is durable (see "Checkpoint ordering" in
        docs/streaming.md), so no restart or rebalance reads below it again.
        """
        from itscam.clients.kafka import delete_committed
        from streaming.app import APP_ID

        if not held:
            return 0
        todo = await delete_committed(
            self.settings,
            await self._admin_client(),
            APP_ID,
            self.topics["frames"],
            partitions=held,
            done=self._purged,
        )
        n = sum(off - self._purged.get(tp, 0) for tp, off in todo.items())
        self._purged.update(todo)
        metrics.FRAMES_PURGED.inc(n)
        return n

    async def _admin_client(self) -> Any:
        if self._admin is None:
            from aiokafka.admin import AIOKafkaAdminClient

            self._admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_servers)
            await self._admin.start()
        return self._admin

    async def purge_checkpoints(self, held: set[int]) -> int:
        """Delete superseded analyser checkpoints from the changelog partitions ``held``
        (Kafka DeleteRecords, ``ITSCAM_CHECKPOINT_PURGE_S``; see
        :meth:`AnalysisProcessor.superseded_below`); returns records deleted."""
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
        from aiokafka.admin.records_to_delete import RecordsToDelete
        from aiokafka.errors import PolicyViolationError
        from aiokafka.structs import TopicPartition

        topic = getattr(self.analysis.table, "topic", None)
        if not held or not topic:
            return 0
        todo = {
            part: off
            for part, off in self.analysis.superseded_below(held).items()
            if off > self._ck_purged.get(part, 0)
        }
        if not todo:
            return 0
        admin = await self._admin_client()
        records = {
            TopicPartition(topic, p): RecordsToDelete(before_offset=o) for p, o in todo.items()
        }
        try:
            await admin.delete_records(records)
        except PolicyViolationError:
            # A changelog made before CHANGELOG_CONFIGS (compact only): Kafka refuses
            # DeleteRecords there. Add the "delete" policy (no retention limit) once.
            if self._ck_altered:
                raise
            self._ck_altered = True
            log.warning("changelog %s: cleanup.policy set to %s", topic, CHANGELOG_CONFIGS)
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs=CHANGELOG_CONFIGS)]
            )
            await admin.delete_records(records)
        n = sum(off - self._ck_purged.get(part, 0) for part, off in todo.items())
        self._ck_purged.update(todo)
        metrics.CHECKPOINTS_PURGED.inc(n)
        return n

    async def _send(self, topic: str, key: Any, value: Any, headers: Any = None) -> Any:
        return await self.send(topic, key, value, headers)

    async def _faust_send(self, topic: str, key: Any, value: Any, headers: Any = None) -> Any:
        t = self._faust_topics.get(topic)
        if t is None:
            from streaming.app import app

            t = self._faust_topics[topic] = app.topic(
                topic, key_serializer="raw", value_serializer="raw"
            )
        # force: send now and hand back the delivery future (see _Producing),
        # instead of attaching the message to whichever event is current.
        return await t.send(key=key, value=value, headers=headers, force=True)

    def _make_detector(self) -> Any:
        import os

        if os.environ.get("ITSCAM_ORACLE_DETECTIONS") == "redis":
            from streaming.precomputed import OracleDetector

            log.warning("inference replaced by simulator ground truth (oracle diagnostics)")
            return OracleDetector(self.settings)
        pre = os.environ.get("ITSCAM_PRECOMPUTED_DETECTIONS")
        if pre:
            from pathlib import Path

            from streaming.precomputed import PrecomputedDetector

            log.warning("inference replaced by precomputed detections from %s", pre)
            return PrecomputedDetector(Path(pre))
        from itscam.inference import make_detector

        return make_detector(self.settings)

    def start_metrics(self) -> None:
        import os

        if self._metrics_started:
            return
        self._metrics_started = True
        port = int(os.environ.get("ITSCAM_METRICS_PORT", "9108"))
        # Local profile: loopback only; in a pod, Prometheus scrapes the pod address.
        addr = "0.0.0.0" if self.settings.profile == "production" else "127.0.0.1"
        try:
            metrics.serve(port, addr)
        except OSError as exc:
            log.warning("Prometheus metrics not served on port %d: %s", port, exc)
