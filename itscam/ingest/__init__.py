"""Camera sources (simulator, video file, RTSP/HTTP) behind one interface: see
:mod:`itscam.ingest.sources`. The ingest process that publishes frames lives in
``streaming/ingest.py``."""
