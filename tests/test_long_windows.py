"""Long windows (article, 'long high-frequency time series'): the spectrum path reads a window longer than its grid's
segment as the Welch average of its segments, on the same grid in Hz; the segment is chosen by validation on the pool;
the default keeps the whole-window spectrum (and every result made with it)."""

import numpy as np
import pytest
import scipy.signal
from test_spectral_path import tone

from syndiag.config.spectral import SpectralPathConfig
from syndiag.errors import DataError
from syndiag.models.spectrum_view import SpectrumGrid, log_power, spectrum_view
from syndiag.training.spectral import fit_spectral_path


def test_a_long_window_is_the_welch_average_of_its_segments_on_the_same_grid():
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((3, 2, 6000))
    ours = log_power(windows, 512)
    _, power = scipy.signal.welch(windows, 12000.0, window=np.hanning(512), nperseg=512, noverlap=256, detrend="constant", axis=-1)
    inner = ours[..., 1:-1] - np.log(power[..., 1:-1])  # scipy doubles the one-sided bins but DC and Nyquist; a constant otherwise
    assert ours.shape == (3, 2, 257) and np.ptp(inner) < 1e-9
    grid = SpectrumGrid.for_windows(12000.0, 512)
    assert grid.segment(12000.0) == 512 and grid.segment(48000.0) == 2048
    assert spectrum_view(windows, 12000.0, grid).shape == spectrum_view(windows[..., :512], 12000.0, grid).shape == (3, 514)


def test_the_default_grid_reads_a_window_of_its_own_length_as_before():
    windows = tone(1000.0, 12000.0, 512, n=2, noise=0.5)
    centred = windows - windows.mean(axis=-1, keepdims=True)
    before = np.log(np.abs(np.fft.rfft(centred * np.hanning(512), axis=-1)) ** 2 + 1e-12)
    after = spectrum_view(windows, 12000.0, SpectrumGrid.for_windows(12000.0, 512))
    assert np.allclose(after.reshape(2, 1, -1), before - before.mean(axis=-1, keepdims=True), atol=1e-9)
    assert SpectralPathConfig().material() == SpectralPathConfig(segments=[]).material()
    assert "segments" not in SpectralPathConfig().material() and SpectralPathConfig(segments=[512]).material()["segments"] == [512]


def test_averaging_segments_steadies_a_noisy_tone_at_the_same_resolution():
    grid = SpectrumGrid.for_windows(12000.0, 12000, segment=512)
    assert grid.bins == 257 and grid.step_hz == pytest.approx(12000 / 512)
    short = spectrum_view(tone(1500.0, 12000.0, 512, n=20, noise=3.0, seed=1), 12000.0, grid)
    long = spectrum_view(tone(1500.0, 12000.0, 12000, n=20, noise=3.0, seed=1), 12000.0, grid)
    peak = int(round(1500 / grid.step_hz))
    assert np.all(np.argmax(long, axis=1) == peak) and not np.all(np.argmax(short, axis=1) == peak)
    assert long.std(axis=0).mean() < short.std(axis=0).mean() / 3  # 45 segments: the noise floor barely moves


def test_the_cost_of_the_view_grows_linearly_with_the_window(monkeypatch):
    transformed = []
    rfft = np.fft.rfft
    monkeypatch.setattr(np.fft, "rfft", lambda x, *a, **k: transformed.append(np.asarray(x).size) or rfft(x, *a, **k))
    grid = SpectrumGrid.for_windows(12000.0, 512)
    rng = np.random.default_rng(2)
    for length in (6000, 48000):
        assert spectrum_view(rng.standard_normal((8, 2, length)), 12000.0, grid).shape == (8, 514)
    segments = [(length - 512) // 256 + 1 for length in (6000, 48000)]  # 22 and 186 Hann segments of 512 samples
    assert transformed == [8 * 2 * n * 512 for n in segments]  # every sample through the FFT about twice: linear in the length


def test_a_bad_segment_is_refused_naming_it():
    with pytest.raises(DataError, match="segment of 1024 samples.*512"):
        SpectrumGrid.for_windows(12000.0, 512, segment=1024)
    pool, labels = tone(1000.0, 12000.0, 512, n=4), np.zeros(4, dtype=int)
    with pytest.raises(Exception, match="every segment is longer"):
        fit_spectral_path(pool, labels, labels, 12000.0, SpectralPathConfig(segments=[2048]), seed=0)


def test_the_path_chooses_its_segment_on_the_pool_and_reads_longer_windows_at_another_rate():
    a = tone(1000.0, 12000.0, 4096, 30, noise=1.0, seed=4)
    b = tone(1012.0, 12000.0, 4096, 30, noise=1.0, seed=5)  # 12 Hz apart
    pool, labels = np.concatenate([a, b]).astype(np.float32), np.repeat([0, 1], 30)
    config = SpectralPathConfig(segments=[256, 2048, 8192], components=[5], noise_copies=0)
    path = fit_spectral_path(pool, labels, np.tile([0, 1], 30), 12000.0, config, seed=0)
    scores = path.segment_validation
    assert set(scores) == {256, 2048}  # 8192 is longer than the windows
    assert path.grid.segment(12000.0) == max(scores, key=lambda s: (scores[s], -s)) and max(scores.values()) > 0.8
    features = path.features(pool, 12000.0)
    assert features.shape == (60, 1) and abs(features[:30].mean() - features[30:].mean()) > features.std()
    from scipy.signal import resample_poly  # the same windows at 48 kHz land on the same grid

    at_48k = path.features(resample_poly(pool, 4, 1, axis=-1), 48000.0)
    assert np.corrcoef(at_48k[:, 0], features[:, 0])[0, 1] > 0.95


def test_a_sensor_model_of_1_s_windows_diagnoses_a_whole_file_in_whole_1_s_windows(cwru_dir):
    from types import SimpleNamespace

    from syndiag.config.data import WindowConfig
    from syndiag.config.sensor import ChannelSpec
    from syndiag.data.model_input import read_input
    from syndiag.serving.stream import EndingWindows, cut_block, window_ends

    layout = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=12000), ChannelSpec(name="FE", kind="vibration", fs=12000, length=12000),
              ChannelSpec(name="speed", kind="speed", fs=1, length=1)]
    found = read_input(cwru_dir / "108.mat", layout, layout=True)  # a real recording, about 10 s at 12 kHz
    samples = found.channels["DE"].size
    for clock in (12000, 512):  # the model's window as its data section says, or a clock shorter than its channels' windows
        plan = SimpleNamespace(fs=12000.0, grid=None, stacked=[], layout=layout, data=SimpleNamespace(window=WindowConfig(length=clock, step=3000)))
        ends = window_ends(found, plan)
        assert ends[0] == pytest.approx(1.0) and ends.size == (samples - 12000) // 3000 + 1
        signals, present, _ = cut_block(found, plan, ends)
        assert signals["DE"].shape == (ends.size, 12000) and present.all()
        for k in (0, ends.size - 1):
            np.testing.assert_array_equal(signals["DE"][k], found.channels["DE"][k * 3000 : k * 3000 + 12000].astype(np.float32))
        assert EndingWindows(found, plan).window_seconds == pytest.approx(1.0)
