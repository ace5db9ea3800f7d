"""Envelope evidence for every fault type (issue 31): shaft and mains harmonics never taken for a bearing line (nor a
line that coincides with one at the resolution), the 2xBSF line's FTF sidebands, an impulsive envelope with no race line
named ball (tentative, only where the race lines were checked), the default resolution that averages, on real CWRU."""

import numpy as np
import pytest
import scipy.io
from test_physics import impacts

from syndiag.physics.bearings import bearing
from syndiag.physics.envelope import default_resolution, envelope_spectrum, peak_at
from syndiag.physics.evidence import IMPULSIVE, bearing_evidence


def test_the_default_resolution_averages_at_least_eight_segments_between_1_and_0_1_hz():
    assert default_resolution(10 * 12000, 12000.0) == pytest.approx(0.45)
    assert default_resolution(600 * 12000, 12000.0) == pytest.approx(0.1)
    assert default_resolution(12000, 12000.0) == 1.0 and default_resolution(5 * 48000, 48000.0) == pytest.approx(0.9)


def test_a_shaft_harmonic_inside_the_slip_window_is_not_taken_for_the_fan_end_bearings_outer_race_line():
    geometry, shaft = bearing("cwru-fan-end"), 1797 / 60
    x = impacts(seconds=4.0, rate=3 * shaft, snr=0.05)  # a once-per-third-revolution knock: the shaft's 3rd harmonic
    spectrum = envelope_spectrum(x, 12000.0, resolution_hz=0.5)
    bpfo = geometry.frequencies(shaft)["BPFO"]  # 91.4 Hz, 1.7 % above 3 x 29.95 Hz
    assert peak_at(spectrum, "BPFO", bpfo).ratio > 3  # the old search: the knock's line, inside the 2 % window
    assert peak_at(spectrum, "BPFO", bpfo, foreign=[shaft]).ratio < 3
    evidence, _ = bearing_evidence(x, 12000.0, geometry, shaft, resolution_hz=0.5)
    assert evidence["strongest"] != "outer_race"


def test_a_line_that_coincides_with_a_shaft_harmonic_is_not_checkable_and_says_why():
    geometry, shaft = bearing("cwru-fan-end"), 1797 / 60  # 2xBSF = 3.988 x the shaft speed: 0.36 Hz from its 4th harmonic
    evidence, _ = bearing_evidence(impacts(seconds=4.0), 12000.0, geometry, shaft, resolution_hz=1.0, mains_hz=60.0)
    ball = evidence["lines"]["ball"]
    assert not ball["checked"] and ball["not_checkable"].startswith("2xBSF at 119.4 Hz lies within 1.5 Hz of the line at 119.8 Hz")


def test_the_ball_lines_ftf_sidebands_are_reported():
    geometry, shaft = bearing("cwru-drive-end"), 1797 / 60
    f = geometry.frequencies(shaft)
    evidence, _ = bearing_evidence(impacts(seconds=4.0, rate=f["2xBSF"]), 12000.0, geometry, shaft)
    ball = evidence["lines"]["ball"]
    assert evidence["strongest"] == "ball" and ball["ftf_sidebands"]["spacing_hz"] == pytest.approx(f["FTF"], abs=0.01)
    assert len(ball["ftf_sidebands"]["ratios"]) == 2


def aperiodic(seconds=4.0, fs=12000.0, count=300, seed=1):
    """Resonance bursts at random times (no rate): impacts with no line."""
    rng = np.random.default_rng(seed)
    x = 0.05 * rng.standard_normal(int(fs * seconds))
    t = np.arange(int(0.01 * fs)) / fs
    burst = np.exp(-800 * t) * np.sin(2 * np.pi * 3500 * t)
    for start in rng.integers(0, x.size - burst.size, count):
        x[start : start + burst.size] += rng.uniform(0.3, 1.0) * burst
    return x


def test_an_impulsive_envelope_with_no_race_line_is_called_ball_tentatively_and_only_where_the_race_lines_were_checked():
    geometry, shaft = bearing("cwru-drive-end"), 1797 / 60
    evidence, _ = bearing_evidence(aperiodic(), 12000.0, geometry, shaft)
    assert evidence["envelope_kurtosis"] >= IMPULSIVE and evidence["strongest"] == "ball"
    assert evidence["strongest_basis"].startswith("impulsive envelope (kurtosis") and "tentative" in evidence["strongest_basis"]
    quiet, _ = bearing_evidence(np.random.default_rng(0).standard_normal(48000), 12000.0, geometry, shaft)
    assert quiet["strongest"] == "none" and quiet["envelope_kurtosis"] < IMPULSIVE
    unseen, _ = bearing_evidence(aperiodic(), 12000.0, geometry, 40000 / 60)  # every line beyond the envelope's reach
    assert unseen["strongest"] == "none"


@pytest.mark.parametrize("number, channel, fault", [(282, "FE", "ball"), (130, "DE", "outer_race"), (278, "FE", "inner_race"), (97, "DE", "none")])
def test_real_cwru_slices_name_their_fault_on_the_faulty_bearings_channel(cwru_dir, number, channel, fault):
    content = scipy.io.loadmat(str(cwru_dir / f"{number}.mat"))
    fs = 48000.0 if number == 97 else 12000.0
    x = content[f"X{number:03d}_{channel}_time"].ravel()[: int(3 * fs)]
    rpm = float(content[f"X{number:03d}RPM"].ravel()[0])
    evidence, _ = bearing_evidence(x, fs, bearing("cwru-drive-end" if channel == "DE" else "cwru-fan-end"), rpm / 60, mains_hz=60.0,
                                   resolution_hz=1.0)
    assert evidence["strongest"] == fault, evidence["strongest_basis"]


def test_a_verdict_whose_line_a_coarse_resolution_cannot_separate_from_another_says_so():
    geometry = bearing("femto-pronostia")  # at 1800 rpm BPFI 221.7 Hz and 2xBSF 215.3 Hz: 6.4 Hz apart
    f = geometry.frequencies(30.0)
    x = impacts(fs=25600.0, seconds=0.1, rate=f["BPFI"], resonance=5000.0)
    coarse, _ = bearing_evidence(x, 25600.0, geometry, 30.0, resolution_hz=10.0, harmonics=1)
    assert coarse["confusable_with"] == ["ball"] and "cannot tell inner race from ball" in coarse["strongest_basis"]
    fine, _ = bearing_evidence(impacts(fs=25600.0, seconds=2.0, rate=f["BPFI"], resonance=5000.0), 25600.0, geometry, 30.0, resolution_hz=1.0)
    assert fine["strongest"] == "inner_race" and fine["confusable_with"] == []
