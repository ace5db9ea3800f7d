"""Signal physics: defect frequencies against CWRU's published multiples, the envelope detector on simulated signals
with a known defect frequency, ISO zone boundaries and the velocity integration, and the refusals."""

import math

import numpy as np
import pytest
import yaml

from syndiag.errors import ConfigError, DataError
from syndiag.physics.bearings import bearing
from syndiag.physics.envelope import envelope_spectrum, harmonic_evidence, peak_at
from syndiag.physics.iso_zones import severity_zone, velocity_rms_mm_s


@pytest.mark.parametrize("name, published", [
    ("cwru-drive-end", {"BPFI": 5.4152, "BPFO": 3.5848, "FTF": 0.39828, "2xBSF": 4.7135}),
    ("cwru-fan-end", {"BPFI": 4.9469, "BPFO": 3.0530, "FTF": 0.3817, "2xBSF": 3.9874}),
])
def test_defect_frequencies_match_the_cwru_published_multiples_of_running_speed(name, published):
    orders = bearing(name).orders()
    for line, value in published.items():
        assert orders[line] == pytest.approx(value, rel=2e-4), line


def test_hand_computed_drive_end_frequencies_at_1797_rpm():
    # 6205: n = 9, d/D = 0.3126/1.537 = 0.203383; f_r = 29.95 Hz
    f = bearing("cwru-drive-end").frequencies(1797 / 60)
    r = 0.3126 / 1.537
    assert f["BPFI"] == pytest.approx(9 / 2 * 29.95 * (1 + r)) and f["BPFI"] == pytest.approx(162.19, abs=0.01)
    assert f["BPFO"] == pytest.approx(107.36, abs=0.01) and f["FTF"] == pytest.approx(11.93, abs=0.01)
    assert f["BSF"] == pytest.approx(1.537 / (2 * 0.3126) * 29.95 * (1 - r**2)) and f["2xBSF"] == pytest.approx(2 * f["BSF"])


def test_femto_geometry_gives_the_usual_pronostia_lines_at_1800_rpm():
    f = bearing("femto-pronostia").frequencies(30.0)
    assert (round(f["BPFO"]), round(f["BPFI"]), round(f["FTF"]), round(f["BSF"])) == (168, 222, 13, 108)


def test_bad_geometries_and_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown bearing 'skf-9999'.*cwru-drive-end"):
        bearing("skf-9999")
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump({"name": "odd", "rolling_elements": 8, "ball_diameter": 30.0, "pitch_diameter": 25.0}))
    with pytest.raises(ConfigError, match="smaller than the pitch diameter"):
        bearing(path)
    path.write_text(yaml.safe_dump({"name": "ok", "rolling_elements": 8, "ball_diameter": 7.9, "pitch_diameter": 39.0, "contact_angle_deg": 15}))
    assert bearing(path).orders()["BPFO"] == pytest.approx(4 * (1 - 7.9 / 39.0 * math.cos(math.radians(15))))
    with pytest.raises(ConfigError, match="positive"):
        bearing("cwru-drive-end").frequencies(0.0)


def impacts(fs=12000.0, seconds=2.0, rate=107.4, resonance=3500.0, seed=0, snr=0.2):
    """A train of decaying resonance bursts at ``rate`` per second (1 % random jitter) in white noise."""
    rng = np.random.default_rng(seed)
    n = int(fs * seconds)
    x = np.zeros(n)
    t = np.arange(int(0.01 * fs)) / fs
    burst = np.exp(-800 * t) * np.sin(2 * np.pi * resonance * t)
    time = rng.uniform(0, 1 / rate)
    while time < seconds - 0.011:
        i = int(time * fs)
        x[i : i + burst.size] += burst
        time += (1 / rate) * (1 + 0.01 * rng.standard_normal())
    return x + snr * rng.standard_normal(n) * np.abs(burst).max()


def test_the_envelope_finds_a_known_defect_frequency_and_its_band():
    spectrum = envelope_spectrum(impacts(), 12000.0)
    assert spectrum.band[0] < 3500 < spectrum.band[1] + 750 and spectrum.resolution_hz <= 1.0
    found = harmonic_evidence(spectrum, "BPFO", 107.4)
    assert found[0].found_hz == pytest.approx(107.4, abs=2.5) and found[0].ratio > 5
    assert found[1].found_hz == pytest.approx(214.8, abs=5.0) and found[1].ratio > 3
    elsewhere = peak_at(spectrum, "BPFI", 162.2)
    assert elsewhere.ratio < found[0].ratio / 2


def test_pure_noise_shows_no_line_standing_out():
    rng = np.random.default_rng(3)
    spectrum = envelope_spectrum(rng.standard_normal(24000), 12000.0)
    assert max(p.ratio for p in harmonic_evidence(spectrum, "BPFO", 107.4)) < 4


def test_too_short_or_non_finite_recordings_are_refused():
    with pytest.raises(DataError, match="shorter than the 1.00 s"):
        envelope_spectrum(np.ones(6000), 12000.0, resolution_hz=1.0)
    x = impacts(seconds=1.5)
    x[10] = np.nan
    with pytest.raises(DataError, match="NaN"):
        envelope_spectrum(x, 12000.0)


def test_velocity_of_a_known_sine_and_the_zone_boundaries():
    fs, f, v_peak = 12000.0, 100.0, 2.0e-3  # 2 mm/s peak velocity at 100 Hz -> acceleration 2 pi f v
    t = np.arange(int(fs * 2)) / fs
    acceleration = 2 * np.pi * f * v_peak * np.cos(2 * np.pi * f * t) / 9.80665
    assert velocity_rms_mm_s(acceleration, fs) == pytest.approx(2.0 / math.sqrt(2), rel=1e-3)
    assert velocity_rms_mm_s(acceleration * 9.80665, fs, unit="m/s2") == pytest.approx(2.0 / math.sqrt(2), rel=1e-3)
    assert velocity_rms_mm_s(np.sin(2 * np.pi * 5.0 * t), fs) < 1e-6  # 5 Hz lies below the 10 Hz band edge
    group = "iso-20816-3:group2-rigid"
    assert [severity_zone(v, group).zone for v in (0.0, 1.39, 1.4, 2.79, 2.8, 4.49, 4.5, 30.0)] == list("AABBCCDD")
    assert [severity_zone(v, group).zone for v in (1.39, 1.4, 2.8, 4.5)] == ["A", "B", "C", "D"]
    assert severity_zone(3.0, "iso-20816-3:group1-flexible").zone == "A"
    with pytest.raises(ConfigError, match="unknown machine group"):
        severity_zone(1.0, "group9")
