"""Health indicators, smoothing, onset and degradation stages (syndiag/prognostics/health.py)."""

import numpy as np
import pytest

from syndiag.errors import DataError
from syndiag.prognostics.health import STAGES, health_trajectory, onset_index, smooth, time_features


def test_time_features_of_a_sine_and_an_impulse():
    t = np.arange(4096) / 4096
    sine = 2.0 * np.sin(2 * np.pi * 50 * t)
    f = time_features(np.stack([sine, np.r_[np.zeros(4095), 8.0]]))
    assert f["rms"][0] == pytest.approx(2 / np.sqrt(2), rel=1e-3) and f["crest"][0] == pytest.approx(np.sqrt(2), rel=1e-3)
    assert f["kurtosis"][0] == pytest.approx(1.5, rel=1e-2) and f["peak"][0] == pytest.approx(2.0, rel=1e-3)
    assert f["kurtosis"][1] > 1000 and f["crest"][1] == pytest.approx(64.0)  # one impulse: peaky, crest sqrt(n)
    with pytest.raises(DataError, match="finite"):
        time_features(np.array([[1.0, np.nan]]))


def test_causal_smoothing_never_looks_ahead_and_centred_smoothing_removes_a_spike():
    values = np.ones(20)
    values[10] = 100.0
    causal = smooth(values, 5, causal=True)
    assert np.all(causal == 1.0)  # one spike in five is the minority of any window
    step = np.r_[np.zeros(10), np.ones(10)]
    assert np.all(smooth(step, 5, causal=True)[:12] == 0.0)  # the rise shows only once it is the majority of the past window
    assert np.all(smooth(step, 5)[:9] == 0.0) and smooth(step, 5)[10] == 1.0
    with pytest.raises(DataError, match="window"):
        smooth(values, 0)


def synthetic_trajectory(rise_at=60, n=100, seed=0):
    rng = np.random.default_rng(seed)
    hi = 0.4 + 0.01 * rng.standard_normal(n)
    k = np.arange(n - rise_at)
    hi[rise_at:] += 0.4 * (np.exp(k / 10.0) - 1) / 10.0
    return hi


def test_onset_follows_the_rise_and_stages_never_go_down():
    for rise_at in (40, 60):
        trajectory = health_trajectory(synthetic_trajectory(rise_at))
        assert rise_at <= trajectory.onset <= rise_at + 10
        assert np.all(np.diff(trajectory.stages) >= 0) and set(trajectory.stages) == {0, 1, 2}
        first_severe = int(np.argmax(trajectory.stages == 2))
        assert trajectory.smoothed[first_severe] >= 4.0 * trajectory.baseline_mean
        assert trajectory.smoothed[first_severe - 1] < 4.0 * trajectory.baseline_mean
        assert trajectory.stage_names()[0] == STAGES[0] and trajectory.stage_names()[-1] == "severe"


def test_a_flat_unit_stays_healthy_and_one_spike_is_no_onset():
    flat = synthetic_trajectory(rise_at=100)
    flat[70] = 5.0
    trajectory = health_trajectory(flat)
    assert trajectory.onset is None and not trajectory.stages.any()
    assert onset_index(np.r_[np.zeros(10), 1.0, 0.0, 1.0, 1.0, 1.0], baseline=10, persistence=3) == 12


def test_bad_trajectories_are_refused():
    with pytest.raises(DataError, match="at least"):
        health_trajectory(np.ones(4))
    with pytest.raises(DataError, match="finite"):
        health_trajectory(np.r_[np.ones(20), np.nan])
    with pytest.raises(DataError, match="severe_ratio"):
        health_trajectory(np.ones(20), severe_ratio=1.0)
