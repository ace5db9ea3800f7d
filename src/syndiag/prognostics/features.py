"""Health indicators of each vibration snapshot (issue 16; IEEE PHM 2012 practice): time-domain, band energies, spectral shape.

Per axis (``h`` horizontal, ``v`` vertical): log RMS, log kurtosis, log peak, log crest factor (time domain, as
:func:`syndiag.prognostics.health.time_features`); the log mean power of the Hann-windowed spectrum in ``bands``
equal-width bands from 0 Hz to Nyquist; the spectral centroid in kHz and the normalised spectral entropy (0: one line,
1: white). Logs make the exponential growth of a degrading bearing a straight line, which the trend models and the
regression both use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.errors import DataError
from syndiag.prognostics.health import time_features

AXES = ("h", "v")
DEFAULT_BANDS = 8
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class FeatureTable:
    """One row per snapshot, one column per named health feature."""

    names: list[str]
    values: np.ndarray

    def column(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise DataError(f"no health feature {name!r}; known: {', '.join(self.names)}")
        return self.values[:, self.names.index(name)]


def feature_names(bands: int = DEFAULT_BANDS) -> list[str]:
    per_axis = ["log_rms", "log_kurtosis", "log_peak", "log_crest", *(f"band{b}" for b in range(bands)), "centroid_khz", "entropy"]
    return [f"{axis}_{name}" for axis in AXES for name in per_axis]


def spectral_features(x: np.ndarray, fs: float, bands: int = DEFAULT_BANDS) -> np.ndarray:
    """Per row of ``x`` (n, samples): ``bands`` log band powers, the centroid (kHz) and the normalised entropy: (n, bands + 2)."""
    x = np.asarray(x, dtype=np.float64)
    if bands < 1:
        raise DataError(f"bands must be at least 1, got {bands}")
    power = np.abs(np.fft.rfft((x - x.mean(axis=1, keepdims=True)) * np.hanning(x.shape[1]), axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / fs)
    edges = np.linspace(0.0, fs / 2, bands + 1)
    which = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, bands - 1)
    band_power = np.stack([power[:, which == b].mean(axis=1) for b in range(bands)], axis=1)
    total = power.sum(axis=1, keepdims=True)
    share = power / np.maximum(total, LOG_FLOOR)
    centroid = (share * freqs).sum(axis=1) / 1000.0
    entropy = -(share * np.log(np.maximum(share, LOG_FLOOR))).sum(axis=1) / np.log(power.shape[1])
    return np.column_stack([np.log(band_power + LOG_FLOOR), centroid, entropy])


def snapshot_features(horizontal: np.ndarray, vertical: np.ndarray, fs: float, bands: int = DEFAULT_BANDS) -> FeatureTable:
    """Health features of snapshots given as (n, samples) arrays per axis."""
    columns = []
    for x in (horizontal, vertical):
        found = time_features(x)
        logs = [np.log(np.maximum(found[key], LOG_FLOOR)) for key in ("rms", "kurtosis", "peak", "crest")]
        columns.append(np.column_stack([*logs, spectral_features(x, fs, bands)]))
    return FeatureTable(feature_names(bands), np.concatenate(columns, axis=1))


def indicator(table: FeatureTable, name: str) -> np.ndarray:
    """A one-number health indicator from the features: ``rms`` (quadratic mean of both axes), ``peak`` (the larger |x| of
    the two axes, the challenge's 20 g failure criterion) or ``kurtosis`` (the larger), in their own units (g, g, -)."""
    h, v = (np.exp(table.column(f"{axis}_log_{name}")) for axis in AXES) if name in ("rms", "peak", "kurtosis") else (None, None)
    if h is None:
        raise DataError(f"unknown health indicator {name!r}; known: rms, peak, kurtosis")
    return np.sqrt((h**2 + v**2) / 2) if name == "rms" else np.maximum(h, v)
