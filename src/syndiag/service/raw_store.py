"""The raw signal kept from the ring buffers (issue 33, "bounded storage that keeps what matters"): a clip around every
alarm (``raw_before_s`` before its window's end to ``raw_after_s`` after, cut once the stream has reached its end) and
a snapshot of every stream every ``snapshot_every_s`` seconds of its clock, each compressed (int16 scaled to the clip's
peak, or float16, in a deflated .npz) and stored in ``raw_segments`` beside the diagnoses.

:class:`RawCapture` is told of every push to a ring buffer (under the pipeline's lock: a few comparisons, a copy when a
clip or snapshot is due) and of every stored alarm; what it cuts waits in ``ready`` for the keeper thread, which
encodes and stores it (service/keeper.py), so ingestion never waits for compression or the database. A clip whose
start the buffer no longer holds (the worker lagging behind) keeps what is held, with its real start and length."""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table

from syndiag.config.service import RetentionConfig
from syndiag.service.buffers import SensorBuffer

raw_metadata = MetaData()
raw_segments = Table(
    "raw_segments", raw_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),  # kind:stream:alarm id or start: one segment per alarm and stream, per snapshot
    Column("kind", String(16), nullable=False),  # alarm or snapshot
    Column("stream", String(200), nullable=False, index=True),  # site/machine/sensor of the stream (a channel of a sensor model)
    Column("sensor", String(200), nullable=False),  # the diagnosed sensor it belongs to
    Column("alarm_id", String(64), nullable=True),
    Column("t0", Float, nullable=False),  # its first sample, the stream's clock (s)
    Column("fs", Float, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # .npz: q (int16 or float16), scale
    Column("stored_at", Float, nullable=False),
    Index("one_raw_segment", "key", unique=True),
    Index("raw_by_age", "kind", "t0"),
)


def encode_raw(samples: np.ndarray, encoding: str = "int16") -> bytes:
    """Samples as a deflated .npz: int16 scaled to their peak (``scale`` = peak / 32767) or float16 (``scale`` 1)."""
    x = np.asarray(samples, dtype=np.float32)
    if encoding == "int16":
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        scale = peak / 32767.0 if peak > 0 else 1.0
        q = np.round(x / scale).astype(np.int16)
    else:
        scale, q = 1.0, x.astype(np.float16)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, q=q, scale=np.float64(scale))
    return buffer.getvalue()


def decode_raw(data: bytes) -> np.ndarray:
    """The samples (float32) of an encoded segment."""
    with np.load(io.BytesIO(data), allow_pickle=False) as found:
        return (found["q"].astype(np.float64) * float(found["scale"])).astype(np.float32)


@dataclass
class Segment:
    """A cut of raw signal waiting to be stored."""

    kind: str
    stream: str
    sensor: str
    alarm_id: str | None
    t0: float
    fs: float
    samples: np.ndarray

    def row(self, encoding: str, now: float) -> dict[str, Any]:
        data = encode_raw(self.samples, encoding)
        what = self.alarm_id if self.kind == "alarm" else f"{self.t0:.6f}"
        return {"key": f"{self.kind}:{self.stream}:{what}", "kind": self.kind, "stream": self.stream, "sensor": self.sensor,
                "alarm_id": self.alarm_id, "t0": self.t0, "fs": self.fs, "samples": int(self.samples.size), "bytes": len(data),
                "data": data, "stored_at": now}


@dataclass
class Clip:
    alarm_id: str
    stream: str
    sensor: str
    start: float  # the stream's clock (s)
    stop: float


class RawCapture:
    """Thread-safe: ``pushed`` from the ingestion (under the pipeline's lock), ``alarm`` from the worker, ``take`` from the keeper."""

    def __init__(self, config: RetentionConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.clips: list[Clip] = []
        self.next_snapshot: dict[str, float] = {}
        self.ready: list[Segment] = []
        self.owner: dict[str, str] = {}  # stream -> the sensor it belongs to

    def alarm(self, alarm_id: str, sensor: str, t_end: float, streams: list[str], buffers: dict[str, SensorBuffer]) -> None:
        """Keep ``raw_before_s`` .. ``raw_after_s`` around ``t_end`` of each of the alarm's streams (cut once reached)."""
        with self.lock:
            for stream in streams:
                self.clips.append(Clip(alarm_id, stream, sensor, t_end - self.config.raw_before_s, t_end + self.config.raw_after_s))
        for stream in streams:
            if stream in buffers:
                self.pushed(stream, buffers[stream])

    def pushed(self, stream: str, buffer: SensorBuffer) -> None:
        """After a push to ``stream``'s buffer: cut the clips it has reached the end of and its snapshot when due."""
        if buffer.end is None:
            return
        reached = buffer.t_end
        with self.lock:
            due = [c for c in self.clips if c.stream == stream and c.stop <= reached + 1e-9]
            if due:
                self.clips = [c for c in self.clips if c not in due]
            for clip in due:
                self._cut("alarm", stream, clip.sensor, clip.alarm_id, buffer, clip.start, clip.stop)
            every = self.config.snapshot_every_s
            at = self.next_snapshot.get(stream)
            if at is None:
                at = self.next_snapshot[stream] = math.floor(reached / every) * every + every
            if reached + 1e-9 >= at:
                self._cut("snapshot", stream, self.owner.get(stream, stream), None, buffer, at - self.config.snapshot_s, at)
                self.next_snapshot[stream] = math.floor(reached / every) * every + every

    def _cut(self, kind: str, stream: str, sensor: str, alarm_id: str | None, buffer: SensorBuffer, start: float, stop: float) -> None:
        a, b = max(math.ceil(start * buffer.fs - 1e-6), buffer.held_from()), min(math.ceil(stop * buffer.fs - 1e-6), buffer.end)
        if b > a:
            self.ready.append(Segment(kind, stream, sensor, alarm_id, a / buffer.fs, buffer.fs, np.array(buffer.span(a, b), dtype=np.float32)))

    def take(self) -> list[Segment]:
        with self.lock:
            found, self.ready = self.ready, []
        return found

    def waiting(self) -> int:
        with self.lock:
            return len(self.clips) + len(self.ready)
