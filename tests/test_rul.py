"""Remaining useful life: the challenge score, conformal intervals, the RUL models, checkpoints, LOBO, the CLI and the suite."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from figures import drawn, labelled_lines, record_figures, reference_lines
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.rul import RulConfig
from syndiag.data import femto as femto_data
from syndiag.data.femto_files import read_table
from syndiag.digests import with_digest
from syndiag.errors import ConfigError, DataError
from syndiag.prognostics.features import FeatureTable, feature_names, snapshot_features
from syndiag.prognostics.intervals import ConformalIntervals, conformal_quantile
from syndiag.prognostics.rul_checkpoint import load_rul, save_rul
from syndiag.prognostics.rul_families import build_model
from syndiag.prognostics.rul_models import DegradationTrend, HistoryRegression, MeanResidualLife
from syndiag.prognostics.score import challenge_accuracy, challenge_score, interval_coverage, percent_error, rul_errors
from syndiag.prognostics.units import Unit, read_unit, read_units
from syndiag.workflows import rul as rul_workflow
from syndiag.workflows.rul import run_rul_fit, run_rul_predict, run_rul_suite
from syndiag.prognostics.rul_prediction import RulPredictor
from syndiag.workflows.rul_lobo import LoboRow, lobo_rows, lobo_summary, select

runner = CliRunner()
ACC_FS = 25600.0


def test_percent_error_and_challenge_accuracy_by_hand():
    assert percent_error(100.0, 90.0).tolist() == [10.0]
    assert percent_error(100.0, 110.0).tolist() == [-10.0]
    # Er = -5 (5 % late): exp(ln 2 * -5 / 5) = 0.5; Er = +20 (20 % early): exp(-ln 2 * 20 / 20) = 0.5
    assert challenge_accuracy([0.0, -5.0, 20.0, -10.0, 40.0]) == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])
    # late is punished four times harder than early for the same |Er|
    assert challenge_accuracy(-10.0) == pytest.approx(challenge_accuracy(40.0))
    assert challenge_accuracy(-10.0) < challenge_accuracy(10.0)
    # one prediction per unit: the mean of A, not a per-sample score
    assert challenge_score([1000.0, 200.0], [950.0, 210.0]) == pytest.approx((0.5 ** (5 / 20) + 0.5 ** (5 / 5)) / 2)
    assert challenge_accuracy(1e6) == 0.0 and np.isfinite(challenge_accuracy(-1e6))


def test_rul_errors_count_late_predictions_and_refuse_bad_values():
    errors = rul_errors([100.0, 100.0, 100.0], [40.0, 151.0, 100.0])
    assert errors["late_over_50pct"] == 1 and errors["count"] == 3
    assert errors["mae_s"] == pytest.approx((60 + 51) / 3)
    with pytest.raises(DataError, match="above 0 s"):
        percent_error([0.0], [1.0])
    with pytest.raises(DataError, match="one shape"):
        rul_errors([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="finite"):
        rul_errors([1.0], [float("nan")])


def test_conformal_intervals_use_the_corrected_rank_and_cover_exchangeable_residuals():
    residuals = np.arange(1.0, 10.0)  # 9 values: the 0.9 quantile is the ceil(10 * 0.9) = 9th
    assert conformal_quantile(residuals, 0.9) == 9.0
    assert conformal_quantile(residuals, 0.5) == 5.0
    rng = np.random.default_rng(0)
    truth = np.exp(rng.normal(8, 1, 4000))
    predicted = truth * np.exp(rng.normal(0, 0.5, 4000))
    intervals = ConformalIntervals.calibrate(truth[:2000], predicted[:2000])
    for level in (0.8, 0.95):
        low, high = intervals.bounds(predicted[2000:], level)
        assert interval_coverage(truth[2000:], low, high) == pytest.approx(level, abs=0.03)
    assert interval_coverage([1.0, 5.0], [0.0, 0.0], [2.0, 2.0]) == 0.5
    with pytest.raises(DataError, match="lower bound"):
        interval_coverage([1.0], [2.0], [1.0])
    with pytest.raises(DataError, match="level"):
        intervals.bounds(1.0, 1.0)


def test_health_features_are_named_finite_and_grow_with_the_vibration():
    rng = np.random.default_rng(1)
    quiet, loud = rng.normal(0, 0.4, (3, 2560)), rng.normal(0, 4.0, (3, 2560))
    table = snapshot_features(np.vstack([quiet, loud]), np.vstack([quiet, loud]), ACC_FS)
    assert table.names == feature_names() and table.values.shape == (6, len(table.names)) and np.isfinite(table.values).all()
    assert (table.column("h_log_rms")[3:] > table.column("h_log_rms")[:3] + 2).all()
    with pytest.raises(DataError, match="no health feature"):
        table.column("x_rms")


def degrading_unit(name: str, life_s: float, rng: np.random.Generator, period: float = 10.0, failed: bool = True) -> Unit:
    """A unit whose RMS is flat, then grows exponentially over its last 40 % of life to about 20 g peak."""
    t = np.arange(0.0, life_s + period / 2, period)
    onset = 0.6 * life_s
    rms = 0.4 * np.exp(np.clip(t - onset, 0, None) / (0.4 * life_s) * math.log(12.0)) * np.exp(rng.normal(0, 0.03, t.size))
    names = feature_names(1)
    values = np.zeros((t.size, len(names)))
    for axis in ("h", "v"):
        values[:, names.index(f"{axis}_log_rms")] = np.log(rms)
        values[:, names.index(f"{axis}_log_peak")] = np.log(rms * 4.0)
        values[:, names.index(f"{axis}_log_kurtosis")] = np.log(3.0)
    return Unit(name, "1800rpm_4000N", t, FeatureTable(names, values), failed)


@pytest.fixture(scope="module")
def fleet():
    rng = np.random.default_rng(2)
    return [degrading_unit(f"Bearing1_{i + 1}", life, rng) for i, life in enumerate((3000.0, 4000.0, 5000.0, 6000.0))]


def test_the_floor_is_the_mean_remaining_life_of_longer_lived_units(fleet):
    model = MeanResidualLife().fit(fleet)
    assert model.predict(fleet[3].history(351)).rul_s == pytest.approx((4000 + 5000 + 6000) / 3 - 3500)
    late = model.predict(fleet[3].history(len(fleet[3])))
    assert late.rul_s == 0.0 and "due now" in late.how


def test_an_exponential_trend_extrapolates_to_the_threshold(fleet):
    unit = fleet[2]  # life 5000 s, onset at 3000 s; the peak reaches 4 x 0.4 x 12 = 19.2 g at failure
    model = DegradationTrend(model="exponential", indicator="peak", threshold=None, window=20).fit(fleet)
    assert model.fitted_threshold == pytest.approx(19.2, rel=0.05)
    estimate = model.predict(unit.history(421))  # at 4200 s, 800 s left
    assert estimate.onset_s == pytest.approx(3000, abs=300)
    assert estimate.rul_s == pytest.approx(800, abs=200)
    healthy = model.predict(unit.history(100))
    assert healthy.onset_s is None and "no onset" in healthy.how


def test_the_history_regression_learns_rul_from_the_features(fleet):
    model = HistoryRegression(history=6, alpha=0.1).fit(fleet[:3])
    unit = fleet[3]
    late = [model.predict(unit.history(n)).rul_s for n in (480, 540, 580)]
    truth = [unit.rul_s[n - 1] for n in (480, 540, 580)]
    assert late[0] > late[1] > late[2]
    assert np.all(np.abs(np.log(np.array(late) / np.array(truth))) < math.log(2.5))
    with pytest.raises(DataError, match="needs a history of at least 6"):
        model.predict(unit.history(3))


def test_fitting_refuses_units_that_did_not_fail_and_unknown_models(fleet):
    with pytest.raises(DataError, match="ran to failure"):
        MeanResidualLife().fit([fleet[0].history(10)])
    with pytest.raises(DataError, match="unknown RUL model 'arima'"):
        build_model("arima", {})
    with pytest.raises(DataError, match="bad settings"):
        build_model("history-regression", {"depth": 3})


def test_lobo_holds_each_unit_out_and_coverage_uses_only_the_others(fleet):
    rows = lobo_rows("history-regression", {"history": 3, "alpha": 1.0}, fleet, [0.5, 0.9])
    assert [r.unit for r in rows] == [u.name for u in fleet for _ in range(2)]
    assert all(r.actual_s == pytest.approx(max(u.rul_s[r.count - 1], 10.0)) for u in fleet for r in rows if r.unit == u.name)
    summary = lobo_summary(rows, [0.8])
    assert set(summary["per_unit"]) == {u.name for u in fleet} and set(summary) >= {"coverage_0.8", "score", "rmse_s"}
    chosen = select("history-regression", [{"history": 3, "alpha": 1.0}, {"history": 3, "alpha": 1.0, "shrink": 0.01}], fleet, [0.5, 0.9])
    assert chosen.settings == {"history": 3, "alpha": 1.0} and len(chosen.tried) == 2
    with pytest.raises(ConfigError, match="at least 2"):
        lobo_rows("mean-residual-life", {}, fleet[:1], [0.5])


def test_a_checkpoint_round_trips_and_a_corrupt_one_is_named(tmp_path, fleet):
    model = HistoryRegression(history=3, alpha=1.0).fit(fleet)
    intervals = ConformalIntervals((-0.5, 0.0, 0.5))
    folder = save_rul(tmp_path / "rul-model", "history-regression", model, intervals, [0.8], {"bands": 1})
    loaded = load_rul(folder)
    history = fleet[0].history(100)
    assert loaded.model.predict(history).rul_s == pytest.approx(model.predict(history).rul_s)
    assert loaded.intervals == intervals and loaded.meta["bands"] == 1
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(DataError, match="model.safetensors: its sha256 does not match"):
        load_rul(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(with_digest({**config, "weights_sha256": hashlib.sha256(b"garbage").hexdigest()},
                                                               "content_sha256")))
    with pytest.raises(DataError, match="model.safetensors: unreadable"):
        load_rul(folder)
    with pytest.raises(DataError, match="not a RUL checkpoint"):
        load_rul(tmp_path)


def write_snapshot(path: Path, start_s: float, amplitude: float, rng: np.random.Generator, sep: str = ",") -> None:
    t = start_s + np.arange(2560) / ACC_FS
    clock = t % 86400
    table = np.column_stack([clock // 3600, clock % 3600 // 60, np.floor(clock % 60), np.round((t % 1) * 1e6),
                             rng.normal(0, amplitude, (2560, 2))])
    np.savetxt(path, table, fmt=["%d", "%d", "%d", "%d", "%.4f", "%.4f"], delimiter=sep)


def write_fleet(root: Path, lives: dict[str, int], test: dict[str, tuple[int, int]]) -> Path:
    """FEMTO layout: learning bearings with ``lives`` snapshots each run to failure; test bearings cut at (snapshots, of life).
    Thinned numbering (every 3rd file kept), snapshots every 10 s, both separators."""
    rng = np.random.default_rng(3)
    for set_name, units in (("Learning_set", {k: (v, v) for k, v in lives.items()}), ("Test_set", test)):
        for index, (name, (kept, life)) in enumerate(units.items()):
            folder = root / "femto" / set_name / name
            folder.mkdir(parents=True)
            for k in range(kept):
                amplitude = 0.4 * 12 ** max(0.0, (k - 0.6 * life) / (0.4 * life))
                write_snapshot(folder / f"acc_{3 * k + 1:05d}.csv", 3600.0 + 10 * k, amplitude, rng, ";" if index % 2 else ",")
    return root


def register_official(patch: pytest.MonkeyPatch, test_set: Path, ruls: dict[str, float]) -> None:
    """Make the synthetic test bearings official by content: their last snapshots' sha256 in the official table."""
    rows = [{"bearing": name, "actual_rul_s": str(rul), "last_snapshot_sha256": hashlib.sha256(
        sorted((test_set / name).glob("acc_*.csv"))[-1].read_bytes()).hexdigest()} for name, rul in ruls.items()]
    patch.setattr(femto_data, "official_table", lambda: rows)


@pytest.fixture(scope="module")
def femto_like(tmp_path_factory):
    root = write_fleet(tmp_path_factory.mktemp("rul"), {"Bearing1_1": 30, "Bearing1_2": 24, "Bearing2_1": 36},
                       {"Bearing1_3": (20, 30), "Bearing2_3": (12, 16)})
    with pytest.MonkeyPatch.context() as patch:
        register_official(patch, root / "femto" / "Test_set", {"Bearing1_3": 5730.0, "Bearing2_3": 7530.0})
        yield root


def test_units_read_from_the_femto_layout_with_gaps_both_separators_and_a_cache(femto_like, tmp_path):
    units = read_units(femto_like, "learning", cache_dir=tmp_path / "cache")
    assert [u.name for u in units] == ["Bearing1_1", "Bearing1_2", "Bearing2_1"] and all(u.failed for u in units)
    assert np.allclose(units[0].time_s, 10.0 * np.arange(30), atol=1e-3)
    assert units[0].rul_s[0] == pytest.approx(290.0, abs=1e-3)
    cached = read_units(femto_like, "learning", cache_dir=tmp_path / "cache")
    assert np.array_equal(cached[1].features.values, units[1].features.values) and len(list((tmp_path / "cache").iterdir())) == 3
    test = read_unit(femto_like / "femto" / "Test_set" / "Bearing1_3", "test")
    assert not test.failed and test.actual_rul_s == 5730.0 and test.official == "Bearing1_3"  # by its last snapshot's sha256
    with pytest.raises(DataError, match="not found"):
        read_units(femto_like, "learning", names=["Bearing9_9"])


def test_a_file_mixing_separators_is_named(tmp_path):
    path = tmp_path / "acc_00001.csv"
    path.write_text("1,2,3,4,0.5,0.6\n1;2;3;4;0.5;0.6\n")
    with pytest.raises(DataError, match=r"acc_00001.csv: mixes ',' and ';' separators \(both by line 2\)"):
        read_table(path, 6)


def test_lobo_coverage_puts_each_unit_in_intervals_from_the_other_units_residuals():
    rows = [LoboRow(unit, 0.5, n, 0.0, actual, actual * (0.5 if unit == "C" else 1.0), "model")
            for unit in "ABC" for n, actual in ((5, 1000.0), (9, 400.0))]  # A and B exact, C predicted at half its RUL
    summary = lobo_summary(rows, [0.8])
    # A (and B) held out: residuals 0, 0, ln 2, ln 2 give [x1, x2] around each exact prediction: inside;
    # C held out: residuals all 0 give [x1, x1] around a prediction half the actual: outside
    assert summary["coverage_0.8"] == pytest.approx(4 / 6)
    assert summary["per_unit"]["A"]["rmse_s"] == 0.0 and summary["per_unit"]["C"]["rmse_s"] == pytest.approx(math.sqrt((500**2 + 200**2) / 2))


def recipe(tmp_path: Path, root: Path) -> Path:
    path = tmp_path / "rul.yaml"
    path.write_text(json.dumps({"profile": "rul-test", "data_root": str(root), "output_dir": str(tmp_path / "run"), "cuts": [0.5, 0.9],
                                "cache_dir": str(tmp_path / "cache"), "grid": {"mean-residual-life": [{}],
                                "exponential-trend": [{"indicator": "rms", "threshold": None, "window": 5}],
                                "history-regression": [{"history": 2, "alpha": 1.0}, {"history": 1, "alpha": 10.0}]}}))
    return path


def test_rul_fit_and_predict_through_the_cli(femto_like, tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    config = recipe(tmp_path, femto_like)
    fitted = runner.invoke(app, ["rul", "fit", "-c", str(config)])
    assert fitted.exit_code == 0, fitted.output
    assert "leave-one-bearing-out" in fitted.output and (tmp_path / "run" / "rul-model" / "model.safetensors").is_file()
    png = tmp_path / "b13.png"
    predicted = runner.invoke(app, ["rul", "predict", str(femto_like / "femto" / "Test_set" / "Bearing1_3"), "--checkpoint",
                                    str(tmp_path / "run" / "rul-model"), "--png", str(png), "--json"])
    assert predicted.exit_code == 0, predicted.output
    found = json.loads(predicted.output)
    assert found["unit"] == "Bearing1_3" and found["rul_s"] >= 0
    low, high = found["intervals"]["0.8"]
    assert low <= found["rul_s"] <= high
    ax = drawn(saved, "b13.png").axes[0]
    hours, _ = labelled_lines(ax)["RMS per snapshot"]
    now = found["time_s"] / 3600
    assert hours.size == 20 and hours[-1] == pytest.approx(now)
    marks = reference_lines(ax)
    assert marks["last snapshot"] == pytest.approx(now) and marks["predicted failure"] == pytest.approx(now + found["rul_s"] / 3600)
    assert marks["actual failure (known RUL)"] == pytest.approx(now + 5730 / 3600)
    spans = {p.get_label(): (p.get_x(), p.get_x() + p.get_width()) for p in ax.patches}
    assert spans["failure, 80% interval"] == pytest.approx((now + low / 3600, now + high / 3600))


def test_rul_bad_inputs_exit_2_and_write_nothing(femto_like, tmp_path):
    config = recipe(tmp_path, femto_like)
    assert runner.invoke(app, ["rul", "fit", "-c", str(config), "--model", "exponential-trend"]).exit_code == 0
    checkpoint = str(tmp_path / "run" / "rul-model")
    short = tmp_path / "Test_set" / "Bearing1_9"
    short.mkdir(parents=True)
    write_snapshot(short / "acc_00001.csv", 0.0, 0.4, np.random.default_rng(0))
    result = runner.invoke(app, ["rul", "predict", str(short), "--checkpoint", checkpoint, "--png", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "needs a history of at least" in result.output and not (tmp_path / "x.png").exists()
    result = runner.invoke(app, ["rul", "predict", str(tmp_path / "nowhere"), "--checkpoint", checkpoint])
    assert result.exit_code == 2 and "not a folder of snapshots" in result.output
    result = runner.invoke(app, ["rul", "fit", "-c", str(config), "--set", "cuts=[1.5]"])
    assert result.exit_code == 2 and "cuts" in result.output
    result = runner.invoke(app, ["rul", "fit", "-c", str(config), "--model", "arima"])
    assert result.exit_code == 2 and "model" in result.output


def test_the_rul_suite_scores_each_family_once_and_resumes(femto_like, tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    config = RulConfig.from_yaml(recipe(tmp_path, femto_like))
    results = tmp_path / "rul_femto_cpu.jsonl"
    lines = []
    ran, _ = run_rul_suite(config, results, tmp_path, lines.append, allow_dirty=True)
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert ran == 3 and [r["method"] for r in records] == ["mean-residual-life", "exponential-trend", "history-regression"]
    assert set(records[0]["test"]["per_unit"]) == {"Bearing1_3", "Bearing2_3"} and len(records[2]["tried"]) == 2
    assert (tmp_path / "rul_femto_cpu_lobo.png").is_file()
    panels = [ax for ax in drawn(saved, "rul_femto_cpu_lobo.png").axes if ax.get_visible() and ax.get_ylabel() == "RUL (h)"]
    assert [ax.get_title() for ax in panels] == [f"{u} (held out)" for u in ("Bearing1_1", "Bearing1_2", "Bearing2_1")]
    true_hours, true_rul = labelled_lines(panels[0])["true RUL"]
    assert true_rul[0] == pytest.approx(290 / 3600) and true_rul[-1] == pytest.approx(0.0) and true_hours.size == 30
    assert set(labelled_lines(panels[0])) == {"true RUL", "mean-residual-life", "exponential-trend", "history-regression"}
    assert run_rul_suite(config, results, tmp_path, lines.append, allow_dirty=True)[0] == 0


class ShiftedIndicators:
    """Learned indicators stand-in: the health features shifted by the seed, every fold's call kept."""

    learned = True

    def __init__(self) -> None:
        self.calls = []

    def express(self, units, held, fold, seed):
        self.calls.append((fold, list(held), seed))
        return [Unit(u.name, u.condition, u.time_s, FeatureTable(u.features.names, u.features.values + seed), u.failed, u.actual_rul_s)
                for u in units]

    def record(self):
        return {"shift": "seed"}


def test_a_family_on_learned_indicators_runs_the_one_suite_once_per_seed(femto_like, tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    learned = ShiftedIndicators()
    monkeypatch.setitem(rul_workflow.INDICATORS, "sensor", lambda config, say: learned)
    data = json.loads(recipe(tmp_path, femto_like).read_text())
    data.update(seeds=[0, 5], grid={"mean-residual-life": [{}], "sensor-regression": [{"history": 2, "alpha": 1.0}, {"history": 1, "alpha": 10.0}]})
    results = tmp_path / "rul.jsonl"
    assert run_rul_suite(RulConfig.from_dict(data), results, tmp_path, lambda line: None, allow_dirty=True)[0] == 3
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["method"], r["seed"], r.get("shift")) for r in records] == [("mean-residual-life", None, None), ("sensor-regression", 0, "seed"),
                                                                           ("sensor-regression", 5, "seed")]
    folds = [("Bearing1_1", ["Bearing1_1"]), ("Bearing1_2", ["Bearing1_2"]), ("Bearing2_1", ["Bearing2_1"]), ("final", ["Bearing1_3", "Bearing2_3"])]
    assert learned.calls == [(fold, held, seed) for seed in (0, 5) for fold, held in folds]
    assert len(records[1]["lobo_rows"]) == 3 * 2 and set(records[1]["test"]["per_unit"]) == {"Bearing1_3", "Bearing2_3"}
    panels = [ax for ax in drawn(saved, "rul_lobo.png").axes if ax.get_visible() and ax.get_ylabel() == "RUL (h)"]
    assert set(labelled_lines(panels[0])) == {"true RUL", "mean-residual-life"}


def test_a_model_on_learned_indicators_without_its_indicator_model_is_refused(femto_like, tmp_path, fleet):
    model = build_model("sensor-regression", {"history": 1}).fit(fleet)
    folder = save_rul(tmp_path / "made-by-hand", "sensor-regression", model, ConformalIntervals((0.0,)), [0.8])
    with pytest.raises(DataError, match="made-by-hand: its sensor-regression model reads sensor indicators, and the checkpoint holds no "
                                        r"model that computes them \(no indicator/ folder\)"):
        run_rul_predict(folder, femto_like / "femto" / "Test_set" / "Bearing1_3")
    with pytest.raises(DataError, match="made-by-hand: its sensor-regression model reads sensor indicators, which its indicator/ model "
                                        "computes from a unit folder's recorded snapshots"):
        RulPredictor.from_pretrained(folder)  # the live service's path: live snapshots give health features only


def test_the_suite_refuses_sensor_indicators_with_a_spec_before_any_line(tmp_path):
    config = RulConfig.from_dict({"spec": str(tmp_path / "units.yaml"), "output_dir": str(tmp_path / "run"),
                                  "grid": {"mean-residual-life": [{}], "sensor-regression": [{"history": 1}]}})
    with pytest.raises(ConfigError, match="sensor-regression reads FEMTO bearings through the sensor model; with a spec, leave it out"):
        run_rul_suite(config, tmp_path / "rul.jsonl", tmp_path, lambda line: None, allow_dirty=True)
    assert not (tmp_path / "rul.jsonl").exists()


@pytest.mark.slow
def test_the_sensor_regression_learns_its_indicator_from_the_sensor_model(femto_like, tmp_path):
    """One seed of the learned family end to end on a tiny sensor model: per-fold training, indicators, LOBO, the test units."""
    data = json.loads(recipe(tmp_path, femto_like).read_text())
    data["grid"] = {"sensor-regression": [{"history": 1, "alpha": 10.0}, {"history": 2, "alpha": 10.0, "shrink": 0.75}]}
    data.update(sensor_components=2, sensor_overrides={"model.num_layers": 1, "threads": 1, "align.epochs": 0, "finetune.shots": 1,
                                                       "finetune.epochs": 1, "finetune.min_steps": 2, "femto.baseline_fraction": 0.2})
    config = RulConfig.from_dict(data)
    results = tmp_path / "rul.jsonl"
    assert run_rul_suite(config, results, tmp_path, lambda line: None, allow_dirty=True)[0] == 1
    record = json.loads(results.read_text())
    assert record["method"] == "sensor-regression" and record["seed"] == 0 and len(record["tried"]) == 2
    assert len(record["lobo_rows"]) == 3 * 2 and set(record["test"]["per_unit"]) == {"Bearing1_3", "Bearing2_3"}
    assert all(np.isfinite(row["predicted_s"]) and row["predicted_s"] >= 0 for row in record["lobo_rows"])
    assert (tmp_path / "run" / "sensor-indicator" / "seed0" / "final" / "sensor-stages").is_dir()


def test_a_real_learning_bearing_reads_as_a_failed_unit_whose_rms_rises_at_the_end(shared_data, tmp_path):
    folder = shared_data / "femto" / "Learning_set" / "Bearing3_1"
    if not folder.is_dir():
        pytest.skip(f"no FEMTO data at {folder}")
    unit = read_unit(folder, "learning", cache_dir=tmp_path)
    assert unit.failed and len(unit) == 53 and unit.condition == "1500rpm_5000N"
    assert unit.time_s[-1] == pytest.approx(5140, abs=1) and unit.rul_s[0] == pytest.approx(unit.time_s[-1])
    rms = np.exp(unit.features.column("h_log_rms"))
    assert rms[-5:].mean() > 1.5 * rms[:10].mean()
    estimate = MeanResidualLife().fit([unit]).predict(unit.history(len(unit) - 3))
    assert estimate.rul_s == pytest.approx(unit.rul_s[-4])  # one unit: its own remaining life


def test_own_run_to_failure_units_through_a_spec(tmp_path):
    rng = np.random.default_rng(4)
    for set_name, units in (("learning", {"pumpA": 20, "pumpB": 26, "pumpC": 30}), ("running", {"pumpD": 14})):
        for name, count in units.items():
            folder = tmp_path / set_name / name
            folder.mkdir(parents=True)
            for k in range(count):
                amplitude = 0.3 * 10 ** max(0.0, (k - 0.6 * count) / (0.4 * count))
                np.savez(folder / f"snap_{k:03d}.npz", x=rng.normal(0, amplitude, 4096), y=rng.normal(0, amplitude, 4096))
    spec = tmp_path / "units.yaml"
    spec.write_text("run_to_failure:\n  fs: 20000\n  channels: [x, y]\n  snapshots: '*.npz'\n  period_s: 600\n  condition: pumps\n"
                    "  learning: {folder: learning}\n  test: {folder: running, rul_s: {pumpD: 3600}}\n")
    config = tmp_path / "rul.yaml"
    config.write_text(json.dumps({"spec": str(spec), "output_dir": str(tmp_path / "run"), "cuts": [0.5, 0.9],
                                  "grid": {"history-regression": [{"history": 2, "alpha": 1.0}]}}))
    fitted = runner.invoke(app, ["rul", "fit", "-c", str(config)])
    assert fitted.exit_code == 0, fitted.output
    assert "pumpA" in fitted.output and "pumpC" in fitted.output
    result = runner.invoke(app, ["rul", "predict", str(tmp_path / "running" / "pumpD"), "--spec", str(spec), "--checkpoint",
                                 str(tmp_path / "run" / "rul-model"), "--png", str(tmp_path / "d.png"), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["unit"] == "pumpD" and found["time_s"] == 13 * 600 and found["rul_s"] >= 0
    np.savez(tmp_path / "running" / "pumpD" / "snap_999.npz", x=np.zeros(100), y=np.zeros(100))
    result = runner.invoke(app, ["rul", "predict", str(tmp_path / "running" / "pumpD"), "--spec", str(spec), "--checkpoint",
                                 str(tmp_path / "run" / "rul-model"), "--png", str(tmp_path / "e.png")])
    assert result.exit_code == 2 and "snap_999.npz: 100 samples" in result.output and not (tmp_path / "e.png").exists()
