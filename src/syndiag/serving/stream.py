"""The windows of a user's recording for a model, cut on demand in blocks, so that a long recording is diagnosed in bounded
memory: :func:`open_input` reads the file for what the model needs (:func:`syndiag.data.model_input.read_input`, the one
reader) and returns its windows, each source giving ``count``, ``batches(size, names)`` (:class:`WindowBatch` blocks),
``start_seconds`` and ``window_seconds`` to the one window loop (:func:`syndiag.serving.diagnosis.diagnose`).

A :class:`WindowStream` (channels at one rate: Syn-Diag cloud and edge) cuts any run of windows on request: from a
signal (channels, n) every ``window.step`` samples, or from a file of windows (m, channels, length). A ``.npy`` file is
read through a memory map (``np.load(mmap_mode="r")``) opened afresh for each block, so neither the file nor its windows
are ever resident as a whole. :class:`EndingWindows` (a sensor model's layout, every channel at its own rate) cuts them as
training cut them: window ``k`` ends at ``(k * step + length) / fs`` on the clock of the data config (``data.window``,
the checkpoint's ``fs``), every channel's window ends at that instant (:func:`syndiag.data.windowing.take_ending`), and
the spectrogram stacks the ``data.cwru.channels`` windows as the prepared dataset does. A channel the file lacks is
marked absent (and its spectrogram band hidden) when the checkpoint was trained with modality dropout, else refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from syndiag.config.data import DataConfig, WindowConfig
from syndiag.data.model_input import ModelInput, read_input
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.data.windowing import take_ending
from syndiag.errors import DataError
from syndiag.models.meta import CheckpointMeta
from syndiag.serving.predictor import WindowBatch
from syndiag.serving.sensor_plan import SensorCheckpoint, read_sensor_checkpoint

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

    def batches(self, size: int, names: Sequence[str]) -> Iterator[tuple[int, WindowBatch]]:
        """(first window index, the windows of channels ``names``) for consecutive blocks of at most ``size`` windows."""
        for start, block in self.blocks(size):
            yield start, WindowBatch.of_array(block, list(names))

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
    its rate, from the one reader, which reports every problem with the file)."""
    path = Path(path)
    stream = npy_windows(path, len(channels), fs, target_fs, window) if mmap and path.suffix.lower() == ".npy" and path.is_file() else None
    if stream is not None:
        stream.check()
        return stream
    signal, rate = read_in_memory()
    return array_windows(signal, window, str(path), rate)


def window_ends(found: ModelInput, plan: SensorCheckpoint) -> np.ndarray:
    """End instants (s) of the windows, every ``data.window.step`` samples on the clock at the checkpoint's rate; the
    first once the longest vibration channel's window of the layout is whole (a long-window model is never fed padding)."""
    window = plan.data.window
    kinds = {spec.name: spec for spec in plan.layout}
    timed = [name for name in found.channels if kinds[name].kind == "vibration"] or list(found.channels)
    seconds = max(found.channels[name].size / float(kinds[name].fs) for name in timed)
    samples = math.floor(seconds * plan.fs + 1e-6)
    first = max([window.length] + [math.ceil(spec.seconds * plan.fs - 1e-6) for spec in plan.layout if spec.kind == "vibration"])
    if samples < first:
        raise DataError(f"{found.source}: {seconds:.4g} s of samples, shorter than one window of {first} samples at {plan.fs:g} Hz")
    count = (samples - first) // window.step + 1
    return (np.arange(count) * window.step + first) / plan.fs


def cut_block(found: ModelInput, plan: SensorCheckpoint, ends: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """Every layout channel's window ending at each of ``ends``, the present mask (m, channels) and the RGB spectrograms."""
    signals, present = {}, np.zeros((ends.size, len(plan.layout)), dtype=bool)
    for column, spec in enumerate(plan.layout):
        if spec.name in found.channels:
            signals[spec.name], present[:, column], _ = take_ending(found.channels[spec.name], float(spec.fs), 0.0, ends, spec.length)
        else:
            signals[spec.name] = np.zeros((ends.size, spec.length), dtype=np.float32)
    if plan.grid is None:
        return signals, present, None
    length = plan.data.window.length
    bands = {name: take_ending(found.channels[name], plan.fs, 0.0, ends, length)[0] for name in plan.stacked if name in found.channels}
    # a missing channel's band repeats a present one (so the image's scaling is that of real data); its tokens are hidden
    stand_in = next(iter(bands.values()), np.zeros((ends.size, length), dtype=np.float32))
    stacked = np.stack([bands.get(name, stand_in) for name in plan.stacked], axis=1)
    spectrogram = plan.data.spectrogram
    return signals, present, to_rgb(spectrogram_images(stacked, spectrogram), spectrogram.colormap)


class EndingWindows:
    """The windows of a recording read for a sensor model's layout, each channel's ending at one instant (module docstring)."""

    def __init__(self, found: ModelInput, plan: SensorCheckpoint) -> None:
        self.found, self.plan, self.source = found, plan, found.source
        self.ends = window_ends(found, plan)
        self.count = self.ends.size
        self.window_seconds = float(self.ends[0])  # each window spans [k * step, k * step + the first end]
        self.step_seconds = plan.data.window.step / plan.fs

    def start_seconds(self, index: np.ndarray | int) -> np.ndarray:
        return np.asarray(index) * self.step_seconds

    def batches(self, size: int, names: Sequence[str] = ()) -> Iterator[tuple[int, WindowBatch]]:
        """(first window index, every layout channel's windows, present mask and spectrograms) per block of ``size``."""
        step = max(1, size)
        for first in range(0, self.count, step):
            yield first, WindowBatch(*cut_block(self.found, self.plan, self.ends[first : first + step]))


def check_full_band(file: str | Path, folder: str | Path, layout, recorded_hz: dict[str, float]) -> None:
    """A model with the spectrum path reads each vibration channel's spectrum up to the layout's Nyquist frequency: a
    channel recorded slower holds nothing up there, so it is refused (DataError naming file, channel and rates)."""
    for spec in layout:
        rate = recorded_hz.get(spec.name)
        if spec.kind == "vibration" and rate is not None and rate < float(spec.fs) * (1 - 1e-6):
            raise DataError(f"{file}: channel {spec.name} was recorded at {rate:g} Hz and reaches {rate / 2:g} Hz; {folder} reads "
                            f"its spectrum up to {float(spec.fs) / 2:g} Hz (the spectrum path): record at {float(spec.fs):g} Hz or more")


def open_input(file: str | Path, folder: str | Path, meta: CheckpointMeta, fs: float | None = None,
               channels: str | list[str | int] | None = None) -> WindowStream | EndingWindows:
    """The windows of ``file`` for the model in ``folder`` (its description ``meta``), read and checked before the model
    loads: a layout channel by channel, else the channels at the model's rate (a .npy recording it reads as it stands
    memory-mapped; ``channels``: the file's channels to read for the model's, ``--channels``)."""
    if meta.layout is not None:
        plan = read_sensor_checkpoint(folder, meta.to_dict())
        resample_to = plan.data.cwru.target_fs if plan.data.dataset == "cwru" else None
        found = read_input(Path(file), plan.layout, fs, channels, layout=True, resample_to=resample_to)
        if (meta.extra("config") or {}).get("spectral_path"):
            check_full_band(file, folder, plan.layout, found.recorded_hz)
        if found.missing and plan.dropout <= 0:
            raise DataError(f"{file}: lacks channel(s) {', '.join(found.missing)} of the sensor model's layout "
                            f"({', '.join(s.describe() for s in plan.layout)}); {folder} was trained without modality dropout, "
                            "so it cannot diagnose without them. Give a recording with every channel, or name them with --channels")
        return EndingWindows(found, plan)
    window = DataConfig.from_dict(meta.data, source=str(folder)).window
    return open_windows(file, meta.channels, fs, meta.fs, window, mmap=channels is None,
                        read_in_memory=lambda: (read_input(Path(file), meta.needs.channels, fs, channels).uniform, meta.fs))
