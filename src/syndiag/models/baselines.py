"""Baselines a practitioner tries first, on the same windows and splits as Syn-Diag."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier


def log_spectrum(windows: np.ndarray) -> np.ndarray:
    """Log-magnitude spectrum of each channel of windows (n, channels, length), concatenated: (n, channels * bins)."""
    windows = np.asarray(windows, dtype=np.float64)
    windows = windows - windows.mean(axis=-1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(windows * np.hanning(windows.shape[-1]), axis=-1))
    return np.log(spectrum + 1e-8).reshape(len(windows), -1)


class LogSpectrumNearestNeighbour:
    """1-nearest-neighbour on log-magnitude spectra (Euclidean): no training, no language model."""

    def __init__(self, neighbours: int = 1) -> None:
        self.classifier = KNeighborsClassifier(n_neighbors=neighbours)

    def fit(self, windows: np.ndarray, labels: np.ndarray) -> "LogSpectrumNearestNeighbour":
        self.classifier.fit(log_spectrum(windows), labels)
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.classifier.predict(log_spectrum(windows))
