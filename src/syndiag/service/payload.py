"""The sample payload a sensor publishes on ``<prefix>/<site>/<machine>/<sensor>/data`` (issue 18).

Binary (high rates): a 24-byte little-endian header ``b"SDG1"``, uint32 sequence number, float64 time of the first
sample (s, Unix), float32 sampling rate (Hz), uint32 sample count; then that many float32 samples.
JSON (low rates): ``{"seq": 1, "t0": 1700000000.0, "fs": 10.0, "samples": [0.1, 0.2]}``.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

from syndiag.errors import DataError

MAGIC = b"SDG1"
HEADER = struct.Struct("<4sIdfI")


@dataclass(frozen=True)
class Chunk:
    seq: int
    t0: float
    fs: float
    samples: np.ndarray  # float32 (n,)


def encode(seq: int, t0: float, fs: float, samples) -> bytes:
    samples = np.ascontiguousarray(samples, dtype="<f4")
    return HEADER.pack(MAGIC, seq, t0, fs, samples.size) + samples.tobytes()


def decode(payload: bytes, max_samples: int) -> Chunk:
    """A chunk from a binary or JSON payload; malformed, non-finite or oversize payloads are refused, named."""
    if payload[:4] == MAGIC:
        if len(payload) < HEADER.size:
            raise DataError(f"binary payload of {len(payload)} bytes is shorter than its {HEADER.size}-byte header")
        _, seq, t0, fs, n = HEADER.unpack_from(payload)
        if n > max_samples:
            raise DataError(f"payload of {n} samples exceeds the limit of {max_samples}")
        if len(payload) != HEADER.size + 4 * n:
            raise DataError(f"binary payload says {n} samples but carries {(len(payload) - HEADER.size) / 4:g}")
        samples = np.frombuffer(payload, dtype="<f4", offset=HEADER.size, count=n).astype(np.float32)
    else:
        try:
            raw = json.loads(payload)
            seq, t0, fs, values = int(raw["seq"]), float(raw["t0"]), float(raw["fs"]), raw["samples"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"payload is neither binary ({MAGIC!r} header) nor JSON with seq, t0, fs, samples ({exc})") from None
        if not isinstance(values, list) or len(values) > max_samples:
            raise DataError(f"JSON payload: samples must be a list of at most {max_samples} numbers")
        try:
            samples = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError("JSON payload: samples must be numbers") from None
    if not (math.isfinite(fs) and fs > 0) or not math.isfinite(t0):
        raise DataError(f"payload: sampling rate {fs} and start time {t0} must be finite, the rate positive")
    if samples.ndim != 1 or samples.size == 0 or not np.isfinite(samples).all():
        raise DataError("payload: samples must be a non-empty list of finite numbers")
    return Chunk(int(seq), float(t0), float(fs), samples)
