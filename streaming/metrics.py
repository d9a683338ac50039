"""Prometheus metrics of a stream worker (scraped on ``:9108/metrics`` by default)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

FRAMES = Counter("itscam_frames_total", "Frames processed by the detect agent", ["camera_id"])
DETECTIONS = Counter("itscam_detections_total", "Detections produced", ["camera_id"])
INFER_LATENCY = Histogram(
    "itscam_inference_seconds",
    "Detector call latency per micro-batch",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
FRAME_AGE = Histogram(
    "itscam_frame_to_detection_seconds",
    "Capture time to detections produced",
    buckets=(0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30),
)
BATCH_SIZE = Histogram(
    "itscam_detect_batch_size", "Frames per detect micro-batch", buckets=(1, 2, 4, 8, 16, 32, 64)
)
ERRORS = Counter("itscam_errors_total", "Errors by stage", ["stage"])
DEAD_LETTERS = Counter(
    "itscam_dead_letters_total", "Records sent to the dead-letter topic", ["reason"]
)
SINK_ROWS = Counter("itscam_sink_rows_total", "Rows written by the sinks", ["table"])
SINK_LATENCY = Histogram("itscam_sink_seconds", "Sink batch write time", ["table"])
LAG = Gauge("itscam_consumer_lag", "Records behind the log end", ["topic"])
FRAMES_PURGED = Counter(
    "itscam_frames_purged_total", "Consumed frames deleted from the frames topic (DeleteRecords)"
)
CHECKPOINTS_PURGED = Counter(
    "itscam_checkpoints_purged_total",
    "Superseded analyser checkpoints deleted from the changelog (DeleteRecords)",
)
METRIC_POINTS_DROPPED = Counter(
    "itscam_metric_points_dropped_total",
    "InfluxDB points dropped because an outage outlasted the sink's buffer",
)
CROSSINGS = Counter("itscam_crossings_total", "Line crossings", ["camera_id"])
STALLED = Gauge(
    "itscam_consumer_stalled_seconds",
    "How long this worker's committed offsets have stood still while records wait",
)


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on ``addr:port`` (port 0 disables)."""
    if port:
        start_http_server(port, addr=addr)
