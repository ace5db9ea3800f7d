"""Fitting the discriminant spectrum path: on the labelled multi-condition pool (with noisy copies), its number of
components chosen on a held-out half of that pool; then one prototype per class of the support windows."""

from __future__ import annotations

import numpy as np

from syndiag.config.spectral import SpectralPathConfig
from syndiag.data.noise import add_white_noise
from syndiag.models.spectral_discriminant import PrototypeHead, SpectralDiscriminant, SpectralPath
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view


def with_noisy_copies(windows: np.ndarray, labels: np.ndarray, rpm, config: SpectralPathConfig, rng: np.random.Generator):
    """The windows, then ``config.noise_copies`` copies of each with white noise at SNRs drawn from ``config.noise_snr_db``."""
    low, high = config.noise_snr_db
    copies = [add_white_noise(windows, rng.uniform(low, high, len(windows)), rng) for _ in range(config.noise_copies)]
    repeat = 1 + config.noise_copies
    rpm = None if rpm is None else np.tile(np.broadcast_to(np.asarray(rpm, dtype=np.float64), (len(windows),)), repeat)
    return np.concatenate([np.asarray(windows, dtype=np.float32), *copies]), np.tile(labels, repeat), rpm


def halves(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alternate windows of every (class, group) pair: two halves, each holding every pair that has two windows."""
    first = np.zeros(len(labels), dtype=bool)
    for key in set(zip(labels.tolist(), groups.tolist())):
        members = np.flatnonzero((labels == key[0]) & (groups == key[1]))
        first[members[::2]] = True
    return np.flatnonzero(first), np.flatnonzero(~first)


def fit_spectral_path(windows: np.ndarray, labels: np.ndarray, groups: np.ndarray, fs: float, config: SpectralPathConfig,
                      seed: int, rpm=None) -> SpectralPath:
    """Fit on the pool (windows, labels; ``groups`` its operating conditions), choosing the components on a held-out half:
    prototypes of one half's (clean and noisy) windows score the other half, clean and at ``validation_snr_db``."""
    windows, labels = np.asarray(windows), np.asarray(labels)
    rpm_all = None if rpm is None else np.broadcast_to(np.asarray(rpm, dtype=np.float64), (len(windows),))
    grid = SpectrumGrid.for_windows(fs, windows.shape[-1], config.order_view, 1800.0 if rpm_all is None else float(rpm_all.max()))
    fit_part, held = halves(labels, np.asarray(groups))
    rng = np.random.default_rng([seed, 5151])
    train_w, train_y, train_rpm = with_noisy_copies(windows[fit_part], labels[fit_part], None if rpm_all is None else rpm_all[fit_part], config, rng)
    train_x = spectrum_view(train_w, fs, grid, train_rpm)
    held_rpm = None if rpm_all is None else rpm_all[held]
    noisy_held = add_white_noise(windows[held], config.validation_snr_db, rng)
    held_x = [spectrum_view(windows[held], fs, grid, held_rpm), spectrum_view(noisy_held, fs, grid, held_rpm)]
    n_classes = int(labels.max()) + 1
    scores = {}
    for components in sorted(set(config.components)):
        discriminant = SpectralDiscriminant.fit(train_x, train_y, components, seed)
        head = PrototypeHead.fit(discriminant.transform(train_x), train_y, n_classes)
        scores[components] = float(np.mean([np.mean(head.predict(discriminant.transform(x)) == labels[held]) for x in held_x]))
    best = max(scores, key=lambda c: (scores[c], -c))
    all_w, all_y, all_rpm = with_noisy_copies(windows, labels, rpm_all, config, rng)
    discriminant = SpectralDiscriminant.fit(spectrum_view(all_w, fs, grid, all_rpm), all_y, best, seed)
    return SpectralPath(grid, discriminant, best, scores)


def fit_prototypes(path: SpectralPath, windows: np.ndarray, labels: np.ndarray, n_classes: int, fs: float, config: SpectralPathConfig,
                   seed: int, rpm=None) -> PrototypeHead:
    """One prototype per class from the support windows and their noisy copies."""
    rng = np.random.default_rng([seed, 6262])
    support, support_y, support_rpm = with_noisy_copies(np.asarray(windows), np.asarray(labels), rpm, config, rng)
    return PrototypeHead.fit(path.features(support, fs, support_rpm, "the support windows"), support_y, n_classes)
