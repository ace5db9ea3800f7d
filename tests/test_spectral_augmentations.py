"""Augmentations of the discriminant spectrum path: speed-jitter, sensor-dropout and resampling copies (issue 29)."""

import numpy as np
import pytest

from syndiag.config.spectral import SpectralPathConfig
from syndiag.errors import ConfigError
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view
from syndiag.training.spectral import (WindowArray, fit_prototypes, fit_spectral_path, read_with_absent, time_scaled, with_absent,
                                       with_noisy_copies)

FS = 12000.0


def tones(freqs_hz, length: int, n: int = 1, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(n, channels, length): channel c holds a sine at ``freqs_hz[c]`` (random phase) plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / FS
    phases = rng.uniform(0, 2 * np.pi, (n, len(freqs_hz), 1))
    clean = np.sin(2 * np.pi * np.asarray(freqs_hz, dtype=float)[None, :, None] * t + phases)
    return clean + noise * rng.standard_normal(clean.shape)


def peak_hz(windows: np.ndarray, grid: SpectrumGrid) -> float:
    return float(grid.frequencies[np.argmax(spectrum_view(windows, FS, grid)[0, :grid.bins])])


@pytest.mark.parametrize("factor", [1.03, 0.97])
def test_a_speed_jitter_copy_moves_a_tone_by_its_factor(factor):
    grid = SpectrumGrid.for_windows(FS, 4096)
    window = tones([1500.0], 4096)
    length = int(round(4096 / factor))
    moved = peak_hz(time_scaled(window, FS, length), grid)
    assert abs(moved - 1500.0 * 4096 / length) <= grid.step_hz
    assert abs(moved - 1500.0) > 10 * grid.step_hz  # it did move (about 45 Hz)
    via_source = WindowArray(window, FS, grid).scaled(np.array([0]), np.array([factor]))
    assert np.allclose(via_source, spectrum_view(time_scaled(window, FS, length), FS, grid))


def test_a_slower_copy_keeps_the_top_of_the_band_instead_of_leaving_it_empty():
    grid = SpectrumGrid.for_windows(FS, 512)
    noise = np.random.default_rng(2).standard_normal((20, 1, 512))
    slower = spectrum_view(time_scaled(noise, FS, int(round(512 / 0.95))), FS, grid)
    top = slower[:, grid.bins - 8:].mean()
    assert top > -3.0  # white noise stays about flat; an empty band would read about -20 below the mean


def test_a_dropout_copy_leaves_the_other_channels_spectrum_untouched():
    grid = SpectrumGrid.for_windows(FS, 512)
    windows = tones([900.0, 2100.0], 512, n=12, noise=0.3, seed=4)
    source = WindowArray(windows, FS, grid)
    config = SpectralPathConfig(noise_copies=0, dropout_copies=2)
    features, labels = with_noisy_copies(source, np.arange(12), np.arange(12) % 2, config, np.random.default_rng(0))
    assert features.shape == (36, 2 * grid.bins) and np.array_equal(labels, np.tile(np.arange(12) % 2, 3))
    clean = features[:12].reshape(12, 2, -1)
    fill = clean.mean(axis=0)
    for copy in (features[12:24], features[24:]):
        blocks = copy.reshape(12, 2, -1)
        for i in range(12):
            dropped = [c for c in range(2) if np.allclose(blocks[i, c], fill[c])]
            kept = 1 - dropped[0]
            assert len(dropped) == 1 and np.array_equal(blocks[i, kept], clean[i, kept])


def test_an_absent_channel_reads_as_the_mean_and_the_other_one_still_decides():
    pool_a, pool_b = tones([900.0, 2100.0], 512, n=30, noise=0.8, seed=1), tones([1300.0, 3100.0], 512, n=30, noise=0.8, seed=2)
    pool, pool_y = np.concatenate([pool_a, pool_b]), np.repeat([0, 1], 30)
    config = SpectralPathConfig(components=[20], noise_copies=0, dropout_copies=2)
    path = fit_spectral_path(pool, pool_y, np.zeros(60, dtype=int), FS, config, seed=0)
    support = np.concatenate([tones([900.0, 2100.0], 512, n=3, noise=0.8, seed=5), tones([1300.0, 3100.0], 512, n=3, noise=0.8, seed=6)])
    head = fit_prototypes(path, support, np.repeat([0, 1], 3), 2, FS, config, seed=0)
    test = np.concatenate([tones([900.0, 2100.0], 512, n=40, noise=0.8, seed=7), tones([1300.0, 3100.0], 512, n=40, noise=0.8, seed=8)])
    truth = np.repeat([0, 1], 40)
    garbage = test.copy()
    garbage[:, 0] = np.random.default_rng(9).standard_normal(garbage[:, 0].shape) * 50
    absent = read_with_absent(path, test, FS, channel=0)
    assert np.allclose(absent, read_with_absent(path, garbage, FS, channel=0))  # the absent channel's samples are not read
    assert not np.allclose(absent, read_with_absent(path, test, FS, channel=1))
    view = spectrum_view(test, FS, path.grid)
    assert np.allclose(absent, path.discriminant.transform(with_absent(view, np.zeros(80, dtype=int), path.discriminant.mean, 2)))
    assert np.mean(head.predict(absent) == truth) >= 0.9


def test_resampling_copies_read_the_window_at_a_higher_rate_on_the_same_grid():
    grid = SpectrumGrid.for_windows(FS, 512)
    window = tones([1500.0], 512)
    features = WindowArray(window, FS, grid).resampled(np.array([0]), np.array([4]))
    assert features.shape == (1, grid.bins) and np.argmax(features[0]) == 64  # 1500 Hz / 23.4375 Hz per bin


def test_bad_settings_are_refused_naming_the_field():
    for field, value in (("jitter_percent", -1.0), ("jitter_copies", 11), ("dropout_copies", -1), ("resample_copies", 99)):
        with pytest.raises(ConfigError, match=field):
            SpectralPathConfig.from_dict({field: value}, source="bench.yaml")
    with pytest.raises(ConfigError, match="jiter_copies"):
        SpectralPathConfig.from_dict({"jiter_copies": 2}, source="bench.yaml")
    one_channel = WindowArray(tones([900.0], 512, n=4), FS, SpectrumGrid.for_windows(FS, 512))
    with pytest.raises(ConfigError, match="dropout_copies needs two or more"):
        with_noisy_copies(one_channel, np.arange(4), np.arange(4) % 2, SpectralPathConfig(dropout_copies=1), np.random.default_rng(0))

    class FeaturesOnly:
        grid, channels = SpectrumGrid.for_windows(FS, 512), 1

        def features(self, indices, snr_db, rng):
            return np.zeros((len(indices), self.grid.bins))

    for field in ("jitter_copies", "resample_copies"):
        with pytest.raises(ConfigError, match=f"spectral.{field}.*FeaturesOnly"):
            with_noisy_copies(FeaturesOnly(), np.arange(3), np.arange(3), SpectralPathConfig(**{field: 1}), np.random.default_rng(0))


def test_the_default_settings_keep_their_material_and_so_every_result_hash():
    assert SpectralPathConfig().material() == {"components": [40, 80, 160], "noise_copies": 3, "noise_snr_db": [-8.0, 10.0],
                                               "validation_snr_db": 0.0, "pool": "every condition", "order_view": False}
    assert SpectralPathConfig(jitter_copies=3).material()["jitter_copies"] == 3
    assert SpectralPathConfig(jitter_percent=5.0).material()["jitter_percent"] == 5.0


def test_augmentations_off_draw_nothing_so_the_default_path_is_unchanged():
    grid = SpectrumGrid.for_windows(FS, 512)
    source = WindowArray(tones([900.0, 2100.0], 512, n=6, noise=0.3), FS, grid)
    plain, _ = with_noisy_copies(source, np.arange(6), np.zeros(6, dtype=int), SpectralPathConfig(), np.random.default_rng(3))
    rng = np.random.default_rng(3)
    expected = [source.features(np.arange(6), None, rng)]
    expected += [source.features(np.arange(6), rng.uniform(-8.0, 10.0, 6), rng) for _ in range(3)]
    assert np.allclose(plain, np.concatenate(expected))
