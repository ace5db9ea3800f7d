import numpy as np
import pytest
import scipy.io

from syndiag.config.data import SpectrogramConfig
from syndiag.data.colormap import colormap_lut
from syndiag.data.spectrogram import (
    cwt,
    cwt_frequencies,
    reference_cwt,
    render,
    resize_matrix,
    spectrogram_images,
    to_rgb,
)


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def test_cwt_matches_pywt_on_a_real_cwru_window(cwru_dir):
    signal = scipy.io.loadmat(str(cwru_dir / "105.mat"))["X105_DE_time"].ravel()
    windows = np.stack([signal[i * 256 : i * 256 + 512] for i in range(6)])
    config = SpectrogramConfig()
    ours = cwt(windows, config)
    assert ours.shape == (6, 128, 512)
    for window, coefficients in zip(windows, ours):
        assert relative_error(coefficients, reference_cwt(window, config, 12000.0)) < 1e-3


@pytest.mark.parametrize("wavelet,length,n_scales", [("cmor1.5-1.0", 300, 64), ("cmor1-1.5", 512, 128), ("cmor2-0.5", 128, 16)])
def test_cwt_matches_pywt_for_other_wavelets_and_lengths(wavelet, length, n_scales):
    config = SpectrogramConfig(wavelet=wavelet, n_scales=n_scales)
    window = np.random.default_rng(1).standard_normal(length)
    assert relative_error(cwt(window[None], config)[0], reference_cwt(window, config, 1000.0)) < 1e-3


def test_rows_run_from_nyquist_down_and_a_tone_lands_on_its_row():
    fs, config = 12000.0, SpectrogramConfig()
    freqs = cwt_frequencies(config.wavelet, config.n_scales, fs)
    assert freqs[0] == pytest.approx(fs / 2)
    assert np.all(np.diff(freqs) < 0)
    t = np.arange(512) / fs
    energy = np.abs(cwt(np.sin(2 * np.pi * 3000.0 * t)[None], config)[0, :, 128:384]).mean(axis=1)
    assert abs(freqs[np.argmax(energy)] - 3000.0) < 2 * (freqs[0] - freqs[1])


def test_resize_matrix_rows_are_normalised_interpolation_weights():
    for n_in, n_out in [(512, 224), (128, 224), (7, 7)]:
        matrix = resize_matrix(n_in, n_out)
        assert matrix.shape == (n_out, n_in)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(resize_matrix(7, 7), np.eye(7), atol=1e-7)


def test_render_gives_full_range_uint8_images_and_stacks_channels():
    config = SpectrogramConfig(image_size=64)
    magnitude = np.random.default_rng(0).random((3, 2, 32, 100)).astype(np.float32)
    images = render(magnitude, config)
    assert images.shape == (3, 64, 64) and images.dtype == np.uint8
    assert (images.reshape(3, -1).min(axis=1) == 0).all() and (images.reshape(3, -1).max(axis=1) == 255).all()
    swapped = render(magnitude[:, ::-1], config)
    np.testing.assert_array_equal(swapped[:, :32], images[:, 32:])


def test_spectrogram_images_are_the_papers_224x224x3_rgb():
    windows = np.random.default_rng(0).standard_normal((5, 1, 512))
    images = spectrogram_images(windows, SpectrogramConfig(), chunk=2)
    rgb = to_rgb(images, "jet")
    assert rgb.shape == (5, 224, 224, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0, 0], colormap_lut("jet")[images[0, 0, 0]])
    np.testing.assert_array_equal(images[3], spectrogram_images(windows[3:4], SpectrogramConfig())[0])
