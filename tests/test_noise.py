import numpy as np
import pytest
from conftest import small_config

from syndiag.data.noise import add_white_noise, noise_augmented, noisy_subset
from syndiag.data.prepare import prepare
from syndiag.data.spectrogram import spectrogram_images
from syndiag.data.windowing import TEST
from syndiag.errors import DataError


@pytest.mark.parametrize("snr_db", [0.0, -4.0, 10.0])
def test_noise_power_follows_the_snr_per_window_and_channel(snr_db):
    rng = np.random.default_rng(0)
    t = np.arange(4096) / 12000
    windows = np.stack([np.stack([a * np.sin(2 * np.pi * 157 * t), a * 0.1 * np.cos(2 * np.pi * 900 * t)]) for a in (0.5, 3.0)])
    noisy = add_white_noise(windows, snr_db, rng)
    noise = noisy - windows
    measured = 10 * np.log10((windows**2).mean(-1) / (noise**2).mean(-1))
    np.testing.assert_allclose(measured, snr_db, atol=0.2)
    with pytest.raises(DataError, match="SNR"):
        add_white_noise(windows, float("nan"), rng)


def test_noisy_subset_is_reproducible_and_its_spectrograms_are_recomputed(tmp_path):
    dataset = prepare(small_config(tmp_path, dataset="simulated"))
    test = np.flatnonzero(dataset.split == TEST)[:12]
    first = noisy_subset(dataset, test, -4.0, seed=3)
    again = noisy_subset(dataset, test, -4.0, seed=3)
    other = noisy_subset(dataset, test, -4.0, seed=4)
    assert len(first) == 12 and first.rgb(np.arange(12)).shape == (12, 32, 32, 3)
    np.testing.assert_array_equal(first.windows, again.windows)
    assert not np.array_equal(first.windows, other.windows)
    np.testing.assert_array_equal(first.labels, dataset.labels[test])
    from syndiag.config.data import SpectrogramConfig

    spectrogram = SpectrogramConfig.model_validate(dataset.meta["config"]["spectrogram"])
    np.testing.assert_array_equal(first.colormap_indices, spectrogram_images(first.windows, spectrogram))
    assert not np.array_equal(first.colormap_indices, np.asarray(dataset.colormap_indices[test]))
    assert np.asarray(dataset.windows[test]).dtype == first.windows.dtype


def test_noise_augmented_set_is_the_clean_support_then_one_noisy_copy_within_the_snr_range(tmp_path):
    dataset = prepare(small_config(tmp_path, dataset="simulated"))
    support = np.flatnonzero(dataset.split != TEST)[:10]
    augmented = noise_augmented(dataset, support, (-4.0, 10.0), seed=1)
    assert len(augmented) == 20
    np.testing.assert_array_equal(augmented.labels, np.concatenate([dataset.labels[support]] * 2))
    clean = np.asarray(dataset.windows[support])
    np.testing.assert_array_equal(augmented.windows[:10], clean)
    noise = augmented.windows[10:] - clean
    snr = 10 * np.log10((clean**2).mean(-1) / (noise**2).mean(-1))
    assert snr.min() > -4.0 - 1.0 and snr.max() < 10.0 + 1.0 and np.ptp(snr) > 2.0
    np.testing.assert_array_equal(augmented.windows, noise_augmented(dataset, support, (-4.0, 10.0), seed=1).windows)
    test_noise = noisy_subset(dataset, support, 0.0, seed=1).windows - clean
    assert not np.allclose(noise, test_noise)
    with pytest.raises(DataError, match="low <= high"):
        noise_augmented(dataset, support, (10.0, -4.0), seed=1)
    with pytest.raises(DataError, match="one SNR per window"):
        add_white_noise(clean, np.zeros(3), np.random.default_rng(0))
