"""The discriminant spectrum path: rate- and speed-independent spectra, the fitted discriminant and its prototypes."""

import numpy as np
import pytest

from syndiag.config.spectral import SpectralPathConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.baselines import LogSpectrumNearestNeighbour
from syndiag.models.spectral_discriminant import PrototypeHead, SpectralDiscriminant
from syndiag.models.spectrum_view import SpectrumGrid, check_grid, spectrum_view
from syndiag.training.spectral import fit_prototypes, fit_spectral_path, halves


def tone(freq_hz: float, fs: float, length: int, n: int = 1, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length) / fs
    phases = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    return np.sin(2 * np.pi * freq_hz * t + phases) + noise * rng.standard_normal((n, 1, length))


def test_a_tone_lands_on_the_same_frequency_at_12_and_48_khz():
    grid = SpectrumGrid.for_windows(12000.0, 512)
    low = spectrum_view(tone(1500.0, 12000.0, 512), 12000.0, grid)
    high = spectrum_view(tone(1500.0, 48000.0, 2048), 48000.0, grid)
    assert low.shape == high.shape == (1, 257)
    assert np.argmax(low[0]) == np.argmax(high[0]) == 64  # 1500 Hz / (12000 / 512) Hz per bin
    assert np.isclose(low[0].mean(), 0.0) and np.isclose(high[0].mean(), 0.0)  # gain removed


def test_gain_of_the_recording_chain_does_not_move_the_view():
    grid = SpectrumGrid.for_windows(12000.0, 512)
    windows = tone(800.0, 12000.0, 512, n=3, noise=0.1)
    assert np.allclose(spectrum_view(windows, 12000.0, grid), spectrum_view(windows * 37.0, 12000.0, grid))


def test_the_order_view_puts_a_shaft_harmonic_at_one_order_whatever_the_speed():
    grid = SpectrumGrid.for_windows(12000.0, 4096, order_view=True)
    slow = spectrum_view(tone(5 * 1730 / 60, 12000.0, 4096), 12000.0, grid, rpm=1730.0)
    fast = spectrum_view(tone(5 * 1797 / 60, 12000.0, 4096), 12000.0, grid, rpm=1797.0)
    orders = np.arange(grid.order_bins) * grid.order_step
    assert abs(orders[np.argmax(slow[0, grid.bins:])] - 5) < grid.order_step
    assert np.argmax(slow[0, grid.bins:]) == np.argmax(fast[0, grid.bins:])
    assert np.argmax(slow[0, :grid.bins]) != np.argmax(fast[0, :grid.bins])  # in Hz they differ


def test_bad_windows_are_refused_naming_the_problem():
    grid = SpectrumGrid.for_windows(12000.0, 512)
    with pytest.raises(DataError, match="reaches 3000 Hz.*6000 Hz"):
        spectrum_view(tone(500.0, 6000.0, 256), 6000.0, grid, source="slow.csv")
    bad = tone(500.0, 12000.0, 512)
    bad[0, 0, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        spectrum_view(bad, 12000.0, grid)
    with pytest.raises(DataError, match="needs the shaft speed"):
        spectrum_view(tone(500.0, 12000.0, 512), 12000.0, SpectrumGrid.for_windows(12000.0, 512, order_view=True))
    with pytest.raises(DataError, match="out of range"):
        check_grid({"step_hz": -1, "bins": 10}, "model/")


def two_class_problem(n: int, seed: int, noise: float = 0.7):
    """Class 0: tone at 1 kHz, class 1: tone at 1.2 kHz, each under broadband noise."""
    a = tone(1000.0, 12000.0, 512, n, noise=noise, seed=seed)
    b = tone(1200.0, 12000.0, 512, n, noise=noise, seed=seed + 1)
    return np.concatenate([a, b]).astype(np.float32), np.repeat([0, 1], n)


def test_one_example_each_on_the_discriminant_beats_the_raw_log_spectrum_neighbour():
    grid = SpectrumGrid.for_windows(12000.0, 512)
    ours, raw = [], []
    for seed in range(5):
        pool, pool_y = two_class_problem(60, 1 + 100 * seed, noise=1.0)
        support, support_y = two_class_problem(1, 7 + 100 * seed, noise=1.0)
        test, test_y = two_class_problem(100, 11 + 100 * seed, noise=1.0)
        discriminant = SpectralDiscriminant.fit(spectrum_view(pool, 12000.0, grid), pool_y, components=20)
        head = PrototypeHead.fit(discriminant.transform(spectrum_view(support, 12000.0, grid)), support_y, 2)
        ours.append(np.mean(head.predict(discriminant.transform(spectrum_view(test, 12000.0, grid))) == test_y))
        raw.append(np.mean(LogSpectrumNearestNeighbour().fit(support, support_y).predict(test) == test_y))
        again = SpectralDiscriminant.from_arrays(discriminant.arrays(), "model/")
        assert np.allclose(again.transform(spectrum_view(test, 12000.0, grid)), discriminant.transform(spectrum_view(test, 12000.0, grid)))
    assert np.mean(ours) >= 0.9 and np.mean(ours) >= np.mean(raw) + 0.08


def test_broken_discriminant_arrays_and_missing_classes_are_refused():
    arrays = SpectralDiscriminant(np.zeros(4), np.ones(4), np.zeros(4), np.ones((4, 2))).arrays()
    with pytest.raises(DataError, match="do not fit together"):
        SpectralDiscriminant.from_arrays({**arrays, "projection": np.ones((3, 2))}, "model/")
    with pytest.raises(DataError, match="non-positive"):
        SpectralDiscriminant.from_arrays({**arrays, "scale": np.zeros(4)}, "model/")
    with pytest.raises(DataError, match=r"class\(es\) \[2\]"):
        PrototypeHead.fit(np.zeros((2, 3)), np.array([0, 1]), 3)


def test_the_path_chooses_its_components_on_a_held_out_half_of_the_pool():
    pool, pool_y = two_class_problem(40, seed=3)
    groups = np.tile([0, 1], len(pool) // 2)
    first, second = halves(pool_y, groups)
    assert set(first).isdisjoint(second) and len(first) == len(second) == 40
    config = SpectralPathConfig(components=[2, 30], noise_copies=1)
    path = fit_spectral_path(pool, pool_y, groups, 12000.0, config, seed=0)
    assert set(path.validation) == {2, 30} and path.components == max(path.validation, key=lambda c: (path.validation[c], -c))
    support, support_y = two_class_problem(2, seed=21)
    head = fit_prototypes(path, support, support_y, 2, 12000.0, config, seed=0)
    test, test_y = two_class_problem(50, seed=31)
    assert np.mean(head.predict(path.features(test, 12000.0)) == test_y) >= 0.95


def test_random_chains_are_smooth_bounded_gain_free_curves():
    from syndiag.training.spectral import chain_curves

    grid = SpectrumGrid.for_windows(12000.0, 512)
    curves = chain_curves(grid, 200, 10.0, np.random.default_rng(0))
    assert curves.shape == (200, 257) and np.allclose(curves.mean(axis=1), 0.0)
    assert np.abs(curves).max() <= 2 * 2 * 10.0 * np.log(10) / 10  # two peaks of at most 10 dB each, mean removed
    assert np.median(np.abs(np.diff(curves, axis=1)).max(axis=1)) < 0.5  # smooth across neighbouring bins


def test_chain_copies_keep_a_tone_classifier_right_through_a_resonant_chain():
    grid = SpectrumGrid.for_windows(12000.0, 512)
    pool, pool_y = two_class_problem(40, seed=3)
    groups = np.zeros(len(pool), dtype=int)
    test, test_y = two_class_problem(60, seed=41)
    f = np.fft.rfftfreq(512, 1 / 12000.0)
    response = 10 ** ((14.0 / (1 + 9 * (np.maximum(f, 1e-3) / 1100 - 1100 / np.maximum(f, 1e-3)) ** 2)) / 20)
    chained = np.fft.irfft(np.fft.rfft(test, axis=-1) * response, n=512, axis=-1).astype(np.float32)
    accuracy = {}
    for copies in (0, 4):
        config = SpectralPathConfig(components=[20], noise_copies=0, chain_copies=copies)
        path = fit_spectral_path(pool, pool_y, groups, 12000.0, config, seed=0)
        head = fit_prototypes(path, *two_class_problem(3, seed=5), 2, 12000.0, config, seed=0)
        accuracy[copies] = np.mean(head.predict(path.features(chained, 12000.0)) == test_y)
    assert accuracy[4] >= 0.9 and accuracy[4] >= accuracy[0]


def test_later_fields_stay_out_of_the_settings_material_at_their_defaults():
    assert "chain_copies" not in SpectralPathConfig().material()
    assert SpectralPathConfig(chain_copies=2).material()["chain_copies"] == 2


def test_without_labels_the_path_whitens_the_unlabelled_windows_and_still_separates_tones():
    unlabelled, _ = two_class_problem(80, seed=9)
    pool, pool_y = two_class_problem(6, seed=13)
    config = SpectralPathConfig(components=[5, 20], noise_copies=1, labels="none")
    path = fit_spectral_path(pool, pool_y, np.zeros(len(pool), dtype=int), 12000.0, config, seed=0, unlabelled=unlabelled)
    features = path.discriminant.transform(spectrum_view(unlabelled, 12000.0, path.grid))
    assert features.shape[1] == path.components and np.allclose(features.std(axis=0), 1.0, atol=0.35)  # whitened (noisy copies aside)
    head = fit_prototypes(path, *two_class_problem(3, seed=5), 2, 12000.0, config, seed=0)
    test, test_y = two_class_problem(60, seed=41)
    assert np.mean(head.predict(path.features(test, 12000.0)) == test_y) >= 0.9
    with pytest.raises(ConfigError, match="unlabelled windows"):
        fit_spectral_path(pool, pool_y, np.zeros(len(pool), dtype=int), 12000.0, config, seed=0)


def test_the_order_view_reads_a_shaft_faster_than_the_pool_within_its_margin():
    rng = np.random.default_rng(0)
    t = np.arange(512) / 12000.0
    labels = np.repeat([0, 1], 12)
    rpm = np.tile([1730.0, 1772.0], 12)
    windows = np.stack([np.sin(2 * np.pi * (40 if c else 23) * r / 60 * t)[None] + 0.1 * rng.standard_normal((1, 512)) for c, r in zip(labels, rpm)])
    path = fit_spectral_path(windows, labels, np.tile([0, 1], 12), 12000.0, SpectralPathConfig(order_view=True, components=[4], noise_copies=0),
                             0, rpm)
    faster = np.sin(2 * np.pi * 40 * 1797 / 60 * t)[None, None] + 0.1 * rng.standard_normal((1, 1, 512))
    assert path.features(faster, 12000.0, np.array([1797.0])).shape[0] == 1
    with pytest.raises(DataError, match="shafts up to 19"):
        path.features(faster, 12000.0, np.array([2500.0]))


class LoadSpecificSpectra:
    """Classes told apart by two weak shared features and by strong offsets that change from one load to the next."""

    channels = 1

    def __init__(self, labels: np.ndarray, loads: np.ndarray) -> None:
        rng = np.random.default_rng(0)
        offsets = rng.standard_normal((3, 3, 40)) * 1.5
        shared = np.eye(3)[:, :2][labels] * 12
        self.x = np.concatenate([shared, offsets[labels, loads]], 1) + rng.standard_normal((labels.size, 42)) * np.r_[4, 4, np.ones(40)]

    def features(self, indices, snr_db, rng):
        x = self.x[indices]
        return x if snr_db is None else x + rng.standard_normal(x.shape)


def test_components_chosen_by_other_loads_keep_what_holds_across_loads():
    from syndiag.training.spectral import fit_discriminant

    labels, loads = np.tile(np.repeat(np.arange(3), 8), 3), np.repeat(np.arange(3), 24)
    source = LoadSpecificSpectra(labels, loads)
    chosen = {}
    for by in ("halves", "other loads"):
        config = SpectralPathConfig(components=[2, 30], noise_copies=1, components_by=by)
        _, chosen[by], scores = fit_discriminant(source, np.arange(72), labels, loads, 3, config, seed=0)
        assert set(scores) == {2, 30}
    assert chosen == {"halves": 30, "other loads": 2}  # halves sees each load's offsets on both sides and takes them
    one_load = SpectralPathConfig(components=[2, 30], noise_copies=1, components_by="other loads")
    assert fit_discriminant(source, np.arange(24), labels[:24], loads[:24], 3, one_load, seed=0)[1] == \
        fit_discriminant(source, np.arange(24), labels[:24], loads[:24], 3, one_load.model_copy(update={"components_by": "halves"}), seed=0)[1]


def test_a_near_tie_in_validation_goes_to_the_fewer_components():
    from syndiag.training.spectral import chosen_components

    scores = {40: 0.9276, 80: 0.9298, 160: 0.932}  # the default model's seed-1 pool, 532 windows scored twice
    one_se = SpectralPathConfig(components_choice="fewest within one standard error")
    assert chosen_components(scores, 1064, SpectralPathConfig()) == 160
    assert chosen_components(scores, 1064, one_se) == 40  # 0.932 - sqrt(0.932 x 0.068 / 1064) = 0.9243
    assert chosen_components({40: 0.80, 80: 0.93, 160: 0.932}, 1064, one_se) == 80
    assert chosen_components({40: 0.90, 80: 0.93}, 10, one_se) == 40  # ten predictions: an error of 0.08
