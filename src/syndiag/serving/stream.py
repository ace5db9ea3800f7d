"""The windows of a recording, cut on demand in blocks, so that a long recording is diagnosed in bounded memory.

A :class:`WindowStream` knows how many windows a recording holds and cuts any run of them on request: from a
signal (channels, n) every ``window.step`` samples, exactly as :func:`syndiag.serving.diagnosis.window_array`
cuts them, or from a file of windows (m, channels, length). A ``.npy`` file is read through a memory map
(``np.load(mmap_mode="r")``) opened afresh for each block, so neither the file nor its windows are ever resident
as a whole; other formats are read into memory by the caller's reader and cut from there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from syndiag.config.data import WindowConfig
from syndiag.errors import DataError

Reader = Callable[[int, int], np.ndarray]
"""Positions [a, b) along a recording's first axis of interest (samples, or windows of a window file) -> a copy."""

CHECK_CHUNK = 1 << 18
"""Samples (per channel) read at once when a memory-mapped recording is checked for NaN/Inf."""


class WindowStream:
    """``count`` windows of ``length`` samples, cut on demand by :meth:`block`; ``step`` is None for a window file."""

    def __init__(self, source: str, read: Reader, size: int, channels: int, length: int, step: int | None, fs: float | None,
                 dtype: np.dtype) -> None:
        self.source, self.read, self.size, self.channels = source, read, size, channels
        self.length, self.step, self.fs, self.dtype = length, step, fs, np.dtype(dtype)
        if size == 0 or channels == 0:
            raise DataError(f"{source}: the signal is empty")
        if not np.issubdtype(self.dtype, np.number):
            raise DataError(f"{source}: the signal is not numeric (dtype {self.dtype})")
        if step is None:
            self.count = size
        elif size < length:
            raise DataError(f"{source}: {size} samples, shorter than one window of {length}")
        else:
            self.count = (size - length) // step + 1

    def block(self, start: int, stop: int) -> np.ndarray:
        """Windows ``start`` .. ``stop - 1`` as float32 (stop - start, channels, length)."""
        stop = min(stop, self.count)
        if self.step is None:
            return np.asarray(self.read(start, stop), dtype=np.float32)
        span = self.read(start * self.step, (stop - 1) * self.step + self.length)
        cut = sliding_window_view(span, self.length, axis=-1)[:, :: self.step]
        return np.ascontiguousarray(cut.transpose(1, 0, 2), dtype=np.float32)

    def blocks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """(first window index, windows) for consecutive blocks of at most ``size`` windows."""
        for start in range(0, self.count, max(1, size)):
            yield start, self.block(start, start + size)

    def start_seconds(self, index: np.ndarray | int) -> np.ndarray | float | None:
        """Where window ``index`` starts in the recording, in seconds (None for a window file)."""
        if self.step is None or not self.fs:
            return None
        return np.asarray(index) * (self.step / self.fs)

    @property
    def window_seconds(self) -> float | None:
        return None if self.step is None or not self.fs else self.length / self.fs

    def check(self, chunk: int | None = None) -> None:
        """Raise :class:`DataError` if any sample is NaN/Inf, reading ``chunk`` (default :data:`CHECK_CHUNK`) samples
        (per channel) at a time."""
        chunk = chunk or CHECK_CHUNK
        per_read = max(1, chunk // (self.channels * self.length)) if self.step is None else max(1, chunk)
        bad_total, first = 0, None
        for start in range(0, self.size, per_read):
            part = self.read(start, min(start + per_read, self.size))
            bad = ~np.isfinite(part)
            count = int(bad.sum())
            if count and first is None:
                where = np.argwhere(bad)[0]
                first = (f"window {start + int(where[0])}, sample {int(where[-1])}" if self.step is None
                         else f"sample {start + int(where[-1])}")
            bad_total += count
        if bad_total:
            raise DataError(f"{self.source}: the signal holds {bad_total} NaN/Inf value(s), the first at {first}; "
                            "clean or trim the recording before use")


def array_windows(signal: np.ndarray, window: WindowConfig, source: str, fs: float | None = None) -> WindowStream:
    """A stream over an in-memory signal (channels, n) or window array (m, channels, length)."""
    signal = np.asarray(signal)
    if signal.ndim == 3:
        if signal.shape[-1] != window.length:
            raise DataError(f"{source}: windows of {signal.shape[-1]} samples, the model expects {window.length}")
        return WindowStream(source, lambda a, b: signal[a:b], signal.shape[0], signal.shape[1], window.length, None, fs, signal.dtype)
    if signal.ndim != 2:
        raise DataError(f"{source}: expected a signal (channels, samples) or windows (n, channels, length), got shape {signal.shape}")
    return WindowStream(source, lambda a, b: signal[:, a:b], signal.shape[1], signal.shape[0], window.length, window.step, fs, signal.dtype)


def _npy_span(path: Path, layout: Callable[[np.ndarray], np.ndarray], a: int, b: int) -> np.ndarray:
    """Positions [a, b) of a .npy file's array seen through ``layout``, read through a memory map dropped on return."""
    mapped = layout(np.load(path, mmap_mode="r", allow_pickle=False))
    return np.array(mapped[a:b] if mapped.ndim == 3 else mapped[:, a:b])


def npy_windows(path: Path, channels: int, fs: float | None, target_fs: float, window: WindowConfig) -> WindowStream | None:
    """A memory-mapped stream over a .npy file that the in-memory reader (``read_signal``) would read as it stands.

    Windows (m, channels, length) at the model's rate, or a recording of ``channels`` channels at exactly the
    model's rate ``fs`` (1-D, or 2-D with the longer axis as time, as ``data.signal_files`` reads columns). None
    for anything else (unreadable, not numeric, no or another rate, other channel counts): the in-memory reader
    then reads, resamples or refuses it with its own message.
    """
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception:  # the in-memory reader reports what is wrong with the file
        return None
    if not isinstance(mapped, np.ndarray):
        mapped.close()
        return None
    if mapped.dtype.kind not in "iuf" or mapped.size < 2:
        return None
    shape = mapped.shape
    layout: Callable[[np.ndarray], np.ndarray]
    if len(shape) == 3:
        if shape[1] != channels or (fs is not None and not math.isclose(fs, target_fs, rel_tol=1e-6)):
            return None
        layout = _same
    elif len(shape) in (1, 2):
        count = 1 if len(shape) == 1 else min(shape)
        if fs is None or fs != target_fs or count != channels:
            return None
        layout = _as_row if len(shape) == 1 else _same if shape[0] < shape[1] else _transposed
    else:
        return None
    viewed = layout(mapped)
    (m, n_channels, n), dtype = (viewed.shape if viewed.ndim == 3 else (None, *viewed.shape)), viewed.dtype
    del mapped, viewed

    def read(a: int, b: int) -> np.ndarray:
        return _npy_span(path, layout, a, b)

    if m is not None:
        if n != window.length:
            raise DataError(f"{path}: windows of {n} samples, the model expects {window.length}")
        return WindowStream(str(path), read, m, n_channels, window.length, None, target_fs, dtype)
    return WindowStream(str(path), read, n, n_channels, window.length, window.step, target_fs, dtype)


def _same(array: np.ndarray) -> np.ndarray:
    return array


def _as_row(array: np.ndarray) -> np.ndarray:
    return array[None, :]


def _transposed(array: np.ndarray) -> np.ndarray:
    return array.T


def open_windows(path: str | Path, channels: list[str], fs: float | None, target_fs: float, window: WindowConfig,
                 read_in_memory: Callable[[], tuple[np.ndarray, float]], mmap: bool = True) -> WindowStream:
    """The windows of the recording at ``path``: memory-mapped (and checked for NaN/Inf here) for a .npy file when
    ``mmap`` and :func:`npy_windows` takes it, else from ``read_in_memory()`` (a checked signal or window array and
    its rate: ``read_signal``, which reports every problem with the file)."""
    path = Path(path)
    stream = npy_windows(path, len(channels), fs, target_fs, window) if mmap and path.suffix.lower() == ".npy" and path.is_file() else None
    if stream is not None:
        stream.check()
        return stream
    signal, rate = read_in_memory()
    return array_windows(signal, window, str(path), rate)
