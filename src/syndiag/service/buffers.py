"""Per-sensor ring buffers (issue 18) and the windows they hand out (issue 27).

A window ends on the sensor's clock at every multiple of ``every_s`` seconds (absolute sample index ``round(t0 * fs)``
+ i), so a window has one identity, (sensor, t_end), whichever process or delivery produces it, and each window end
lies in exactly one payload. A payload that continues the buffered signal (within one sample) extends it; one that
starts later (a gap) or at another rate restarts it; one that starts earlier (a repeat, a clock going back) is refused.
A due window whose samples are not held (after a restart, a gap or expiry) gets the fate ``incomplete``: counted, never
silently skipped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from syndiag.service.payload import Chunk, PayloadRefused


@dataclass
class Window:
    sensor: str
    samples: np.ndarray | None  # (length,) float32 at the model's rate; None for a window whose samples are not held
    t_end: float  # time of the window's last sample (s, the sensor's clock)
    arrived: float  # monotonic time its last sample arrived
    done: "Pending | None" = None  # the payload it ends in: acknowledged once all its windows have a fate
    signal: np.ndarray | None = None  # the health state's signal: up to health.window_s ending at t_end, the sensor's rate
    signal_fs: float = 0.0
    channels: dict[str, tuple[np.ndarray, float]] | None = None  # a sensor of several channels: each held channel's samples, its rate


class Pending:
    """Counts down the windows of one payload; ``acknowledge`` runs when the last has a recorded fate."""

    def __init__(self, count: int, acknowledge) -> None:  # noqa: ANN001
        self.count, self.acknowledge = count, acknowledge

    def finish(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.acknowledge()


def _resampled(x: np.ndarray, fs: float, model_fs: float, length: int) -> np.ndarray:
    from syndiag.data.cwru import resample  # defers scipy.io and scipy.signal: only a sensor at another rate is resampled

    if fs != model_fs:
        x = resample(x[None, :].astype(np.float64), fs, model_fs)[0]
    return np.asarray(x[-length:], dtype=np.float32)


def window_ends(first: int, n: int, step: int) -> range:
    """Absolute sample indices (exclusive ends) of the windows that end within samples ``first`` .. ``first + n``."""
    return range((first // step + 1) * step, first + n + 1, step)


@dataclass
class SensorBuffer:
    sensor: str
    fs: float
    capacity: int
    data: np.ndarray = field(init=False)
    start: int = 0  # absolute index of the first sample since the last restart
    end: int | None = None  # absolute index after the newest sample
    next_seq: int | None = None
    gaps: int = 0
    rate_changes: int = 0
    expired: int = 0

    def __post_init__(self) -> None:
        self.data = np.zeros(self.capacity, dtype=np.float32)

    @property
    def count(self) -> int:
        return 0 if self.end is None else self.end - self.start

    @property
    def t_end(self) -> float:
        return 0.0 if self.end is None else self.end / self.fs

    def push(self, chunk: Chunk) -> None:
        """Append a chunk; PayloadRefused ('overlap') when it starts before the held signal ends."""
        if not math.isclose(chunk.fs, self.fs, rel_tol=1e-6):
            seconds = self.capacity / self.fs
            self.fs, self.end, self.rate_changes = chunk.fs, None, self.rate_changes + 1
            self.capacity = max(1, math.ceil(seconds * chunk.fs))
            self.data = np.zeros(self.capacity, dtype=np.float32)
        first = round(chunk.t0 * chunk.fs)
        if self.end is not None and abs(first - self.end) <= 1:
            first = self.end
        elif self.end is not None and first < self.end:
            raise PayloadRefused("overlap", f"{self.sensor}: payload starts at {chunk.t0:.6f} s, before the {self.t_end:.6f} s "
                                            "already received (a repeat or a clock going back)")
        elif self.end is not None:
            self.gaps += 1
        if self.end is None or first != self.end:
            self.start = first
        if self.next_seq is not None and chunk.seq != self.next_seq and first == self.end:
            self.gaps += 1
        self.next_seq = chunk.seq + 1
        x = chunk.samples[-self.capacity :]
        at = (first + chunk.samples.size - x.size) % self.capacity
        head = min(x.size, self.capacity - at)
        self.data[at : at + head] = x[:head]
        self.data[: x.size - head] = x[head:]
        self.end = first + chunk.samples.size

    def span(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` .. ``stop`` (absolute indices), which must still be held."""
        return self.data[np.arange(start, stop) % self.capacity]

    def held_from(self) -> int:
        return max(self.start, (self.end or 0) - self.capacity)

    def windows(self, first: int, n: int, length: int, model_fs: float, every_s: float, arrived: float) -> list[Window]:
        """The windows ending within the samples ``first`` .. ``first + n`` just pushed; those whose samples are not held
        come with ``samples=None`` (fate: incomplete)."""
        need = math.ceil(length * self.fs / model_fs)
        if need > self.capacity:
            raise ValueError(f"{self.sensor}: a window needs {need} samples at {self.fs:g} Hz, the buffer keeps {self.capacity}")
        found = []
        for end in window_ends(first, n, max(1, round(every_s * self.fs))):
            held = end - need >= self.held_from()
            if not held and end - need >= self.start:
                self.expired += 1
            samples = _resampled(self.span(end - need, end), self.fs, model_fs, length) if held else None
            found.append(Window(self.sensor, samples, end / self.fs, arrived))
        return found


def payload_windows(sensor: str, chunk: Chunk, length: int, model_fs: float, every_s: float, arrived: float) -> tuple[list[Window], int]:
    """The windows of one payload on its own (shared subscriptions: the next payload may go to another process).

    Returns every window ending in the payload (``samples=None`` where the payload is shorter than a window) and how
    many of those it does not hold."""
    need = math.ceil(length * chunk.fs / model_fs)
    first = round(chunk.t0 * chunk.fs)
    found, missed = [], 0
    for end in window_ends(first, chunk.samples.size, max(1, round(every_s * chunk.fs))):
        stop = end - first
        held = stop >= need
        missed += not held
        samples = _resampled(chunk.samples[stop - need : stop], chunk.fs, model_fs, length) if held else None
        found.append(Window(sensor, samples, end / chunk.fs, arrived))
    return found, missed
