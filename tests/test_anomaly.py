"""Anomaly detection from healthy data alone: the latched alarm, a unit against its own healthy start, lead times,
healthy-only scoring of a labelled data set, and `syndiag monitor`."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from figures import drawn, labelled_lines, record_figures, reference_lines
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.monitor import MonitorConfig
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import DataError
from syndiag.evaluation.anomaly_plot import write_alarm_png
from syndiag.evaluation.healthy_only import healthy_only
from syndiag.prognostics.anomaly import alarm_timeline, detection_summary, latched
from syndiag.prognostics.features import FeatureTable, feature_names
from syndiag.prognostics.units import Unit

runner = CliRunner()


def test_the_alarm_goes_on_after_a_run_and_stays_on():
    above = np.array([1, 1, 0, 1, 1, 1, 0, 0], dtype=bool)
    assert latched(above, 3).tolist() == [False] * 5 + [True] * 3
    assert latched(above, 2).tolist() == [False, True, True, True, True, True, True, True]
    assert not latched(np.array([1, 0, 1, 0], dtype=bool), 2).any()


def unit_with_change(change_s: float = 7200.0, life_s: float = 10000.0, step: float = 100.0, seed: int = 0) -> Unit:
    """Health features as noise around a constant until ``change_s``, then every feature drifting upwards; RMS follows."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, life_s + step / 2, step)
    names = feature_names(2)
    values = rng.normal(0.0, 0.05, (t.size, len(names)))
    values += np.clip(t - change_s, 0, None)[:, None] / 1000.0
    return Unit("Bearing1_9", "1800rpm_4000N", t, FeatureTable(names, values), failed=True)


def test_a_unit_alarms_after_its_change_and_not_during_its_healthy_part():
    unit = unit_with_change()
    timeline = alarm_timeline(unit, MonitorConfig(false_alarm=0.05))
    assert timeline.reference == 36 and not timeline.alarm[: timeline.reference].any()
    first = timeline.first_alarm
    assert first is not None and 7200.0 < unit.time_s[first] <= 8000.0
    summary = detection_summary(unit, timeline)
    assert summary["novelty_lead_s"] == pytest.approx(10000.0 - unit.time_s[first])
    assert summary["life_s"] == 10000.0 and set(summary) >= {"rms_lead_s", "novelty_false_alarm", "onset_s"}


def alarm_lines(figure) -> tuple[dict, dict, dict, dict]:
    """The alarm figure's novelty and RMS panels: their data lines and their reference lines (thresholds, alarms)."""
    top, bottom = figure.axes
    return labelled_lines(top), reference_lines(top), labelled_lines(bottom), reference_lines(bottom)


def test_the_alarm_figure_draws_the_scores_thresholds_and_when_each_alarm_went_on(tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    unit = unit_with_change()
    timeline = alarm_timeline(unit, MonitorConfig(false_alarm=0.05))
    write_alarm_png(timeline, tmp_path / "alarm.png")
    novelty, top, rms, bottom = alarm_lines(drawn(saved, "alarm.png"))
    hours, score = novelty["novelty (mahalanobis)"]
    assert np.allclose(hours, unit.time_s / 3600) and np.allclose(score, np.maximum(timeline.score, 1e-6))
    assert np.allclose(rms["RMS (g)"][1], timeline.rms) and bottom["RMS alarm level"] == timeline.rms_threshold
    assert top["threshold"] == timeline.threshold
    alarm_h = unit.time_s[timeline.first_alarm] / 3600
    assert top[f"novelty alarm on ({alarm_h:.2f} h)"] == alarm_h and 2.0 < alarm_h <= 8000 / 3600  # the change is at 2 h
    (reference,) = drawn(saved, "alarm.png").axes[0].patches
    assert (reference.get_x(), reference.get_x() + reference.get_width()) == pytest.approx((0.0, unit.time_s[timeline.reference - 1] / 3600))


def test_too_short_a_reference_or_nothing_after_it_is_refused():
    unit = unit_with_change()
    with pytest.raises(DataError, match="needs at least 6"):
        alarm_timeline(unit, MonitorConfig(healthy_s=300.0))
    with pytest.raises(DataError, match="nothing left to monitor"):
        alarm_timeline(unit, MonitorConfig(healthy_s=1e6))


def test_healthy_only_scoring_tells_faults_from_normal_and_keeps_its_false_alarm_rate():
    rng = np.random.default_rng(0)
    n = 200
    normal = rng.normal(0, 1.0, (n, 2, 256))
    faulty = rng.normal(0, 1.0, (n, 2, 256)) + 2.0 * np.sin(np.arange(256) * 0.9)  # a tone the normal windows lack
    dataset = SimpleNamespace(class_names=["normal", "IR"], labels=np.r_[np.zeros(n, int), np.ones(n, int)], fs=12000.0,
                              split=np.r_[np.tile([POOL, TEST], n // 2), np.full(n, TEST)], windows=np.concatenate([normal, faulty]))
    found = healthy_only(dataset, "mahalanobis", "health", false_alarm=0.05)
    assert found["auroc"] > 0.99 and found["detected"] > 0.9 and found["false_alarm_rate"] < 0.2
    assert found["fit_windows"] == 50 and found["calibration_windows"] == 50 and set(found["per_class"]) == {"IR"}
    with pytest.raises(DataError, match="no class 'healthy'"):
        healthy_only(dataset, normal="healthy")


def test_monitor_prints_alarms_and_refuses_bad_folders(tmp_path, shared_data, monkeypatch):
    saved = record_figures(monkeypatch)
    folder = shared_data / "femto" / "Learning_set" / "Bearing3_1"
    if not folder.is_dir():
        pytest.skip(f"no FEMTO data at {folder}")
    png = tmp_path / "alarms.png"
    result = runner.invoke(app, ["monitor", str(folder), "--png", str(png), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["unit"] == "Bearing3_1" and found["reference_snapshots"] == 36 and found["snapshots"] == 53
    assert found["alarm_s"] is None or found["alarm_s"] >= 3600
    novelty, top, rms, bottom = alarm_lines(drawn(saved, "alarms.png"))
    hours = novelty["novelty (mahalanobis)"][0]
    assert hours.size == rms["RMS (g)"][0].size == 53 and hours[-1] * 3600 == pytest.approx(found["last_s"])
    assert top["threshold"] == pytest.approx(found["threshold"]) and bottom["RMS alarm level"] == pytest.approx(found["rms_threshold_g"])
    drawn_alarms = {label.split(" on ")[0]: h * 3600 for label, h in {**top, **bottom}.items() if " alarm on " in label}
    expected = {name: found[key] for name, key in (("novelty alarm", "alarm_s"), ("RMS alarm", "rms_alarm_s")) if found[key] is not None}
    assert drawn_alarms == pytest.approx(expected)
    result = runner.invoke(app, ["monitor", str(folder), "--set", "healthy_s=60", "--png", str(tmp_path / "no.png")])
    assert result.exit_code == 2 and "needs at least 6" in result.output and not (tmp_path / "no.png").exists()
    result = runner.invoke(app, ["monitor", str(folder), "--set", "method=odin"])
    assert result.exit_code == 2 and "method" in result.output
