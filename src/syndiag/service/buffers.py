"""Per-sensor ring buffers (issue 18): samples kept for ``buffer_s`` seconds; every ``every_s`` seconds of signal the
latest window (resampled to the model's rate when the sensor's differs) is handed out for diagnosis. Sequence gaps and
rate changes are counted; a rate change restarts the buffer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from syndiag.service.payload import Chunk


@dataclass
class Window:
    sensor: str
    samples: np.ndarray  # (length,) float32 at the model's rate
    t_end: float  # time of the window's last sample (s, the sensor's clock)
    arrived: float  # monotonic time its last sample arrived
    done: "Pending | None" = None  # shared subscriptions: the payload acknowledged once all its windows are stored or dropped


class Pending:
    """Counts down the windows of one payload; ``acknowledge`` runs when the last is stored or counted as dropped."""

    def __init__(self, count: int, acknowledge) -> None:  # noqa: ANN001
        self.count, self.acknowledge = count, acknowledge

    def finish(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.acknowledge()


@dataclass
class SensorBuffer:
    sensor: str
    fs: float
    capacity: int
    data: np.ndarray = field(init=False)
    count: int = 0
    next_seq: int | None = None
    t_end: float = 0.0
    due: int = 0
    gaps: int = 0
    rate_changes: int = 0
    expired: int = 0

    def __post_init__(self) -> None:
        self.data = np.zeros(self.capacity, dtype=np.float32)

    def push(self, chunk: Chunk) -> None:
        if not math.isclose(chunk.fs, self.fs, rel_tol=1e-6):  # a new rate: the old samples cannot share a window with the new
            seconds = self.capacity / self.fs
            self.fs, self.count, self.due, self.rate_changes = chunk.fs, 0, 0, self.rate_changes + 1
            self.capacity = max(1, math.ceil(seconds * chunk.fs))
            self.data = np.zeros(self.capacity, dtype=np.float32)
        if self.next_seq is not None and chunk.seq != self.next_seq:
            self.gaps += 1
        self.next_seq = chunk.seq + 1
        x = chunk.samples[-self.capacity :]
        start = self.count % self.capacity
        first = min(x.size, self.capacity - start)
        self.data[start : start + first] = x[:first]
        self.data[: x.size - first] = x[first:]
        self.count += chunk.samples.size
        self.t_end = chunk.t0 + chunk.samples.size / chunk.fs

    def span(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` .. ``stop`` (indices since the buffer started), which must still be held."""
        index = np.arange(start, stop) % self.capacity
        return self.data[index]

    def windows(self, length: int, model_fs: float, every_s: float, arrived: float) -> list[Window]:
        """Every window now due, one per ``every_s`` seconds of signal, each ``length`` samples at the model's rate; a due
        window whose samples the buffer no longer holds is counted in ``expired`` (never silently skipped)."""
        from syndiag.data.cwru import resample

        need = math.ceil(length * self.fs / model_fs)
        if need > self.capacity:
            raise ValueError(f"{self.sensor}: a window needs {need} samples at {self.fs:g} Hz, the buffer keeps {self.capacity}")
        self.due = max(self.due, need)
        found = []
        while self.due <= self.count:
            end = self.due
            if end - need < self.count - self.capacity:
                self.expired += 1
            else:
                x = self.span(end - need, end)
                if self.fs != model_fs:
                    x = resample(x[None, :].astype(np.float64), self.fs, model_fs)[0]
                found.append(Window(self.sensor, np.asarray(x[-length:], dtype=np.float32), self.t_end - (self.count - end) / self.fs, arrived))
            self.due = end + max(1, round(every_s * self.fs))
        return found


def payload_windows(sensor: str, chunk: Chunk, length: int, model_fs: float, every_s: float, arrived: float) -> tuple[list[Window], int]:
    """The windows of one payload on its own (shared subscriptions: the next payload may go to another process).

    Windows end on the sensor's clock at every multiple of ``every_s`` seconds (sample index ``round(t0 * fs)`` + i), so
    whichever process receives a payload, each window belongs to exactly one payload. Returns the windows whose samples
    the payload holds, and how many due windows it does not hold (the payload is shorter than a window: counted)."""
    from syndiag.data.cwru import resample

    need = math.ceil(length * chunk.fs / model_fs)
    step = max(1, round(every_s * chunk.fs))
    first = round(chunk.t0 * chunk.fs)
    ends = range((first // step + 1) * step, first + chunk.samples.size + 1, step)
    found, missed = [], 0
    for end in ends:
        stop = end - first
        if stop < need:
            missed += 1
            continue
        x = chunk.samples[stop - need : stop]
        if chunk.fs != model_fs:
            x = resample(x[None, :].astype(np.float64), chunk.fs, model_fs)[0]
        found.append(Window(sensor, np.asarray(x[-length:], dtype=np.float32), end / chunk.fs, arrived))
    return found, missed
