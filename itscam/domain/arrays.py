"""Numpy arrays in JSON state: exact, compact and fast (analyser checkpoints).

A checkpoint is written for every camera after every micro-batch, so its
encoding is on the hot path. A float64 written as a JSON number costs about
18 characters and a ``repr``; packed, it is 8 bytes (10.7 in base64), copied
without formatting, and NaN and infinities survive as they are. The state
stays strict JSON (never a pickle: a record on a topic must not run code).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def pack(a: np.ndarray) -> dict[str, Any]:
    """``{"dtype", "shape", "b64"}``: the array's little-endian bytes, base64."""
    a = np.ascontiguousarray(a)
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    return {
        "dtype": dt.str,
        "shape": list(a.shape),
        "b64": base64.b64encode(a.astype(dt, copy=False).tobytes()).decode("ascii"),
    }


def unpack(v: Any, dtype: Any) -> np.ndarray:
    """The array :func:`pack` wrote, as ``dtype``; a plain JSON list (older checkpoints) too."""
    if isinstance(v, dict) and "b64" in v:
        raw = base64.b64decode(v["b64"])
        return np.frombuffer(raw, dtype=np.dtype(v["dtype"])).reshape(v["shape"]).astype(dtype)
    return np.asarray(v, dtype=dtype)
