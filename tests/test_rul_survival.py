"""RUL as a survival model with covariates (issue 32): a Weibull AFT on every learning snapshot as a landmark."""

import json
import math

import numpy as np
import pytest
from scipy.optimize import check_grad, minimize
from test_rul import femto_like, recipe, runner  # noqa: F401 (femto_like: a fixture of synthetic FEMTO folders)
from test_rul_degradation import path_unit

from syndiag.cli import app
from syndiag.config.rul import FITTABLE, RulConfig
from syndiag.errors import DataError
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_checkpoint import WEIGHTS, load_rul, save_rul
from syndiag.prognostics.rul_degradation import relative_log_hi
from syndiag.prognostics.rul_families import build_model
from syndiag.prognostics.rul_survival import WeibullSurvival, trailing_slope, weibull_aft_nll


@pytest.fixture(scope="module")
def fleet():
    return [path_unit(f"u{i}", life, i, baseline) for i, (life, baseline) in enumerate(((10000, 0.4), (14000, 0.6), (18000, 0.5), (22000, 0.3)))]


def test_a_higher_health_indicator_means_less_life_left(fleet):
    model = WeibullSurvival().fit(fleet)
    assert model.fitted["params"][1 + model.covariates.index("level")] < 0  # log T falls as the relative level rises
    held = path_unit("held", 16000, 9, 0.45)  # onset at 9,600 s, 10 x the baseline at 16,000 s
    predictions = [model.predict(held.history(int(share * len(held)))).rul_s for share in (0.3, 0.7, 0.8, 0.9, 0.97)]
    assert all(later < earlier for earlier, later in zip(predictions, predictions[1:])), predictions
    late = held.history(int(0.9 * len(held)))
    assert abs(math.log(model.predict(late).rul_s / late.actual_rul_s)) < math.log(2.0)
    level_only = WeibullSurvival(covariates=["level"]).fit(fleet)
    quiet, loud = held.history(40), held.history(150)
    assert level_only.predict(loud).rul_s < level_only.predict(quiet).rul_s / 3


def test_each_landmark_sees_only_its_past_and_the_level_is_the_relative_health_indicator(fleet):
    model = WeibullSurvival(covariates=["level", "slope", "kurtosis", "age"], window=6)
    unit = fleet[1]
    design = model.design(unit)
    for j in (7, 40, 90, len(unit) - 1):
        history = unit.history(j + 1)
        assert np.allclose(model.design(history)[-1], design[j])
        assert design[j, 0] == pytest.approx(relative_log_hi(history, "rms", 5, 0.1)[-1])
    hours = np.arange(10.0)
    assert trailing_slope(3.0 * hours + 1.0, hours, 4) == pytest.approx(np.r_[0.0, [3.0] * 9])


def test_the_weibull_likelihood_has_its_gradient_and_recovers_known_parameters_with_censoring():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 2))
    log_t = 2.0 + z @ np.array([0.5, -0.3]) + 0.4 * np.log(rng.exponential(size=4000))  # log of Exp(1) is min-extreme-value
    censor = np.log(rng.exponential(30.0, 4000))
    observed = (log_t <= censor).astype(float)
    seen, weights = np.minimum(log_t, censor), np.ones(4000)
    assert 0.1 < 1 - observed.mean() < 0.5
    point = np.array([1.0, 0.2, 0.1, -0.5])
    gradient = weibull_aft_nll(point, z, seen, observed, weights, 0.3)[1]
    assert check_grad(lambda p: weibull_aft_nll(p, z, seen, observed, weights, 0.3)[0],
                      lambda p: weibull_aft_nll(p, z, seen, observed, weights, 0.3)[1], point) < 1e-6 * np.linalg.norm(gradient)
    found = minimize(weibull_aft_nll, np.zeros(4), args=(z, seen, observed, weights, 0.0), jac=True, method="L-BFGS-B").x
    assert found[:3] == pytest.approx([2.0, 0.5, -0.3], abs=0.05) and math.exp(found[3]) == pytest.approx(0.4, abs=0.03)


def test_before_the_onset_it_says_no_degradation_yet_and_the_quantile_moves_the_estimate(fleet):
    held = path_unit("held", 16000, 9)
    early = WeibullSurvival(quantile=0.3).fit(fleet).predict(held.history(40))
    median = WeibullSurvival(quantile=0.5).fit(fleet).predict(held.history(40))
    assert early.onset_s is None and median.onset_s is None and 0 < early.rul_s < median.rul_s
    assert WeibullSurvival().fit(fleet).predict(held.history(150)).onset_s == pytest.approx(9600, abs=1500)


def test_bad_settings_and_a_mismatched_state_are_refused(fleet):
    with pytest.raises(DataError, match="survival covariates must be distinct names among level, slope, kurtosis, age, temperature, got \\['wear'\\]"):
        WeibullSurvival(covariates=["wear"])
    with pytest.raises(DataError, match="survival covariates"):
        build_model("survival", {"covariates": []})
    with pytest.raises(DataError, match="window 1"):
        build_model("survival", {"window": 1})
    with pytest.raises(DataError, match="alpha -1"):
        build_model("survival", {"alpha": -1.0})
    with pytest.raises(DataError, match="quantile must be in"):
        build_model("survival", {"quantile": 1.0})
    with pytest.raises(DataError, match="bad settings"):
        build_model("survival", {"shape": 2})
    with pytest.raises(DataError, match="not fitted"):
        WeibullSurvival().predict(fleet[0])
    model = WeibullSurvival().fit(fleet)
    with pytest.raises(DataError, match="survival state: 3 means, 3 scales, 5 parameters, 3/3 range bounds for 2 covariate"):
        WeibullSurvival(covariates=["level", "slope"]).load_state(model.state())


def test_clipped_covariates_stop_at_the_fits_range_and_unclipped_ones_extrapolate(fleet):
    from dataclasses import replace

    from syndiag.prognostics.features import FeatureTable

    held = path_unit("held", 16000, 9, 0.45).history(150)

    def louder(offset):  # the last snapshots' RMS far above anything the fit saw
        values = held.features.values.copy()
        for axis in ("h", "v"):
            values[-5:, held.features.names.index(f"{axis}_log_rms")] += offset
        return replace(held, features=FeatureTable(held.features.names, values))

    free, clipped = WeibullSurvival().fit(fleet), WeibullSurvival(clip=True).fit(fleet)
    assert clipped.fitted["params"].tolist() == free.fitted["params"].tolist(), "clipping changes the prediction, not the fit"
    assert clipped.predict(louder(6.0)).rul_s == pytest.approx(clipped.predict(louder(9.0)).rul_s), "both beyond the range: the same"
    assert free.predict(louder(9.0)).rul_s < free.predict(louder(6.0)).rul_s / 2, "unclipped: extrapolated further"
    assert clipped.predict(held).rul_s == pytest.approx(free.predict(held).rul_s), "within the range nothing changes"


def test_it_round_trips_through_a_checkpoint(tmp_path, fleet):
    model = build_model("survival", {"covariates": ["level", "slope", "kurtosis", "age"], "window": 5, "quantile": 0.3}).fit(fleet)
    intervals = ConformalIntervals.calibrate([100.0] * 12 + [50.0] * 12, [100.0] * 24, [True] * 12 + [False] * 12)
    loaded = load_rul(save_rul(tmp_path / "survival", "survival", model, intervals, [0.8]))
    history = path_unit("held", 16000, 9).history(140)
    assert loaded.family == "survival" and loaded.model.settings() == model.settings()
    assert loaded.model.predict(history).rul_s == pytest.approx(model.predict(history).rul_s)
    assert (tmp_path / "survival" / WEIGHTS).is_file()


def test_rul_fit_saves_the_survival_family_and_rul_predict_reads_it(femto_like, tmp_path):  # noqa: F811
    assert "survival" in FITTABLE and RulConfig().grid["survival"]
    fitted = runner.invoke(app, ["rul", "fit", "-c", str(recipe(tmp_path, femto_like)), "--model", "survival",
                                 "--set", "grid.survival=[{window: 5}, {window: 5, quantile: 0.3}]"])
    assert fitted.exit_code == 0, fitted.output
    assert json.loads((tmp_path / "run" / "rul-model" / "config.json").read_text())["family"] == "survival"
    predicted = runner.invoke(app, ["rul", "predict", str(femto_like / "femto" / "Test_set" / "Bearing1_3"), "--checkpoint",
                                    str(tmp_path / "run" / "rul-model"), "--png", str(tmp_path / "b13.png"), "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.output)["rul_s"] > 0
