"""White Gaussian noise at a given SNR on test windows: the robustness column of fault-diagnosis benchmarks."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from syndiag.data.config import SpectrogramConfig
from syndiag.data.prepare import PreparedDataset
from syndiag.data.spectrogram import spectrogram_images
from syndiag.errors import DataError


def add_white_noise(windows: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Windows (n, channels, length) plus Gaussian noise of power P_signal / 10^(snr/10), per window and channel."""
    if not math.isfinite(snr_db):
        raise DataError(f"SNR must be a finite number of dB, got {snr_db}")
    windows = np.asarray(windows, dtype=np.float64)
    power = np.mean(windows**2, axis=-1, keepdims=True)
    noise = rng.standard_normal(windows.shape) * np.sqrt(power / 10 ** (snr_db / 10))
    return (windows + noise).astype(np.float32)


def noisy_subset(dataset: PreparedDataset, indices: np.ndarray, snr_db: float, seed: int) -> PreparedDataset:
    """The windows at ``indices`` with white noise at ``snr_db``, their spectrograms recomputed, as a dataset of len(indices).

    The noise depends only on ``seed`` and the SNR, so every method is tested on the same noisy windows.
    """
    indices = np.asarray(indices)
    rng = np.random.default_rng([seed, int(round(snr_db * 100)) + 10_000, 4242])
    windows = add_white_noise(np.asarray(dataset.windows[indices]), snr_db, rng)
    spectrogram = SpectrogramConfig.model_validate(dataset.meta["config"]["spectrogram"])
    return replace(
        dataset, path=dataset.path, images=spectrogram_images(windows, spectrogram), windows=windows,
        labels=np.asarray(dataset.labels[indices]), conditions=np.asarray(dataset.conditions[indices]),
        split=np.asarray(dataset.split[indices]), recording=np.asarray(dataset.recording[indices]),
        starts=np.asarray(dataset.starts[indices]), from_cache=False, extra={**dataset.extra, "snr_db": snr_db},
    )
