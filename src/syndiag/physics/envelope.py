"""Envelope analysis of a bearing signal (issue 20): a band around the structural resonance chosen by spectral kurtosis,
band-pass, Hilbert envelope, its spectrum averaged over half-overlapping segments (Welch's way, so a recording of any
length is analysed in bounded memory and the floor is a steady estimate); then the amplitude and peak-to-floor ratio at
each characteristic frequency and its harmonics, within a slip tolerance, where the spectrum can show them at all.
Independent of any classifier (Randall & Antoni 2011, "Rolling element bearing diagnostics - a tutorial")."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from syndiag.errors import DataError

BAND_FRACTIONS = (1 / 6, 1 / 8, 1 / 12, 1 / 16)
"""Bandwidths of the kurtogram search, as fractions of the sampling rate (coarse enough to carry an impact's sidebands)."""
BAND_SECONDS = 10.0
"""Signal (the first segments, at least one) whose mean envelope kurtosis chooses the band."""
SEGMENT_SECONDS = 10.0
"""Longest segment by default: a 0.1 Hz resolution at the finest."""
MIN_AVERAGES = 8
"""Half-overlapping segments a default resolution averages at least (a steady floor), down to 1 s segments (1 Hz): a
10 s recording gets 0.45 Hz, a 10 min one 0.1 Hz."""
SAMPLES_PER_READ = 1 << 20
"""Samples read from a recording at once (whole segments, one at least)."""
LOWEST_BINS = 3
"""A line is checkable when its search window stays this many resolution steps above 0 Hz."""
FLOOR_EPS = 1e-12
"""The floor of a peak is never taken below this fraction of the spectrum's largest amplitude (no infinite ratio)."""
FOREIGN_BINS = 1.5
"""Resolution steps around a shaft or mains harmonic that a bearing line's search leaves out: the CWRU fan-end bearing's
BPFO, BPFI and 2xBSF lie within 1-2 % (the slip tolerance) of the shaft's 3rd, 5th and 4th harmonics, and its 2xBSF
at 1797 rpm within 0.5 % of the 120 Hz mains harmonic."""


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


def samples_per_segment(fs: float, resolution_hz: float) -> int:
    """Samples per segment of an envelope spectrum with ``resolution_hz``."""
    if not (np.isfinite(fs) and fs > 0):
        raise DataError(f"sampling rate must be a positive number of Hz, got {fs}")
    return int(np.ceil(fs / resolution_hz - 1e-6))


def default_resolution(size: int, fs: float) -> float:
    """The finest resolution whose segments still average :data:`MIN_AVERAGES` times over the signal (segments of
    2 T / (MIN_AVERAGES + 1) for T seconds), between 1 / :data:`SEGMENT_SECONDS` and 1 Hz; 1 Hz for a signal under
    1 s is refused by :func:`segment_length`."""
    seconds = 2 * max(size, 1) / fs / (MIN_AVERAGES + 1)
    return float(min(1.0, max(1.0 / SEGMENT_SECONDS, 1.0 / seconds)))


def segment_length(size: int, fs: float, resolution_hz: float) -> int:
    """:func:`samples_per_segment`; DataError when the signal's ``size`` samples are fewer."""
    needed = samples_per_segment(fs, resolution_hz)
    if size < needed:
        raise DataError(f"{size} samples ({size / fs:.3f} s) are shorter than the {needed / fs:.2f} s an envelope spectrum "
                        f"with {resolution_hz:g} Hz resolution needs: give a longer recording, or a coarser resolution (--set resolution_hz=...)")
    return needed


def segment_starts(size: int, length: int) -> list[int]:
    """Starts of half-overlapping segments of ``length`` samples over ``size`` samples; the last one ends at the end."""
    starts = list(range(0, size - length + 1, max(1, length // 2)))
    if starts[-1] + length < size:
        starts.append(size - length)
    return starts


def signal_segments(read: Callable[[int, int], np.ndarray], size: int, length: int) -> Iterator[np.ndarray]:
    """The :func:`segment_starts` segments (float64) of a signal of ``size`` samples that ``read(a, b)`` gives piecewise,
    about :data:`SAMPLES_PER_READ` samples a read, so that no more of it is ever held."""
    starts = segment_starts(size, length)
    per_read = max(1, SAMPLES_PER_READ // length)
    for i in range(0, len(starts), per_read):
        group = starts[i : i + per_read]
        span = np.asarray(read(group[0], group[-1] + length), dtype=np.float64).ravel()
        for start in group:
            yield span[start - group[0] : start - group[0] + length]


def array_segments(x, fs: float, resolution_hz: float) -> Iterator[np.ndarray]:
    """The segments of a whole signal held in memory, checked for NaN/Inf and length."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise DataError("the signal holds NaN or Inf values: no envelope spectrum")
    return signal_segments(lambda a, b: x[a:b], x.size, segment_length(x.size, fs, resolution_hz))


def _envelope_kurtosis(filtered: np.ndarray) -> float:
    envelope = np.abs(sps.hilbert(filtered))
    return float(np.mean(envelope**4) / max(np.mean(envelope**2) ** 2, 1e-300) - 2.0)


def spectral_kurtosis_band(x, fs: float, low_hz: float = 500.0) -> tuple[tuple[float, float], float]:
    """The band of largest kurtosis of the band-passed signal's envelope (a kurtogram over :data:`BAND_FRACTIONS`,
    centres every half bandwidth), above ``low_hz``: impacts excite the structural resonance, so their band is spiky.
    ``x``: a signal, or a list of segments (their mean kurtosis counts)."""
    parts = [np.asarray(x, dtype=np.float64)] if isinstance(x, np.ndarray) and x.ndim == 1 else [np.asarray(p, dtype=np.float64) for p in x]
    best = (-np.inf, (low_hz, fs / 2 * 0.9))
    for fraction in BAND_FRACTIONS:
        width = fs * fraction
        for low in np.arange(low_hz, fs / 2 * 0.95 - width, width / 2):
            sos = sps.butter(4, (low, low + width), btype="bandpass", fs=fs, output="sos")
            kurtosis = float(np.mean([_envelope_kurtosis(sps.sosfilt(sos, part)) for part in parts]))
            if kurtosis > best[0]:
                best = (kurtosis, (float(low), float(low + width)))
    return best[1], best[0]


class EnvelopeAverage:
    """Envelope spectra of consecutive segments of ``length`` samples (Hann-windowed), averaged in power: Welch's
    estimate, fed one segment at a time. The band, unless given, is the spectral-kurtosis band of the first
    segments covering :data:`BAND_SECONDS` (a bounded stretch of signal)."""

    def __init__(self, fs: float, length: int, band: tuple[float, float] | None = None) -> None:
        self.fs, self.length, self.kurtosis = float(fs), length, float("nan")
        self.window = np.hanning(length)
        self.power = np.zeros(length // 2 + 1)
        self.count, self.moving = 0, False
        self.levels = (np.inf, -np.inf)
        self.pending: list[np.ndarray] = []
        self.band: tuple[float, float] | None = None
        if band is not None:
            self._use(band)

    def _use(self, band: tuple[float, float]) -> None:
        low, high = band
        if not 0 < low < high < self.fs / 2:
            raise DataError(f"band {band} Hz must lie inside (0, {self.fs / 2:g}) Hz")
        self.band = (float(low), float(high))
        self.sos = sps.butter(4, self.band, btype="bandpass", fs=self.fs, output="sos")

    def add(self, segment) -> None:
        segment = np.asarray(segment, dtype=np.float64).ravel()
        if segment.size != self.length:
            raise DataError(f"a segment of {segment.size} samples; the envelope spectrum averages segments of {self.length}")
        if not np.isfinite(segment).all():
            raise DataError("the signal holds NaN or Inf values: no envelope spectrum")
        low, high = float(segment.min()), float(segment.max())
        self.moving |= high > low
        self.levels = (min(self.levels[0], low), max(self.levels[1], high))
        segment = segment - segment.mean()
        if self.band is not None:
            self._accumulate(segment)
            return
        self.pending.append(segment)
        if len(self.pending) * self.length >= BAND_SECONDS * self.fs:
            self._choose_band()

    def _choose_band(self) -> None:
        band, self.kurtosis = spectral_kurtosis_band(self.pending, self.fs)
        self._use(band)
        pending, self.pending = self.pending, []
        for segment in pending:
            self._accumulate(segment)

    def _accumulate(self, segment: np.ndarray) -> None:
        envelope = np.abs(sps.hilbert(sps.sosfiltfilt(self.sos, segment)))
        envelope -= envelope.mean()
        self.power += np.abs(np.fft.rfft(envelope * self.window)) ** 2
        self.count += 1

    def spectrum(self) -> EnvelopeSpectrum:
        """The averaged envelope spectrum; DataError for no segment or a flat (constant) signal."""
        if self.count == 0 and not self.pending:
            raise DataError("no signal segment reached the envelope spectrum")
        if not self.moving:
            low, high = self.levels
            level = f"constant at {low:g}" if low == high else "constant within every segment"
            raise DataError(f"the signal is flat ({level}): no vibration, so no envelope evidence and no ISO zone; "
                            "check the sensor, its cabling and the channel read")
        if self.band is None:
            self._choose_band()
        amplitude = 2.0 * np.sqrt(self.power / self.count) / self.window.sum()
        return EnvelopeSpectrum(np.fft.rfftfreq(self.length, 1.0 / self.fs), amplitude, self.band, self.kurtosis, self.fs)


def envelope_spectrum(x, fs: float, band: tuple[float, float] | None = None, resolution_hz: float = 1.0) -> EnvelopeSpectrum:
    """The envelope spectrum of ``x`` (1-D) in the ``band`` (default: by spectral kurtosis) at ``resolution_hz``,
    averaged over half-overlapping segments of 1 / ``resolution_hz`` s; amplitudes in the signal's unit."""
    segments = array_segments(x, fs, resolution_hz)
    average = EnvelopeAverage(fs, samples_per_segment(fs, resolution_hz), band)
    for segment in segments:
        average.add(segment)
    return average.spectrum()


@dataclass(frozen=True)
class PeakEvidence:
    name: str
    expected_hz: float
    found_hz: float
    amplitude: float
    floor: float

    @property
    def ratio(self) -> float:
        return self.amplitude / self.floor if self.floor > 0 else 0.0


def _half_width(spectrum: EnvelopeSpectrum, hz: float, tolerance: float) -> float:
    return max(hz * tolerance, 1.5 * spectrum.resolution_hz)


def unchecked_reason(spectrum: EnvelopeSpectrum, name: str, hz: float, tolerance: float = 0.02, advice: str | None = None) -> str | None:
    """Why ``spectrum`` cannot show a line ``name`` at ``hz`` (None when it can), with ``advice`` (default: what to check):
    too close to 0 Hz for its resolution, or above what the envelope of its band reaches (the band's width; the Nyquist
    frequency lies further up still)."""
    half = _half_width(spectrum, hz, tolerance)
    lowest = LOWEST_BINS * spectrum.resolution_hz + half
    if hz < lowest:
        return (f"{name} at {hz:.3g} Hz lies below the {lowest:.3g} Hz that a {spectrum.resolution_hz:g} Hz resolution separates "
                f"from 0 Hz: {advice or 'check the shaft speed, or record longer and give a finer resolution (--set resolution_hz=...)'}")
    reach = spectrum.band[1] - spectrum.band[0]
    if hz + half > reach:
        nyquist = f", and above the recording's Nyquist frequency {spectrum.fs / 2:g} Hz" if hz > spectrum.fs / 2 else ""
        return (f"{name} at {hz:.1f} Hz lies above the {reach:.0f} Hz that the envelope of the band {spectrum.band[0]:.0f}-"
                f"{spectrum.band[1]:.0f} Hz reaches{nyquist}: {advice or 'check the shaft speed and the bearing'}")
    return None


def harmonic_distance(f, fundamental: float) -> np.ndarray:
    """Distance of each frequency in ``f`` to the nearest harmonic (1st and up) of ``fundamental``."""
    f = np.asarray(f, dtype=np.float64)
    return np.abs(f - np.maximum(np.round(f / fundamental), 1) * fundamental)


def resolvable(spectrum: EnvelopeSpectrum, fundamentals: Iterable[float]) -> list[float]:
    """The harmonic series (by fundamental) whose lines stand apart at the spectrum's resolution (a series denser than
    :data:`FOREIGN_BINS` steps either side of each line would cover every bin, so it is not used)."""
    return [s for s in fundamentals if s and s > 4 * FOREIGN_BINS * spectrum.resolution_hz]


def interfering(spectrum: EnvelopeSpectrum, hz: float, series: Iterable[float]) -> np.ndarray:
    """Bins within :data:`FOREIGN_BINS` resolution steps of a harmonic of a line that is not the bearing's (``series``:
    fundamentals such as the shaft's and the mains' frequency), left out of a search around ``hz`` unless ``hz`` itself
    lies that close to one of them."""
    f, width = spectrum.freqs, FOREIGN_BINS * spectrum.resolution_hz
    out = np.zeros(f.size, dtype=bool)
    for fundamental in resolvable(spectrum, series):
        if harmonic_distance(hz, fundamental) > width:
            out |= harmonic_distance(f, fundamental) <= width
    return out


def peak_at(spectrum: EnvelopeSpectrum, name: str, hz: float, tolerance: float = 0.02, floor_span: float = 0.2,
            foreign: Iterable[float] = ()) -> PeakEvidence:
    """The largest line within ``hz`` ± ``tolerance`` (slip) that is not one of the ``foreign`` lines (:func:`interfering`)
    and the median level of its neighbourhood (± ``floor_span``, the tolerance band left out): the peak-to-floor ratio
    says whether a line stands out there."""
    f, a = spectrum.freqs, spectrum.amplitude
    half = _half_width(spectrum, hz, tolerance)
    near = (f >= hz - half) & (f <= hz + half)
    if not near.any() or hz + half >= f[-1]:
        raise DataError(f"{name} at {hz:.1f} Hz lies outside the envelope spectrum (0-{f[-1]:.0f} Hz)")
    own = near & ~interfering(spectrum, hz, foreign)
    near = own if own.any() else near
    i = np.flatnonzero(near)[np.argmax(a[near])]
    around = (np.abs(f - hz) <= max(hz * floor_span, 10 * spectrum.resolution_hz)) & ~near & (f > 0)
    floor = float(np.median(a[around])) if around.any() else 0.0
    return PeakEvidence(name, float(hz), float(f[i]), float(a[i]), max(floor, FLOOR_EPS * float(a.max())))


def harmonic_name(name: str, h: int) -> str:
    return f"{h}x{name}" if h > 1 else name


def harmonic_evidence(spectrum: EnvelopeSpectrum, name: str, hz: float, harmonics: int = 3, tolerance: float = 0.02,
                      foreign: Iterable[float] = ()) -> list[PeakEvidence]:
    """:func:`peak_at` at ``hz`` and its first ``harmonics`` multiples that the spectrum can show (:func:`unchecked_reason`)."""
    found = []
    for h in range(1, harmonics + 1):
        if unchecked_reason(spectrum, harmonic_name(name, h), h * hz, tolerance) is None:
            found.append(peak_at(spectrum, harmonic_name(name, h), h * hz, tolerance, foreign=foreign))
    return found
