"""The sample payload a sensor publishes on ``<prefix>/<site>/<machine>/<sensor>/data`` (issue 18), and its bounded
schema (issue 27): the size is checked before anything is parsed or allocated, every number is finite and within the
configured limits, and a refused payload names its reason (the counter it goes to).

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
MAX_SEQ = 2**32 - 1
JSON_BYTES_PER_SAMPLE = 32


@dataclass(frozen=True)
class Limits:
    """What a payload may hold (ServeConfig's ``max_payload_samples``, ``min_fs``/``max_fs``, ``max_t0``, ``max_abs_sample``)."""

    max_samples: int = 65536
    min_fs: float = 100.0
    max_fs: float = 100_000.0
    max_t0: float = 7.3e9  # the year 2201: a later clock is a broken one
    max_abs_sample: float = 1e6

    @property
    def max_bytes(self) -> int:
        return HEADER.size + max(4, JSON_BYTES_PER_SAMPLE) * self.max_samples + 1024


class PayloadRefused(DataError):
    """A payload the service does not take; ``reason`` names the counter (``payloads_refused_<reason>``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Chunk:
    seq: int
    t0: float
    fs: float
    samples: np.ndarray  # float32 (n,)


def encode(seq: int, t0: float, fs: float, samples) -> bytes:
    samples = np.ascontiguousarray(samples, dtype="<f4")
    return HEADER.pack(MAGIC, seq, t0, fs, samples.size) + samples.tobytes()


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def _header(seq, t0, fs, n: int, limits: Limits) -> tuple[int, float, float]:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise PayloadRefused("malformed", f"payload: seq must be an integer 0..{MAX_SEQ}, got {seq!r:.40}")
    if isinstance(t0, bool) or not isinstance(t0, (int, float)) or isinstance(fs, bool) or not isinstance(fs, (int, float)):
        raise PayloadRefused("malformed", "payload: t0 and fs must be numbers")
    if not (math.isfinite(t0) and 0.0 <= t0 <= limits.max_t0):
        raise PayloadRefused("out_of_range", f"payload: start time t0 {t0:g} s outside 0 .. {limits.max_t0:g} (Unix seconds)")
    if not (math.isfinite(fs) and limits.min_fs <= fs <= limits.max_fs):
        raise PayloadRefused("out_of_range", f"payload: sampling rate {fs:g} Hz outside {limits.min_fs:g} .. {limits.max_fs:g} Hz")
    if n > limits.max_samples:
        raise PayloadRefused("oversize", f"payload of {n} samples exceeds the limit of {limits.max_samples}")
    if n == 0:
        raise PayloadRefused("malformed", "payload: no samples")
    return seq, float(t0), float(fs)


def decode(payload: bytes, limits: Limits | int) -> Chunk:
    """A chunk from a binary or JSON payload; anything malformed, non-finite, out of range or oversize raises
    :class:`PayloadRefused` before the samples are allocated."""
    if isinstance(limits, int):
        limits = Limits(max_samples=limits)
    if len(payload) > limits.max_bytes:
        raise PayloadRefused("oversize", f"payload of {len(payload)} bytes exceeds the limit of {limits.max_bytes}")
    if payload[:4] == MAGIC:
        if len(payload) < HEADER.size:
            raise PayloadRefused("malformed", f"binary payload of {len(payload)} bytes is shorter than its {HEADER.size}-byte header")
        _, seq, t0, fs, n = HEADER.unpack_from(payload)
        seq, t0, fs = _header(seq, t0, fs, n, limits)
        if len(payload) != HEADER.size + 4 * n:
            raise PayloadRefused("malformed", f"binary payload says {n} samples but carries {(len(payload) - HEADER.size) / 4:g}")
        samples = np.frombuffer(payload, dtype="<f4", offset=HEADER.size, count=n).astype(np.float32)
    else:
        try:
            raw = json.loads(payload, parse_constant=_no_constant)
            seq, t0, fs, values = raw["seq"], raw["t0"], raw["fs"], raw["samples"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise PayloadRefused("malformed", f"payload is neither binary ({MAGIC!r} header) nor JSON with seq, t0, fs, samples "
                                 f"({str(exc)[:80]})") from None
        if not isinstance(values, list):
            raise PayloadRefused("malformed", "JSON payload: samples must be a list of numbers")
        seq, t0, fs = _header(seq, t0, fs, len(values), limits)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise PayloadRefused("malformed", "JSON payload: samples must be numbers")
        try:
            samples = np.asarray(values, dtype=np.float64)
        except OverflowError:
            raise PayloadRefused("out_of_range", "JSON payload: a sample is too large") from None
    if not np.isfinite(samples).all():
        raise PayloadRefused("non_finite", "payload: samples must be finite numbers")
    if np.abs(samples).max() > limits.max_abs_sample:
        raise PayloadRefused("out_of_range", f"payload: a sample exceeds the limit of {limits.max_abs_sample:g} in magnitude")
    return Chunk(seq, t0, fs, samples.astype(np.float32))
