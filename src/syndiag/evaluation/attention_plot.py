"""Attention map of the sensor model's fusion adapter (LLaVA-for-Sensors article, 'Interpretability'): which sensor,
which time patch and which spectrogram band its queries read.

The adapter's cross-attention (heads x queries x keys, for one window or a batch) is averaged over every axis but
the keys, so each key's value is its share of the attention (the shares of all keys sum to 1). Time-series keys
are drawn as a channel x time-patch grid aligned at the window's end (channels at lower rates have fewer, longer
patches); frequency tokens of the channels as a channel x frequency-band grid; spectrogram keys as their token grid (rows: frequency bands, the image's top row first: the highest
frequencies; columns: time); image keys likewise. One colour scale for every panel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from syndiag.errors import DataError
from syndiag.evaluation.metrics import save_figure_png

SPECTROGRAM_CHANNEL = -1
IMAGE_CHANNEL = -2
"""``token_channel`` codes of non-series keys, as ``models/fusion_adapter.py`` sets them (not imported: no torch here)."""


def _array(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)


def attention_per_key(attention) -> np.ndarray:
    """(..., T) attention weights -> (T,) mean over heads, queries and windows."""
    weights = _array(attention).astype(np.float64)
    if weights.ndim < 1 or weights.shape[-1] == 0:
        raise DataError(f"attention must end with a keys axis, got shape {weights.shape}")
    if not np.isfinite(weights).all():
        raise DataError("attention holds NaN or infinite values")
    return weights.reshape(-1, weights.shape[-1]).mean(0)


def _seconds(value: float) -> str:
    return f"{value * 1e3:.1f} ms" if abs(value) < 1.0 else f"{value:.2f} s"


def _token_grid(weights: np.ndarray) -> np.ndarray:
    side = math.isqrt(weights.size)
    return weights.reshape(side, side) if side * side == weights.size else weights[None, :]


def series_matrix(weights: np.ndarray, channel: np.ndarray, time_s: np.ndarray, n_channels: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(n_channels, most patches) shares, right-aligned at the window's end (NaN where a channel has no patch), and each row's times."""
    rows = [np.flatnonzero(channel == c) for c in range(n_channels)]
    rows = [r[np.argsort(time_s[r], kind="stable")] for r in rows]
    width = max((r.size for r in rows), default=0)
    matrix = np.full((n_channels, max(width, 1)), np.nan)
    for c, r in enumerate(rows):
        if r.size:
            matrix[c, width - r.size:] = weights[r]
    return matrix, [time_s[r] for r in rows]


def frequency_matrix(weights: np.ndarray, channel: np.ndarray, freq_hz: np.ndarray, n_channels: int) -> tuple[np.ndarray, float]:
    """(n_channels, most bands) shares of the frequency tokens, lowest band first (NaN where a channel has fewer), top frequency."""
    rows = [np.flatnonzero((channel == c) & np.isfinite(freq_hz)) for c in range(n_channels)]
    rows = [r[np.argsort(freq_hz[r], kind="stable")] for r in rows]
    matrix = np.full((n_channels, max(max((r.size for r in rows), default=0), 1)), np.nan)
    for c, r in enumerate(rows):
        matrix[c, : r.size] = weights[r]
    finite = freq_hz[np.isfinite(freq_hz)]
    return matrix, float(finite.max()) if finite.size else 0.0


def write_attention_png(attention, token_channel, token_time_s, channel_names: Sequence[str], path: str | Path, title: str,
                        token_freq_hz=None) -> Path:
    """PNG of the adapter's attention per channel x time patch, per channel x frequency band when there are frequency tokens
    (``token_freq_hz`` finite), plus spectrogram (and image) tokens when there are any; written atomically."""
    weights = attention_per_key(attention)
    channel = _array(token_channel).astype(np.int64).ravel()
    time_s = _array(token_time_s).astype(np.float64).ravel()
    freq_hz = np.full(time_s.shape, np.nan) if token_freq_hz is None else _array(token_freq_hz).astype(np.float64).ravel()
    names = list(channel_names)
    if not channel.size == time_s.size == freq_hz.size == weights.size:
        raise DataError(f"attention has {weights.size} keys but token_channel {channel.size}, token_time_s {time_s.size} "
                        f"and token_freq_hz {freq_hz.size}")
    bad = np.flatnonzero((channel >= len(names)) | (channel < IMAGE_CHANNEL))
    if bad.size:
        raise DataError(f"token_channel[{bad[0]}] = {channel[bad[0]]} is neither a channel of {names} nor -1 (spectrogram) / -2 (image)")
    frequency = (channel >= 0) & np.isfinite(freq_hz)
    series = (channel >= 0) & ~frequency
    if not series.any():
        raise DataError("no time-series key to draw (every token_channel is negative)")
    if not np.isfinite(time_s[series]).all():
        raise DataError("token_time_s must be finite for the time-series keys")
    matrix, row_times = series_matrix(weights, np.where(series, channel, -1), time_s, len(names))
    extras = []
    if frequency.any():
        bands, top_hz = frequency_matrix(weights, np.where(frequency, channel, -1), freq_hz, len(names))
        extras.append((f"frequency tokens (columns: bands from 0 Hz to {top_hz:,.0f} Hz)", bands, names))
    extras += [(label, _token_grid(weights[channel == code]), None) for code, label in
               ((SPECTROGRAM_CHANNEL, "spectrogram tokens (rows: frequency bands, highest first; columns: time)"),
                (IMAGE_CHANNEL, "image tokens")) if (channel == code).any()]
    top = max([float(np.nanmax(matrix))] + [float(np.nanmax(grid)) for _, grid, _ in extras]) or 1.0
    heights = [max(len(names), 2)] + [max(grid.shape[0], 2) for _, grid, _ in extras]
    figure = Figure(figsize=(9, 1.2 + 0.45 * sum(heights)), layout="constrained")
    axes = figure.subplots(len(heights), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    shares = {"sensors": float(weights[series].sum())}
    if frequency.any():
        shares["frequency tokens"] = float(weights[frequency].sum())
    shares.update({label: float(weights[channel == code].sum()) for code, label in ((SPECTROGRAM_CHANNEL, "spectrogram"), (IMAGE_CHANNEL, "images"))
                   if (channel == code).any()})
    figure.suptitle(f"{title}\nattention share: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()), fontsize=10)
    cmap = colormaps["viridis"].with_extremes(bad="#dddddd")
    image = axes[0].imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
    labels = []
    for name, times, row in zip(names, row_times, matrix):
        span = "no tokens" if not times.size else f"at {_seconds(times[0])}" if times.size == 1 else f"{_seconds(times[0])} to {_seconds(times[-1])}"
        labels.append(f"{name} ({np.nansum(row):.0%})\n{span}")
    axes[0].set_yticks(range(len(names)), labels, fontsize=8)
    width = matrix.shape[1]
    ticks = sorted({width - 1 - k for k in range(0, width, max(1, width // 8))})
    axes[0].set_xticks(ticks, [str(t - (width - 1)) for t in ticks])
    axes[0].set_xlabel("time patch (0: the patch ending at the window's end; the row labels give patch-centre times)")
    for ax, (label, grid, rows) in zip(axes[1:], extras):
        ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        rows = rows or ([f"band {r + 1}" for r in range(grid.shape[0])] if grid.shape[0] > 1 else [""])
        ax.set_yticks(range(grid.shape[0]), rows, fontsize=7)
    figure.colorbar(image, ax=list(axes), label="share of attention", shrink=0.9)
    return save_figure_png(figure, path)
