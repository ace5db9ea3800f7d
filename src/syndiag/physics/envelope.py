"""Envelope analysis of a bearing signal (issue 20): a band around the structural resonance chosen by spectral kurtosis,
band-pass, Hilbert envelope, its spectrum; then the amplitude and peak-to-floor ratio at each characteristic frequency
and its harmonics, within a slip tolerance. Independent of any classifier (Randall & Antoni 2011, "Rolling element
bearing diagnostics - a tutorial")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from syndiag.errors import DataError

BAND_FRACTIONS = (1 / 6, 1 / 8, 1 / 12, 1 / 16)
"""Bandwidths of the kurtogram search, as fractions of the sampling rate (coarse enough to carry an impact's sidebands)."""


@dataclass(frozen=True)
class EnvelopeSpectrum:
    freqs: np.ndarray
    amplitude: np.ndarray
    band: tuple[float, float]
    kurtosis: float
    fs: float

    @property
    def resolution_hz(self) -> float:
        return float(self.freqs[1] - self.freqs[0])


def _check(x, fs: float, resolution_hz: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise DataError("the signal holds NaN or Inf values: no envelope spectrum")
    if not (np.isfinite(fs) and fs > 0):
        raise DataError(f"sampling rate must be a positive number of Hz, got {fs}")
    needed = int(np.ceil(fs / resolution_hz))
    if x.size < needed:
        raise DataError(f"{x.size} samples ({x.size / fs:.3f} s) are shorter than the {needed / fs:.2f} s an envelope spectrum "
                        f"with {resolution_hz:g} Hz resolution needs: give a longer recording, or a coarser --resolution")
    return x


def spectral_kurtosis_band(x: np.ndarray, fs: float, low_hz: float = 500.0) -> tuple[tuple[float, float], float]:
    """The band of largest kurtosis of the band-passed signal's envelope (a kurtogram over :data:`BAND_FRACTIONS`,
    centres every half bandwidth), above ``low_hz``: impacts excite the structural resonance, so their band is spiky."""
    best = (-np.inf, (low_hz, fs / 2 * 0.9))
    for fraction in BAND_FRACTIONS:
        width = fs * fraction
        for low in np.arange(low_hz, fs / 2 * 0.95 - width, width / 2):
            sos = sps.butter(4, (low, low + width), btype="bandpass", fs=fs, output="sos")
            envelope = np.abs(sps.hilbert(sps.sosfilt(sos, x)))
            kurtosis = float(np.mean(envelope**4) / max(np.mean(envelope**2) ** 2, 1e-300) - 2.0)
            if kurtosis > best[0]:
                best = (kurtosis, (float(low), float(low + width)))
    return best[1], best[0]


def envelope_spectrum(x, fs: float, band: tuple[float, float] | None = None, resolution_hz: float = 1.0) -> EnvelopeSpectrum:
    """The envelope spectrum of ``x`` (1-D) in the ``band`` (default: by spectral kurtosis), zero-padded to
    ``resolution_hz``; amplitudes in the signal's unit."""
    x = _check(x, fs, resolution_hz)
    x = x - x.mean()
    kurtosis = float("nan")
    if band is None:
        band, kurtosis = spectral_kurtosis_band(x, fs)
    low, high = band
    if not 0 < low < high < fs / 2:
        raise DataError(f"band {band} Hz must lie inside (0, {fs / 2:g}) Hz")
    filtered = sps.sosfiltfilt(sps.butter(4, (low, high), btype="bandpass", fs=fs, output="sos"), x)
    envelope = np.abs(sps.hilbert(filtered))
    envelope -= envelope.mean()
    window = np.hanning(envelope.size)
    n = max(envelope.size, int(np.ceil(fs / resolution_hz)))
    amplitude = 2.0 * np.abs(np.fft.rfft(envelope * window, n)) / window.sum()
    return EnvelopeSpectrum(np.fft.rfftfreq(n, 1.0 / fs), amplitude, (float(low), float(high)), kurtosis, float(fs))


@dataclass(frozen=True)
class PeakEvidence:
    name: str
    expected_hz: float
    found_hz: float
    amplitude: float
    floor: float

    @property
    def ratio(self) -> float:
        return self.amplitude / self.floor if self.floor > 0 else float("inf")


def peak_at(spectrum: EnvelopeSpectrum, name: str, hz: float, tolerance: float = 0.02, floor_span: float = 0.2) -> PeakEvidence:
    """The largest line within ``hz`` ± ``tolerance`` (slip) and the median level of its neighbourhood (± ``floor_span``,
    the tolerance band left out): the peak-to-floor ratio says whether a line stands out there."""
    f, a = spectrum.freqs, spectrum.amplitude
    half = max(hz * tolerance, 1.5 * spectrum.resolution_hz)
    near = (f >= hz - half) & (f <= hz + half)
    if not near.any() or hz + half >= f[-1]:
        raise DataError(f"{name} at {hz:.1f} Hz lies outside the envelope spectrum (0-{f[-1]:.0f} Hz)")
    i = np.flatnonzero(near)[np.argmax(a[near])]
    around = (np.abs(f - hz) <= max(hz * floor_span, 10 * spectrum.resolution_hz)) & ~near & (f > 0)
    floor = float(np.median(a[around])) if around.any() else 0.0
    return PeakEvidence(name, float(hz), float(f[i]), float(a[i]), floor)


def harmonic_evidence(spectrum: EnvelopeSpectrum, name: str, hz: float, harmonics: int = 3, tolerance: float = 0.02) -> list[PeakEvidence]:
    """:func:`peak_at` at ``hz`` and its first ``harmonics`` multiples that the spectrum reaches."""
    found = []
    for h in range(1, harmonics + 1):
        if h * hz * (1 + tolerance) < spectrum.freqs[-1]:
            found.append(peak_at(spectrum, f"{h}x{name}" if h > 1 else name, h * hz, tolerance))
    return found
