"""FEMTO snapshots labelled by degradation stage, one window per snapshot, split by bearing; the stages workflow end to end."""

import json

import numpy as np
import pytest
from figures import drawn, record_figures
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.femto import read_femto
from syndiag.errors import ConfigError
from syndiag.models.sensor import SensorModel
from syndiag.prognostics.femto_stages import femto_stage_set, snapshot_windows
from syndiag.prognostics.health import STAGES

BEARINGS = ["Bearing1_1", "Bearing2_2"]


@pytest.fixture(scope="module")
def femto_root(shared_data):
    return shared_data / "femto"


@pytest.fixture(scope="module")
def bearings(femto_root):
    return read_femto(femto_root, ("learning",), BEARINGS)


def layout():
    return SensorRunConfig.from_yaml("sensor/femto").channels


def test_stages_label_each_snapshot_and_are_its_severity(bearings):
    sensor_set, trajectories = femto_stage_set(None, read=bearings)
    assert sensor_set.class_names == list(STAGES)
    for bearing in bearings:
        stages = trajectories[bearing.name].stages
        assert stages.size == len(bearing.snapshots) and stages[0] == 0 and np.all(np.diff(stages) >= 0)
        assert trajectories[bearing.name].onset is not None  # both run to failure
    for recording in sensor_set.recordings:
        assert recording.severity == STAGES.index(recording.label)


def test_one_window_per_snapshot_split_by_bearing_with_the_temperature_of_its_moment(bearings):
    sensor_set, trajectories = femto_stage_set(None, read=bearings)
    windows = snapshot_windows(sensor_set, layout(), ["Bearing2_2"])
    counts = {b.name: len(b.snapshots) for b in bearings}
    assert len(windows) == sum(counts.values())
    test = windows.groups == "Bearing2_2"
    assert np.all(windows.split[test] == 1) and np.all(windows.split[~test] == 0)
    first = bearings[0].snapshots[0]
    assert np.array_equal(windows.signals["acc_h"][0], first.horizontal.astype(np.float32))
    assert windows.end_s[0] == pytest.approx(first.end_s)
    temperature = windows.channel_names.index("temperature")
    assert not windows.present[test, temperature].any()  # Bearing2_2 has no temperature files
    assert windows.present[~test, temperature].mean() > 0.9
    assert np.array_equal(windows.labels[~test], trajectories["Bearing1_1"].stages)
    with pytest.raises(ConfigError, match="Bearing9_9"):
        snapshot_windows(sensor_set, layout(), ["Bearing9_9"])
    with pytest.raises(ConfigError, match="at least one"):
        snapshot_windows(sensor_set, layout(), BEARINGS)


@pytest.mark.slow
def test_sensor_stages_end_to_end_through_the_cli(tmp_path, shared_data, monkeypatch):
    saved = record_figures(monkeypatch)
    backbone = save_tiny_backbone(tmp_path / "tiny")
    recipe = SensorRunConfig.from_yaml("sensor/femto").model_dump(mode="json")
    recipe.update(output_dir=str(tmp_path / "run"), results_file=str(tmp_path / "results.jsonl"))
    recipe["model"].update(backbone=str(backbone), num_layers=None, encoder={"d_model": 16, "layers": 1, "heads": 2, "patch_len": 256},
                           adapter={"queries": 2, "heads": 2})
    recipe["align"].update(epochs=1)
    recipe["finetune"].update(shots=2, epochs=1, min_steps=2)
    recipe["femto"] = {"test_bearings": ["Bearing2_2"], "bearings": BEARINGS}
    path = tmp_path / "femto.yaml"
    path.write_text(json.dumps(recipe))
    runner = CliRunner()
    common = ["--config", str(path), "--data-root", str(shared_data)]
    result = runner.invoke(app, ["sensor", "stages", *common, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["dataset"] == "femto" and record["test_bearings"] == ["Bearing2_2"] and record["test_samples"] == 81
    assert record["metrics"]["severity_windows"] == 81
    assert (tmp_path / "run" / "stage-timeline.png").read_bytes()[:4] == b"\x89PNG"
    (timeline,) = [ax for ax in drawn(saved, "stage-timeline.png").axes if ax.get_title().startswith("Bearing2_2")]
    right, wrong = (len(c.get_offsets()) for c in timeline.collections[:2])  # each snapshot's predicted stage: right, then wrong
    assert right + wrong == 81 and record["metrics"]["accuracy"] == pytest.approx(right / 81)
    assert timeline.get_title() == f"Bearing2_2: {right / 81:.0%} of 81 snapshots right"
    model = SensorModel.from_pretrained(tmp_path / "run" / "sensor-stages")
    assert model.class_names == list(STAGES) and model.channel_names == ["acc_h", "acc_v", "temperature", "speed"]
    dropped = runner.invoke(app, ["sensor", "stages", *common, "--drop", "temperature"])
    assert dropped.exit_code == 0 and "without temperature" in dropped.output
    bad = runner.invoke(app, ["sensor", "stages", *common, "--drop", "DE"])
    assert bad.exit_code == 2 and "DE" in bad.output
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 2
