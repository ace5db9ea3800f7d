"""Continuous wavelet transform spectrograms, batched over windows, identical to ``pywt.cwt`` (paper §4.1)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pywt
import scipy.fft

from syndiag.config.data import SpectrogramConfig
from syndiag.data.colormap import colormap_lut


def cwt_scales(wavelet: str, n_scales: int) -> np.ndarray:
    """Scales whose centre frequencies run linearly from Nyquist down to fs / (2 n_scales), highest first."""
    centre = pywt.central_frequency(wavelet)
    return 2.0 * centre * n_scales / np.arange(n_scales, 0, -1, dtype=np.float64)


def cwt_frequencies(wavelet: str, n_scales: int, fs: float) -> np.ndarray:
    """Centre frequency in Hz of each row of the spectrogram."""
    return pywt.scale2frequency(wavelet, cwt_scales(wavelet, n_scales)) * fs


@lru_cache(maxsize=8)
def filter_bank(wavelet: str, n_scales: int, length: int) -> tuple[np.ndarray, int]:
    """Spectra G (n_scales, P) such that ``ifft(fft(x, P) * G)[:, :length]`` equals ``pywt.cwt(x)``.

    pywt convolves x with the integrated wavelet, differentiates and keeps the centre ``length`` samples.
    Those samples use only the central ``2 length - 1`` taps of the differentiated kernel, so the kernel is
    cut to them and the crop is folded in as a circular shift: a ~2 length point FFT serves every scale.
    """
    w = pywt.ContinuousWavelet(wavelet)
    int_psi, x = pywt.integrate_wavelet(w, precision=12)
    int_psi = np.conj(int_psi)
    step = x[1] - x[0]
    kernels: list[tuple[np.ndarray, int]] = []
    for scale in cwt_scales(wavelet, n_scales):
        j = (np.arange(scale * (x[-1] - x[0]) + 1) / (scale * step)).astype(int)
        h = int_psi[j[j < int_psi.size]][::-1]
        taps = h.size
        if taps < 2:
            raise ValueError(f"scale {scale:.3f} is too small for wavelet {wavelet}")
        diff_kernel = -np.sqrt(scale) * np.diff(np.concatenate([[0], h, [0]]))
        crop = int(np.floor((taps - 2) / 2)) + 1
        first = max(0, crop + 1 - length)
        last = min(taps, crop + length - 1)
        kernels.append((diff_kernel[first : last + 1], crop - first))
    size = scipy.fft.next_fast_len(max(max(o + length, length + k.size - 1 - o) for k, o in kernels))
    bank = np.zeros((n_scales, size), dtype=np.complex128)
    for row, (kernel, offset) in enumerate(kernels):
        buffer = np.zeros(size, dtype=np.complex128)
        buffer[: kernel.size] = kernel
        bank[row] = scipy.fft.fft(np.roll(buffer, -offset))
    return bank.astype(np.complex64), size


def cwt(windows: np.ndarray, config: SpectrogramConfig, workers: int = -1) -> np.ndarray:
    """Complex CWT coefficients of windows (..., length) -> (..., n_scales, length), complex64."""
    windows = np.asarray(windows, dtype=np.float32)
    length = windows.shape[-1]
    bank, size = filter_bank(config.wavelet, config.n_scales, length)
    spectra = scipy.fft.fft(windows, size, axis=-1, workers=workers)
    coefficients = scipy.fft.ifft(spectra[..., None, :] * bank, axis=-1, workers=workers, overwrite_x=True)
    return coefficients[..., :length]


def reference_cwt(window: np.ndarray, config: SpectrogramConfig, fs: float) -> np.ndarray:
    """``pywt.cwt`` of one window with the same scales, for checking :func:`cwt`."""
    coefficients, _ = pywt.cwt(
        np.asarray(window, dtype=np.float64), cwt_scales(config.wavelet, config.n_scales), config.wavelet, 1.0 / fs
    )
    return coefficients


@lru_cache(maxsize=16)
def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear-interpolation resampling matrix (n_out, n_in), antialiased when shrinking (PIL 'bilinear')."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    inputs = np.arange(n_in) + 0.5
    weights = np.clip(1.0 - np.abs(inputs[None, :] - centres[:, None]) / support, 0.0, None)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def render(magnitude: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """CWT magnitudes (n, channels, scales, length) -> colormap indices (n, size, size), uint8.

    Channels are stacked top to bottom, each resized to its share of the rows; every image is scaled
    by its own minimum and maximum (optionally of the log magnitude).
    """
    n, channels, scales, length = magnitude.shape
    size = config.image_size
    row_bounds = np.linspace(0, size, channels + 1).astype(int)
    columns = resize_matrix(length, size)
    image = np.empty((n, size, size), dtype=np.float32)
    for ch in range(channels):
        height = int(row_bounds[ch + 1] - row_bounds[ch])
        values = np.ascontiguousarray(magnitude[:, ch], dtype=np.float32)
        if config.log_magnitude:
            peak = values.max(axis=(1, 2), keepdims=True)
            values = np.log10(values + 1e-4 * peak + 1e-12)
        narrowed = (values.reshape(n * scales, length) @ columns.T).reshape(n, scales, size)
        stacked = narrowed.transpose(1, 0, 2).reshape(scales, n * size)
        resized = (resize_matrix(scales, height) @ stacked).reshape(height, n, size).transpose(1, 0, 2)
        image[:, row_bounds[ch] : row_bounds[ch + 1]] = resized
    low = image.min(axis=(1, 2), keepdims=True)
    high = image.max(axis=(1, 2), keepdims=True)
    scaled = (image - low) / np.maximum(high - low, 1e-12)
    return np.rint(scaled * 255.0).astype(np.uint8)


def spectrogram_images(windows: np.ndarray, config: SpectrogramConfig, chunk: int = 32) -> np.ndarray:
    """Windows (n, channels, length) -> colormap-index images (n, size, size), uint8, in chunks of ``chunk``."""
    windows = np.asarray(windows, dtype=np.float32)
    n = windows.shape[0]
    images = np.empty((n, config.image_size, config.image_size), dtype=np.uint8)
    for start in range(0, n, chunk):
        block = windows[start : start + chunk]
        images[start : start + block.shape[0]] = render(np.abs(cwt(block, config)), config)
    return images


def to_rgb(index_images: np.ndarray, colormap: str) -> np.ndarray:
    """Colormap-index images (..., H, W) uint8 -> RGB images (..., H, W, 3) uint8, the paper's 224x224x3."""
    return colormap_lut(colormap)[index_images]


def stacked_tokens_present(present: np.ndarray, stacked: list[int], grid: int) -> np.ndarray:
    """(B, grid * grid): a spectrogram token is seen only when every channel whose image band it covers is present.

    The spectrogram stacks its channels top to bottom in equal bands (see :func:`render`); ``stacked`` are the columns
    of ``present`` (B, channels) of the stacked channels, top first; tokens are the extractor's grid, row-major.
    """
    bands = len(stacked)
    rows = np.ones((present.shape[0], grid), bool)
    for row in range(grid):
        top, bottom = row / grid, (row + 1) / grid
        for band, column in enumerate(stacked):
            if band / bands < bottom and (band + 1) / bands > top:
                rows[:, row] &= present[:, column]
    return np.repeat(rows, grid, axis=1)
