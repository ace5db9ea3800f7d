"""The healthy-only monitor's setting chosen by leave-one-bearing-out (issue 30): smoothing, the largest-|z| score, the
RMS alarm's own persistence, the choice on the other units, and test units stopped before failure."""

from dataclasses import replace

import numpy as np
import pytest
from test_anomaly import unit_with_change
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.monitor import MonitorConfig
from syndiag.errors import ConfigError
from syndiag.prognostics.anomaly import MaxZ, alarm_timeline, causal_mean
from syndiag.prognostics.monitor_selection import choose, earlier_not_false, grid, leave_one_bearing_out, setting, truncated_summary


def test_causal_mean_uses_no_later_snapshot_and_max_z_flags_one_feature_leaving_its_band():
    x = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [100.0, 7.0]])
    smoothed = causal_mean(x, 2)
    assert smoothed[:3].tolist() == [[0.0, 1.0], [1.0, 2.0], [3.0, 4.0]]  # the 100 at row 3 reaches no earlier row
    assert causal_mean(x, 1) is x
    rng = np.random.default_rng(0)
    healthy = rng.normal(0, 1, (200, 5))
    scorer = MaxZ().fit(healthy)
    one_out = np.zeros((1, 5))
    one_out[0, 3] = 8.0
    assert scorer.score(one_out)[0] == pytest.approx((8.0 - healthy[:, 3].mean()) / healthy[:, 3].std(), rel=1e-9)
    assert scorer.score(np.zeros((1, 5)))[0] < 1.0
    with pytest.raises(ConfigError):
        MonitorConfig.from_dict({"smoothing": 0}, "--set")


def test_the_rms_alarm_keeps_its_own_persistence():
    unit = unit_with_change()
    two = alarm_timeline(unit, MonitorConfig(persistence=2))
    kept = alarm_timeline(unit, MonitorConfig(persistence=2, rms_persistence=5))
    assert two.first_alarm == kept.first_alarm
    assert kept.first_rms_alarm is not None and kept.first_rms_alarm >= two.first_rms_alarm + 3


def outcome(good: bool, false: bool = False) -> dict:
    return {"earlier_not_false": good, "novelty_false_alarm": false, "novelty_lead_s": None if not (good or false) else 1.0}


def test_each_unit_gets_the_setting_best_on_the_others():
    table = [[outcome(False), outcome(True), outcome(True)],   # setting 0: good on units 1, 2
             [outcome(True), outcome(False), outcome(False)],  # setting 1: good on unit 0 only
             [outcome(True), outcome(True), outcome(False, True)]]
    assert choose(table, [1, 2]) == 0  # unit 0 held out: setting 0 is good on both others
    assert choose(table, [0, 1]) == 2  # unit 2 held out: setting 2 is good on both others
    assert choose(table, [0, 2]) == 0  # 0 and 1 tie (one good, one never alarmed): the first; 2 alarmed before onset
    assert earlier_not_false({"novelty_lead_s": 5.0, "novelty_false_alarm": False, "rms_lead_s": None})
    assert not earlier_not_false({"novelty_lead_s": 5.0, "novelty_false_alarm": False, "rms_lead_s": 5.0})
    assert setting(grid("same-rule")[0]) == "mahalanobis, all, smoothing 1, 3 in a row"


def test_leave_one_bearing_out_and_a_truncated_unit():
    units = [replace(unit_with_change(change_s=c, seed=i), name=f"Bearing{i}") for i, c in enumerate((6000.0, 7000.0, 8000.0))]
    found = leave_one_bearing_out(units, "rms-3-in-a-row")
    assert found["settings_tried"] == len(grid("rms-3-in-a-row")) == 135
    assert [h["unit"] for h in found["held_out"]] == ["Bearing0", "Bearing1", "Bearing2"]
    assert found["held_out_good"] == sum(h["earlier_not_false"] for h in found["held_out"])
    assert all(h["monitor"]["rms_persistence"] == 3 for h in found["held_out"])
    stopped = replace(units[0], time_s=units[0].time_s[:80], failed=False, actual_rul_s=1000.0)
    stopped = replace(stopped, features=replace(stopped.features, values=stopped.features.values[:80]))
    summary = truncated_summary(stopped, MonitorConfig())
    assert summary["record_s"] == 7900.0 and summary["actual_rul_s"] == 1000.0
    if summary["novelty_alarm_s"] is not None:
        assert summary["novelty_before_failure_s"] == pytest.approx(7900.0 - summary["novelty_alarm_s"] + 1000.0)
    short = replace(stopped, time_s=stopped.time_s[:20], features=replace(stopped.features, values=stopped.features.values[:20]))
    assert "nothing left to monitor" in truncated_summary(short, MonitorConfig())["not_monitored"]


def test_monitor_prints_each_alarms_own_rule(tmp_path, shared_data):
    folder = shared_data / "femto" / "Learning_set" / "Bearing1_2"
    if not folder.is_dir():
        pytest.skip(f"no FEMTO data at {folder}")
    result = CliRunner().invoke(app, ["monitor", str(folder), "--set", "persistence=2", "--set", "rms_persistence=3", "--png", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "score above" in text and "2 snapshots in a row) RMS alarm" in text and text.count("3 snapshots in a row") == 1
    result = CliRunner().invoke(app, ["monitor", str(folder), "--set", "smoothing=0"])
    assert result.exit_code == 2 and "smoothing" in result.output
