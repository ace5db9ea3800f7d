"""White Gaussian noise at a given SNR: the robustness column of fault-diagnosis benchmarks and noise-augmented training sets."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from syndiag.config.data import SpectrogramConfig
from syndiag.data.prepare import PreparedDataset
from syndiag.data.spectrogram import spectrogram_images
from syndiag.errors import DataError


def add_white_noise(windows: np.ndarray, snr_db: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Windows (n, channels, length) plus Gaussian noise of power P_signal / 10^(snr/10), per window and channel.

    ``snr_db`` is one SNR for every window or one per window (shape (n,)).
    """
    windows = np.asarray(windows, dtype=np.float64)
    snr_db = np.asarray(snr_db, dtype=np.float64)
    if not np.all(np.isfinite(snr_db)):
        raise DataError(f"SNR must be a finite number of dB, got {snr_db.tolist()}")
    if snr_db.ndim == 1:
        if snr_db.size != len(windows):
            raise DataError(f"one SNR per window expected: {snr_db.size} SNRs for {len(windows)} windows")
        snr_db = snr_db[:, None, None]
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
    return _with_windows(dataset, indices, windows, {"snr_db": snr_db})


def noise_augmented(dataset: PreparedDataset, indices: np.ndarray, snr_range_db: tuple[float, float], seed: int) -> PreparedDataset:
    """The windows at ``indices``, then one noisy copy of each at an SNR drawn uniformly from ``snr_range_db``: a training set.

    Training with noisy copies of the support set is how fault-diagnosis papers make a classifier hold up under noise.
    The draws depend only on ``seed`` and are independent of the test-time noise of :func:`noisy_subset`.
    """
    low, high = snr_range_db
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise DataError(f"training SNR range must be two finite dB values, low <= high; got {snr_range_db}")
    indices = np.asarray(indices)
    rng = np.random.default_rng([seed, 7331])
    clean = np.asarray(dataset.windows[indices], dtype=np.float32)
    snrs = rng.uniform(low, high, size=len(indices))
    windows = np.concatenate([clean, add_white_noise(clean, snrs, rng)])
    return _with_windows(dataset, np.concatenate([indices, indices]), windows, {"train_snr_db": [float(low), float(high)]})


def _with_windows(dataset: PreparedDataset, indices: np.ndarray, windows: np.ndarray, extra: dict) -> PreparedDataset:
    """A dataset of len(indices): the metadata of the windows at ``indices``, ``windows`` in their place, spectrograms recomputed."""
    spectrogram = SpectrogramConfig.model_validate(dataset.meta["config"]["spectrogram"])
    return replace(
        dataset, path=dataset.path, colormap_indices=spectrogram_images(windows, spectrogram), windows=windows,
        labels=np.asarray(dataset.labels[indices]), conditions=np.asarray(dataset.conditions[indices]),
        split=np.asarray(dataset.split[indices]), recording=np.asarray(dataset.recording[indices]),
        starts=np.asarray(dataset.starts[indices]), from_cache=False, extra={**dataset.extra, **extra},
    )
