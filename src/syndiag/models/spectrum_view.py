"""The full-resolution log power spectrum of each channel on a grid in Hz (LLaVA-for-Sensors article, 'time-series
encoder': what the log-spectrum nearest neighbour compares, kept whole for the heads).

A window's spectrum is read on a fixed frequency grid in Hz, not in FFT bins, so a channel recorded at 12 kHz and one at
48 kHz (or a longer window) put the same physics at the same place; the grid stops at the lowest Nyquist the model was
made for, and a recording that cannot reach it is refused. Each channel's mean log power is removed (gain of the
recording chain); the order view reads the same spectrum on an axis of multiples of the shaft speed.

The grid's step sets the resolution, and with it a segment of ``fs / step_hz`` samples: a window longer than that is
read as the Welch average of its Hann segments at 50 % overlap (article, 'long high-frequency time series'), so a 1 s
window costs a few 43 ms segments' FFTs, linear in its length, and lands on the same grid as a short one. A window
shorter than one and a half segments is read whole, as before."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from syndiag.errors import DataError

LOG_FLOOR = 1e-12
WELCH_CHUNK = 1 << 21
"""Samples of windows read into one block of Welch segments (bounds the memory of long windows)."""


@dataclass(frozen=True)
class SpectrumGrid:
    """Where a spectrum is read: ``bins`` points from 0 Hz in steps of ``step_hz``; ``order_bins`` orders from
    ``order_step`` when the order view is on (0: off)."""

    step_hz: float
    bins: int
    order_step: float = 0.0
    order_bins: int = 0

    @classmethod
    def for_windows(cls, fs: float, length: int, order_view: bool = False, max_rpm: float = 1800.0,
                    segment: int | None = None) -> "SpectrumGrid":
        """The FFT grid of ``segment``-sample segments (default: the whole ``length``-sample window) at ``fs`` Hz; the
        order view from order 0 up to the orders that the same top frequency holds at ``max_rpm``."""
        if segment is not None and not 16 <= segment <= length:
            raise DataError(f"spectrum segment of {segment} samples: it must be from 16 samples up to the window's {length}")
        segment = length if segment is None else int(segment)
        step = fs / segment
        bins = segment // 2 + 1
        if not order_view:
            return cls(step, bins)
        top_order = (bins - 1) * step / (max_rpm / 60)
        return cls(step, bins, top_order / (bins - 1), bins)

    @property
    def top_hz(self) -> float:
        return (self.bins - 1) * self.step_hz

    @property
    def frequencies(self) -> np.ndarray:
        return np.arange(self.bins) * self.step_hz

    def segment(self, fs: float) -> int:
        """Samples at ``fs`` of one segment at the grid's resolution (its FFT's step is the grid's step)."""
        return max(2, int(round(fs / self.step_hz)))

    def to_dict(self) -> dict[str, float | int]:
        return {"step_hz": self.step_hz, "bins": self.bins, "order_step": self.order_step, "order_bins": self.order_bins}


def log_power(windows: np.ndarray, segment: int | None = None) -> np.ndarray:
    """Log power spectrum of each channel of windows (n, channels, length) with a Hann window, (n, channels, segment//2 + 1):
    of the whole window when ``segment`` is None or not shorter, else the Welch average of its ``segment``-sample Hann
    segments at 50 % overlap (each segment's mean removed; samples after the last whole segment left out)."""
    windows = np.asarray(windows)
    length = windows.shape[-1]
    if segment is None or segment >= length:
        windows = np.asarray(windows, dtype=np.float64)
        windows = windows - windows.mean(axis=-1, keepdims=True)
        spectrum = np.fft.rfft(windows * np.hanning(length), axis=-1)
        return np.log(np.abs(spectrum) ** 2 + LOG_FLOOR)
    hop = max(1, segment // 2)
    taper = np.hanning(segment)
    out = np.empty(windows.shape[:-1] + (segment // 2 + 1,))
    rows = max(1, WELCH_CHUNK // (windows[0].size or 1))
    for first in range(0, len(windows), rows):
        pieces = np.lib.stride_tricks.sliding_window_view(windows[first:first + rows], segment, axis=-1)[..., ::hop, :]
        pieces = np.asarray(pieces, dtype=np.float64)
        pieces = pieces - pieces.mean(axis=-1, keepdims=True)
        power = np.abs(np.fft.rfft(pieces * taper, axis=-1)) ** 2
        out[first:first + rows] = np.log(power.mean(axis=-2) + LOG_FLOOR)
    return out


def interpolate(values: np.ndarray, source_hz: np.ndarray, target_hz: np.ndarray) -> np.ndarray:
    """Linear interpolation of (..., len(source_hz)) along the last axis at ``target_hz``."""
    flat = values.reshape(-1, values.shape[-1])
    index = np.clip(np.searchsorted(source_hz, target_hz) - 1, 0, len(source_hz) - 2)
    left, right = source_hz[index], source_hz[index + 1]
    weight = np.clip((target_hz - left) / (right - left), 0.0, 1.0)
    out = flat[:, index] * (1 - weight) + flat[:, index + 1] * weight
    return out.reshape(values.shape[:-1] + (len(target_hz),))


def spectrum_view(windows: np.ndarray, fs: float, grid: SpectrumGrid, rpm: float | np.ndarray | None = None,
                  source: str = "the windows") -> np.ndarray:
    """Windows (n, channels, length) at ``fs`` -> features (n, channels * (bins + order_bins)): each channel's log power
    minus its mean on the grid in Hz, then (with the order view) the same on the grid in orders of ``rpm``."""
    windows = np.asarray(windows)
    if windows.ndim != 3:
        raise DataError(f"{source}: windows must be (n, channels, length), got shape {windows.shape}")
    if not np.all(np.isfinite(windows)):
        raise DataError(f"{source}: the windows hold NaN or infinite samples")
    nyquist = fs / 2
    if grid.top_hz > nyquist * (1 + 1e-9):
        raise DataError(f"{source}: sampled at {fs:g} Hz, which reaches {nyquist:g} Hz; the model reads spectra up to "
                        f"{grid.top_hz:g} Hz (record at {2 * grid.top_hz:g} Hz or more)")
    segment = grid.segment(fs)
    if windows.shape[-1] < segment + segment // 2:  # not two overlapping segments: the whole window, read on the grid
        segment = windows.shape[-1]
    power = log_power(windows, segment)
    source_hz = np.fft.rfftfreq(segment, 1.0 / fs)
    on_grid = interpolate(power, source_hz, grid.frequencies)
    parts = [on_grid - on_grid.mean(axis=-1, keepdims=True)]
    if grid.order_bins:
        parts.append(order_view(power, source_hz, grid, rpm, source))
    return np.concatenate(parts, axis=-1).reshape(len(windows), -1)


def order_view(power: np.ndarray, source_hz: np.ndarray, grid: SpectrumGrid, rpm: float | np.ndarray | None, source: str) -> np.ndarray:
    """The log power (n, channels, bins) on an axis of shaft orders (multiples of rpm / 60), mean removed per channel."""
    if rpm is None:
        raise DataError(f"{source}: the order view needs the shaft speed: declare the rpm or record a speed channel")
    rpm = np.broadcast_to(np.asarray(rpm, dtype=np.float64), (len(power),))
    if not np.all(np.isfinite(rpm) & (rpm > 0)):
        raise DataError(f"{source}: shaft speed must be a positive number of rpm, got {sorted(set(rpm.tolist()))[:4]}")
    orders = np.arange(grid.order_bins) * grid.order_step
    out = np.empty(power.shape[:2] + (grid.order_bins,))
    for speed in np.unique(rpm):
        rows = rpm == speed
        target = orders * speed / 60.0
        if target[-1] > source_hz[-1] * (1 + 1e-9):
            raise DataError(f"{source}: at {speed:g} rpm, order {orders[-1]:.1f} is at {target[-1]:.0f} Hz, beyond the "
                            f"{source_hz[-1]:g} Hz the recording reaches: the model's order axis covers shafts up to "
                            f"{60 * source_hz[-1] / orders[-1]:.0f} rpm at this rate")
        out[rows] = interpolate(power[rows], source_hz, target)
    return out - out.mean(axis=-1, keepdims=True)


def check_grid(raw: dict, source: str) -> SpectrumGrid:
    """A grid read back from a checkpoint, every value checked."""
    try:
        grid = SpectrumGrid(float(raw["step_hz"]), int(raw["bins"]), float(raw.get("order_step", 0.0)), int(raw.get("order_bins", 0)))
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{source}: spectrum grid {raw!r} is not step_hz, bins, order_step, order_bins ({error})") from None
    if not (math.isfinite(grid.step_hz) and grid.step_hz > 0 and grid.bins >= 2 and grid.order_bins >= 0 and grid.order_step >= 0):
        raise DataError(f"{source}: spectrum grid {grid.to_dict()} is out of range")
    return grid
