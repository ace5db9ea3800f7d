"""Fitting the discriminant spectrum path: on the labelled multi-condition pool (with noisy copies), its number of
components chosen on a held-out half of that pool; then one prototype per class of the support windows."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from scipy.signal import resample, resample_poly

from syndiag.config.spectral import SpectralPathConfig
from syndiag.data.noise import add_white_noise
from syndiag.errors import ConfigError
from syndiag.models.spectral_discriminant import PrototypeHead, SpectralDiscriminant, SpectralPath
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view


class SpectrumSource(Protocol):
    """Spectrum features of windows by index, with white noise at a given SNR per window (None: clean); each of its
    ``channels`` holds its spectrum on ``grid`` first in its block of the features."""

    grid: SpectrumGrid
    channels: int

    def features(self, indices: np.ndarray, snr_db: np.ndarray | None, rng: np.random.Generator) -> np.ndarray: ...


class WindowArray:
    """Windows (n, channels, length) at one rate, read through :func:`spectrum_view` on ``grid``."""

    def __init__(self, windows: np.ndarray, fs: float, grid: SpectrumGrid, rpm: np.ndarray | None = None) -> None:
        self.windows, self.fs, self.grid = np.asarray(windows), fs, grid
        self.channels = int(self.windows.shape[1])
        self.rpm = None if rpm is None else np.broadcast_to(np.asarray(rpm, dtype=np.float64), (len(self.windows),))

    def features(self, indices: np.ndarray, snr_db: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        windows = self.windows[indices]
        if snr_db is not None:
            windows = add_white_noise(windows, snr_db, rng)
        return spectrum_view(windows, self.fs, self.grid, None if self.rpm is None else self.rpm[indices])

    def scaled(self, indices: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Features of the windows, each time-scaled by its factor (:func:`time_scaled`, to the nearest whole length)."""
        windows, rpm = self.windows[indices], None if self.rpm is None else self.rpm[indices]
        lengths = np.rint(windows.shape[-1] / np.asarray(factors)).astype(int)
        out = None
        for length in np.unique(lengths):
            rows = lengths == length
            part = spectrum_view(time_scaled(windows[rows], self.fs, int(length)), self.fs, self.grid, None if rpm is None else rpm[rows])
            out = np.empty((len(windows), part.shape[1])) if out is None else out
            out[rows] = part
        return out

    def resampled(self, indices: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Features of the windows resampled to ``factors`` (whole numbers) times their rate and read there."""
        windows, rpm = self.windows[indices], None if self.rpm is None else self.rpm[indices]
        out = None
        for factor in np.unique(factors):
            rows = np.asarray(factors) == factor
            up = resample_poly(np.asarray(windows[rows], dtype=np.float64), int(factor), 1, axis=-1)
            part = spectrum_view(up, self.fs * int(factor), self.grid, None if rpm is None else rpm[rows])
            out = np.empty((len(windows), part.shape[1])) if out is None else out
            out[rows] = part
        return out


def time_scaled(windows: np.ndarray, fs: float, length: int) -> np.ndarray:
    """Windows (n, channels, L) as if the machine ran L / ``length`` times as fast: resampled to ``length`` samples read at
    the same rate, so every line moves by that factor. A slower copy leaves the top of the band empty; there it keeps
    the window's own spectrum (the recorder's anti-alias filter does not move with the speed)."""
    windows = np.asarray(windows, dtype=np.float64)
    original = windows.shape[-1]
    out = resample(windows, length, axis=-1)
    if length <= original:
        return out
    spectrum = np.fft.rfft(out, axis=-1)
    empty = np.arange(original // 2 + 1, length // 2 + 1)
    source = np.minimum(np.rint(empty * original / length).astype(int), original // 2)
    spectrum[..., empty] = np.fft.rfft(windows, axis=-1)[..., source] * (length / original)
    return np.fft.irfft(spectrum, n=length, axis=-1)


def chain_curves(grid: SpectrumGrid, n: int, gain_db: float, rng: np.random.Generator, resonances: int = 2) -> np.ndarray:
    """(n, grid.bins): what a random recording chain adds to a log power spectrum: ``resonances`` peaks (gain up to
    +-``gain_db``, centre anywhere from 200 Hz to the top, Q from 1 to 5), mean removed like the spectrum's own."""
    f = np.maximum(grid.frequencies, 1e-3)[None, None, :]
    gain = rng.uniform(-gain_db, gain_db, (n, resonances, 1)) * np.log(10) / 10
    centre = rng.uniform(200.0, grid.top_hz, (n, resonances, 1))
    q = rng.uniform(1.0, 5.0, (n, resonances, 1))
    curves = (gain / (1 + q**2 * (f / centre - centre / f) ** 2)).sum(axis=1)
    return curves - curves.mean(axis=1, keepdims=True)


def with_chains(source: SpectrumSource, features: np.ndarray, gain_db: float, rng: np.random.Generator) -> np.ndarray:
    """The features with each channel's spectrum seen through its own random chain."""
    blocks = features.reshape(len(features), source.channels, -1).copy()
    for channel in range(source.channels):
        blocks[:, channel, :source.grid.bins] += chain_curves(source.grid, len(features), gain_db, rng)
    return blocks.reshape(len(features), -1)


def with_noisy_copies(source: SpectrumSource, indices: np.ndarray, labels: np.ndarray, config: SpectralPathConfig,
                      rng: np.random.Generator, fill: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features of the windows, then of ``config.noise_copies`` copies of each at SNRs drawn from ``config.noise_snr_db``,
    then ``config.chain_copies`` copies of the clean ones through random recording chains, then the copies of
    :func:`augmented_copies` (``fill``: the mean spectrum an absent channel reads as)."""
    low, high = config.noise_snr_db
    parts = [source.features(indices, None, rng)]
    parts += [source.features(indices, rng.uniform(low, high, len(indices)), rng) for _ in range(config.noise_copies)]
    parts += [with_chains(source, parts[0], config.chain_gain_db, rng) for _ in range(config.chain_copies)]
    parts += augmented_copies(source, indices, parts[0], config, rng, fill)
    return np.concatenate(parts), np.tile(labels, len(parts))


RESAMPLE_FACTORS = (2, 3, 4)
"""The rates, in multiples of the training rate, that resampling copies are read at."""


def augmented_copies(source: SpectrumSource, indices: np.ndarray, clean: np.ndarray, config: SpectralPathConfig,
                     rng: np.random.Generator, fill: np.ndarray | None = None) -> list[np.ndarray]:
    """``config.jitter_copies`` time-scaled copies (speed within +-``jitter_percent``), ``config.resample_copies`` copies
    read at 2-4 times the rate, ``config.dropout_copies`` copies with one channel each read as absent (``fill``; the
    mean of the ``clean`` features when not given). None at the defaults, and then no random draw either."""
    for field, method in (("jitter_copies", "scaled"), ("resample_copies", "resampled")):
        if getattr(config, field) and not hasattr(source, method):
            raise ConfigError(f"spectral.{field}: these copies need the windows' samples; {type(source).__name__} gives spectrum "
                              "features only (set it to 0 for this path)")
    share = config.jitter_percent / 100
    parts = [source.scaled(indices, rng.uniform(1 - share, 1 + share, len(indices))) for _ in range(config.jitter_copies)]
    parts += [source.resampled(indices, rng.choice(RESAMPLE_FACTORS, len(indices))) for _ in range(config.resample_copies)]
    if config.dropout_copies:
        if source.channels < 2:
            raise ConfigError(f"spectral.dropout_copies needs two or more vibration channels, the windows have {source.channels}")
        fill = clean.mean(axis=0) if fill is None else fill
        parts += [with_absent(clean, rng.integers(source.channels, size=len(clean)), fill, source.channels)
                  for _ in range(config.dropout_copies)]
    return parts


def with_absent(features: np.ndarray, absent: np.ndarray, fill: np.ndarray, channels: int) -> np.ndarray:
    """The features with channel ``absent[i]`` of window i read as absent: its block replaced by that block of ``fill`` (the
    mean spectrum, as the sensor model's spectral head reads an absent channel); every other channel's block untouched."""
    blocks = np.array(features, dtype=np.float64).reshape(len(features), channels, -1)
    absent = np.asarray(absent, dtype=int)
    blocks[np.arange(len(blocks)), absent] = np.asarray(fill, dtype=np.float64).reshape(channels, -1)[absent]
    return blocks.reshape(len(features), -1)


def read_with_absent(path: SpectralPath, windows: np.ndarray, fs: float, channel: int, rpm=None) -> np.ndarray:
    """Discriminant features of windows (n, channels, length) whose channel ``channel`` is absent: it reads as the path's
    mean spectrum, the other channels as recorded."""
    view = spectrum_view(np.asarray(windows), fs, path.grid, rpm)
    return path.discriminant.transform(with_absent(view, np.full(len(view), channel), path.discriminant.mean, np.asarray(windows).shape[1]))


def halves(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alternate windows of every (class, group) pair: two halves, each holding every pair that has two windows."""
    first = np.zeros(len(labels), dtype=bool)
    for key in set(zip(labels.tolist(), groups.tolist())):
        members = np.flatnonzero((labels == key[0]) & (groups == key[1]))
        first[members[::2]] = True
    return np.flatnonzero(first), np.flatnonzero(~first)


def fit_discriminant(source: SpectrumSource, indices: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_classes: int,
                     config: SpectralPathConfig, seed: int, unlabelled: np.ndarray | None = None
                     ) -> tuple[SpectralDiscriminant, int, dict[int, float]]:
    """Fit on the pool windows at ``indices`` (their ``labels`` and ``groups``, the operating conditions), choosing the
    components on a held-out half (prototypes of one half's clean and noisy windows score the other half, clean and
    at ``validation_snr_db``), or on each condition left out (``config.components_by``; halves for a pool of one). Returns the discriminant refitted on the whole pool, its components, every score.
    With ``config.labels == "none"`` the projection is fitted on the ``unlabelled`` windows instead (whitened PCA)."""
    if config.labels == "none":
        return fit_unlabelled(source, indices, labels, groups, n_classes, config, seed, unlabelled)
    indices, labels = np.asarray(indices), np.asarray(labels)
    rng = np.random.default_rng([seed, 5151])
    if config.components_by == "other loads" and np.unique(np.asarray(groups)).size > 1:
        scores = other_load_scores(source, indices, labels, np.asarray(groups), n_classes, config, seed, rng)
        scored = 2 * len(indices)
    else:
        fit_part, held = halves(labels, np.asarray(groups))
        train_x, train_y = with_noisy_copies(source, indices[fit_part], labels[fit_part], config, rng)
        held_x = [source.features(indices[held], None, rng),
                  source.features(indices[held], np.full(len(held), config.validation_snr_db), rng)]
        scores = {}
        for components in sorted(set(config.components)):
            discriminant = SpectralDiscriminant.fit(train_x, train_y, components, seed)
            head = PrototypeHead.fit(discriminant.transform(train_x), train_y, n_classes)
            scores[components] = float(np.mean([np.mean(head.predict(discriminant.transform(x)) == labels[held]) for x in held_x]))
        scored = 2 * len(held)
    best = chosen_components(scores, scored, config)
    all_x, all_y = with_noisy_copies(source, indices, labels, config, rng)
    return SpectralDiscriminant.fit(all_x, all_y, best, seed), best, scores


def chosen_components(scores: dict[int, float], scored: int, config: SpectralPathConfig) -> int:
    """The best-scoring number of components, or (``config.components_choice``) the fewest whose score is within one
    standard error of the best one's, sqrt(p (1 - p) / n) over the ``scored`` predictions (the one-standard-error rule,
    Hastie et al., ESL 7.10): a near-tie goes to the simpler discriminant."""
    best = max(scores, key=lambda c: (scores[c], -c))
    if config.components_choice == "best":
        return best
    error = float(np.sqrt(scores[best] * (1 - scores[best]) / max(scored, 1)))
    return min(c for c, score in scores.items() if score >= scores[best] - error)


def other_load_scores(source: SpectrumSource, indices: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_classes: int,
                      config: SpectralPathConfig, seed: int, rng: np.random.Generator) -> dict[int, float]:
    """Each number of components scored leaving one operating condition out at a time: the discriminant and prototypes
    fitted on the other conditions' windows (and their noisy copies) score the left-out one's, clean and at
    ``validation_snr_db``; the mean over conditions. What a model trained at one load meets at another."""
    folds = []
    for condition in np.unique(groups):
        fit_part, held = np.flatnonzero(groups != condition), np.flatnonzero(groups == condition)
        train = with_noisy_copies(source, indices[fit_part], labels[fit_part], config, rng)
        held_x = [source.features(indices[held], None, rng),
                  source.features(indices[held], np.full(len(held), config.validation_snr_db), rng)]
        folds.append((train, held_x, labels[held]))
    scores = {}
    for components in sorted(set(config.components)):
        per_condition = []
        for (train_x, train_y), held_x, truth in folds:
            discriminant = SpectralDiscriminant.fit(train_x, train_y, components, seed)
            head = PrototypeHead.fit(discriminant.transform(train_x), train_y, n_classes)
            per_condition.append(np.mean([np.mean(head.predict(discriminant.transform(x)) == truth) for x in held_x]))
        scores[components] = float(np.mean(per_condition))
    return scores


def fit_unlabelled(source: SpectrumSource, indices: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_classes: int,
                   config: SpectralPathConfig, seed: int, unlabelled: np.ndarray | None) -> tuple[SpectralDiscriminant, int, dict[int, float]]:
    """Whitened principal components of the unlabelled windows (and their noisy copies); the labelled pool's halves only
    score the number of components."""
    if unlabelled is None or len(unlabelled) == 0:
        raise ConfigError("spectral.labels: none needs the unlabelled windows to fit on (every train-half window)")
    indices, labels = np.asarray(indices), np.asarray(labels)
    fit_part, held = halves(labels, np.asarray(groups))
    rng = np.random.default_rng([seed, 5252])
    unlabelled_x, _ = with_noisy_copies(source, np.asarray(unlabelled), np.zeros(len(unlabelled), dtype=int), config, rng)
    support_x = source.features(indices[fit_part], None, rng)
    held_x = [source.features(indices[held], None, rng),
              source.features(indices[held], np.full(len(held), config.validation_snr_db), rng)]
    fitted, scores = {}, {}
    for components in sorted(set(config.components)):
        fitted[components] = SpectralDiscriminant.whitened(unlabelled_x, components, seed)
        head = PrototypeHead.fit(fitted[components].transform(support_x), labels[fit_part], n_classes)
        scores[components] = float(np.mean([np.mean(head.predict(fitted[components].transform(x)) == labels[held]) for x in held_x]))
    best = max(scores, key=lambda c: (scores[c], -c))
    return fitted[best], best, scores


def fit_support(discriminant: SpectralDiscriminant, source: SpectrumSource, indices: np.ndarray, labels: np.ndarray,
                n_classes: int, config: SpectralPathConfig, seed: int) -> PrototypeHead:
    """One prototype per class from the support windows at ``indices`` and their noisy copies."""
    rng = np.random.default_rng([seed, 6262])
    features, support_y = with_noisy_copies(source, np.asarray(indices), np.asarray(labels), config, rng, discriminant.mean)
    return PrototypeHead.fit(discriminant.transform(features), support_y, n_classes)


def fit_spectral_path(windows: np.ndarray, labels: np.ndarray, groups: np.ndarray, fs: float, config: SpectralPathConfig,
                      seed: int, rpm=None, unlabelled: np.ndarray | None = None) -> SpectralPath:
    """The path of labelled windows (n, channels, length) at one rate: its grid, and the discriminant fitted on all of
    them; with ``config.labels == "none"``, on the ``unlabelled`` windows (m, channels, length) after them. With
    ``config.segments``, one path per segment length (the grid's resolution) and the best by its validation score
    (ties: the shortest segment)."""
    windows = np.asarray(windows)
    rpm_all = None if rpm is None else np.broadcast_to(np.asarray(rpm, dtype=np.float64), (len(windows),))
    length = windows.shape[-1]
    labels = np.asarray(labels)
    extra = None
    if unlabelled is not None:
        if rpm_all is not None:
            raise ConfigError("the order view needs each unlabelled window's rpm; fit the unlabelled path without it")
        windows = np.concatenate([windows, np.asarray(unlabelled, dtype=windows.dtype)])
        extra = np.arange(len(labels), len(windows))
    segments = sorted({s for s in config.segments if s <= length}) or [None]
    if config.segments and segments == [None]:
        raise ConfigError(f"spectral.segments {config.segments}: every segment is longer than the {length}-sample windows")
    fitted = {}
    for segment in segments:
        fastest = 1800.0 if rpm_all is None else float(rpm_all.max()) * ORDER_SPEED_MARGIN
        grid = SpectrumGrid.for_windows(fs, length, config.order_view, fastest, segment)
        fitted[segment] = (grid, *fit_discriminant(WindowArray(windows, fs, grid, rpm_all), np.arange(len(labels)), labels,
                                                   groups, int(labels.max()) + 1, config, seed, extra))
    best = max(segments, key=lambda s: (max(fitted[s][3].values()), -(s or length)))
    by_segment = {s: max(fitted[s][3].values()) for s in segments if s is not None}
    return SpectralPath(*fitted[best], segment_validation=by_segment)


ORDER_SPEED_MARGIN = 1.1
"""The order view's axis stops at the orders the band holds at this multiple of the pool's fastest shaft: a machine up to
10 % faster than any speed the path was fitted at is read whole; a faster one is refused naming the speed."""


def fit_prototypes(path: SpectralPath, windows: np.ndarray, labels: np.ndarray, n_classes: int, fs: float, config: SpectralPathConfig,
                   seed: int, rpm=None) -> PrototypeHead:
    """One prototype per class from the support windows (n, channels, length) and their noisy copies."""
    windows = np.asarray(windows)
    return fit_support(path.discriminant, WindowArray(windows, fs, path.grid, rpm), np.arange(len(windows)), labels, n_classes,
                       config, seed)
