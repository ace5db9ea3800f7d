"""RUL from degradation paths (issue 32): trajectory similarity, Bayesian exponential, intervals by onset state."""

import math

import numpy as np
import pytest

from syndiag.errors import DataError
from syndiag.prognostics.features import FeatureTable, feature_names
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_checkpoint import load_rul, save_rul
from syndiag.prognostics.rul_degradation import BayesianExponential, SimilarityRul, relative_log_hi, weighted_quantile
from syndiag.prognostics.rul_families import build_model
from syndiag.prognostics.units import Unit
from syndiag.workflows.rul_lobo import LoboRow, lobo_summary

STEP_S = 100.0


def path_unit(name: str, life_s: float, seed: int, baseline: float = 0.5, onset_share: float = 0.6) -> Unit:
    """RMS flat at ``baseline`` (2 % noise) until ``onset_share`` of the life, then exponential to 10 x at failure."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, life_s + 1, STEP_S)
    onset = onset_share * life_s
    rms = baseline * np.exp(np.where(t > onset, math.log(10.0) * (t - onset) / (life_s - onset), 0.0)) * (1 + 0.02 * rng.standard_normal(t.size))
    names = feature_names()
    values = np.zeros((t.size, len(names)))
    for axis in ("h", "v"):
        values[:, names.index(f"{axis}_log_rms")] = np.log(rms)
        values[:, names.index(f"{axis}_log_peak")] = np.log(4 * rms)
        values[:, names.index(f"{axis}_log_kurtosis")] = math.log(3.0)
    return Unit(name, "x", t, FeatureTable(names, values), failed=True)


@pytest.fixture(scope="module")
def fleet() -> list[Unit]:
    return [path_unit(f"u{i}", life, i, baseline) for i, (life, baseline) in enumerate(((10000, 0.4), (14000, 0.6), (18000, 0.5), (22000, 0.3)))]


def test_the_relative_health_indicator_is_zero_at_the_baseline_and_grows_by_ln_10(fleet):
    hi = relative_log_hi(fleet[0], "rms", 5, 0.1)
    assert abs(hi[:20]).max() < 0.1 and hi[-1] == pytest.approx(math.log(10.0), abs=0.15)
    assert weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]), 0.5) == pytest.approx(2.0)
    assert weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0]), 0.5) == pytest.approx(3.0)


@pytest.mark.parametrize("family, settings", [("similarity", {"bandwidth": 0.25, "window": 10}),
                                              ("bayesian-exponential", {"prior_scale": 1.0})])
def test_a_held_out_unit_degrading_like_the_fleet_gets_its_rul_within_a_third(fleet, family, settings):
    held = path_unit("held", 16000, 9, 0.45)
    model = build_model(family, settings).fit(fleet)
    for share in (0.75, 0.85, 0.95):
        count = int(share * len(held))
        estimate = model.predict(held.history(count))
        truth = held.rul_s[count - 1]
        assert estimate.onset_s is not None and estimate.onset_s == pytest.approx(0.6 * 16000, abs=1500)
        assert abs(estimate.rul_s - truth) < truth / 3 + 300, (share, estimate, truth)


def test_before_the_onset_the_gated_models_say_so_and_give_the_floor(fleet):
    held = path_unit("held", 16000, 9)
    history = held.history(40)  # 3,900 s: still at the baseline
    for model in (SimilarityRul(gate=True).fit(fleet), BayesianExponential().fit(fleet)):
        estimate = model.predict(history)
        lives = np.array([u.time_s[-1] for u in fleet])
        assert estimate.onset_s is None and estimate.rul_s == pytest.approx(lives.mean() - 3900.0) and "no onset yet" in estimate.how
    ungated = SimilarityRul(gate=False, bandwidth=0.25).fit(fleet).predict(history)
    assert ungated.onset_s is None and "matched" in ungated.how and ungated.rul_s > 0


def test_settings_out_of_range_and_a_fleet_without_degradation_are_refused(fleet):
    with pytest.raises(DataError, match="window 1"):
        SimilarityRul(window=1)
    with pytest.raises(DataError, match="quantile must be in"):
        BayesianExponential(quantile=1.5)
    flat = [path_unit(f"f{i}", 8000, i, onset_share=0.999) for i in range(3)]
    with pytest.raises(DataError, match="needs at least 2 fitted units with an onset"):
        BayesianExponential().fit(flat)


@pytest.mark.parametrize("family", ["similarity", "bayesian-exponential"])
def test_the_new_families_round_trip_through_a_checkpoint(tmp_path, fleet, family):
    model = build_model(family, {}).fit(fleet)
    intervals = ConformalIntervals.calibrate([100.0] * 12 + [50.0] * 12, [100.0] * 24, [True] * 12 + [False] * 12)
    loaded = load_rul(save_rul(tmp_path / family, family, model, intervals, [0.8]))
    history = path_unit("held", 16000, 9).history(140)
    assert loaded.model.predict(history).rul_s == pytest.approx(model.predict(history).rul_s)
    assert loaded.intervals.degrading == intervals.degrading and loaded.model.settings() == model.settings()


def test_intervals_use_the_residuals_of_their_own_state_and_give_a_one_sided_bound_before_the_onset():
    degrading = [math.log(v) for v in np.linspace(0.8, 1.25, 12)]  # tight after the onset
    healthy = [math.log(v) for v in np.linspace(0.1, 10.0, 12)]  # wide before it
    intervals = ConformalIntervals(tuple(degrading + healthy), (True,) * 12 + (False,) * 12)
    low, high = intervals.bounds(1000.0, 0.8, degrading=True)
    assert high / low < 1.6
    low, high = intervals.bounds(1000.0, 0.8, degrading=False)
    assert high / low > 10
    # one-sided 80 %: the floor(13 x 0.2) = 2nd smallest healthy residual
    assert intervals.at_least(1000.0, 0.8, degrading=False) == pytest.approx(1000.0 * sorted(np.exp(healthy))[1])
    few = ConformalIntervals(tuple(degrading + healthy[:3]), (True,) * 12 + (False,) * 3)
    assert np.array_equal(few.pool(False), np.array(few.residuals))  # too few of its own: every residual


def test_lobo_records_coverage_per_held_out_unit_and_the_median_width():
    rows = [LoboRow(unit, 0.5, n, 0.0, actual, actual * factor, "m", degrading)
            for unit, factor in (("A", 1.0), ("B", 1.0), ("C", 2.0)) for n, actual, degrading in ((5, 1000.0, True), (9, 400.0, False))]
    summary = lobo_summary(rows, [0.8])
    assert summary["per_unit"]["A"]["coverage_0.8"] == 1.0 and summary["per_unit"]["C"]["coverage_0.8"] == 0.0
    assert summary["interval_ratio_0.8_median"] == pytest.approx(2.0) and summary["degrading_share"] == 0.5
