"""The demo detector: dataset rendering, training (in ``.venv-train``), ONNX export,
install into ``triton_models/yolo11n``, held-out evaluation and import of real weights.

Commands: ``itscam model dataset|train|install|evaluate|import`` (one module each).
"""
