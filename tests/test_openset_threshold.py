"""The open-set threshold stored beside a checkpoint: calibration on held-in windows, the verdict `diagnose` prints,
and the refusals (a threshold file of other weights, a checkpoint without a training task, a bad false-alarm rate)."""

import json
import shutil

import numpy as np
import pytest
from test_cli_models import recipe
from tiny import save_tiny_backbone
from tiny_checkpoint import onnx_folder, recording
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.data import DataConfig
from syndiag.data.prepare import prepare
from syndiag.digests import with_digest
from syndiag.errors import ConfigError, DataError
from syndiag.models.openset_threshold import CONTENT_DIGEST, OpenSetThreshold, read_threshold, save_threshold, weights_digest
from syndiag.workflows.openset_calibrate import held_in_windows, sensor_confidence

runner = CliRunner()


def with_threshold(folder, value):
    save_threshold(folder, OpenSetThreshold(threshold=value, false_alarm=0.01, windows=10, weights_sha256=weights_digest(folder)))
    return folder


def test_the_verdict_counts_windows_above_the_threshold_and_needs_a_majority():
    t = OpenSetThreshold(threshold=0.3, false_alarm=0.01, windows=10, weights_sha256="x")
    known = t.verdict([0.95, 0.9, 0.5, 0.99])  # scores 0.05, 0.1, 0.5, 0.01: one of four above
    assert not known["unknown"] and known["windows_above"] == 1 and known["share_above"] == 0.25
    unknown = t.verdict([0.4, 0.5, 0.6, 0.99])
    assert unknown["unknown"] and unknown["windows_above"] == 3 and unknown["score"] == pytest.approx(0.45)


def test_diagnose_answers_unknown_fault_with_score_and_threshold(tmp_path):
    folder = with_threshold(onnx_folder(tmp_path / "onnx"), 0.0)
    file = recording(tmp_path / "r.npy", 0.05)
    result = runner.invoke(app, ["diagnose", str(file), "--checkpoint", str(folder), "--fs", "12000"])
    assert result.exit_code == 0, result.output
    assert "unknown fault" in result.output and "threshold 0.000" in result.output
    data = json.loads(runner.invoke(app, ["diagnose", str(file), "--checkpoint", str(folder), "--json", "--fs", "12000"]).output)
    assert data["unknown"]["unknown"] is True and data["unknown"]["threshold"] == 0.0
    with_threshold(folder, 1.0)
    result = runner.invoke(app, ["diagnose", str(file), "--checkpoint", str(folder), "--fs", "12000"])
    assert "known fault classes" in result.output and "unknown fault" not in result.output


def test_a_threshold_file_of_another_checkpoint_is_refused_before_diagnosis(tmp_path):
    first = with_threshold(onnx_folder(tmp_path / "a"), 0.5)
    other = onnx_folder(tmp_path / "b", scale=[0.5 / 255, 1 / 255, 0.25 / 255])
    shutil.copy(first / "openset.json", other / "openset.json")
    with pytest.raises(ConfigError, match="calibrated for other weights"):
        read_threshold(other)
    result = runner.invoke(app, ["diagnose", str(recording(tmp_path / "r.npy", 0.05)), "--checkpoint", str(other), "--fs", "12000"])
    assert result.exit_code == 2 and "calibrated for other weights" in result.output
    (other / "openset.json").write_text("{not json")
    result = runner.invoke(app, ["diagnose", str(recording(tmp_path / "r.npy", 0.05)), "--checkpoint", str(other), "--fs", "12000"])
    assert result.exit_code == 2 and "not a readable open-set threshold" in result.output


def test_calibrate_refuses_a_checkpoint_without_its_training_task_and_bad_rates(tmp_path):
    folder = onnx_folder(tmp_path / "onnx")
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(folder)])
    assert result.exit_code == 2 and "not a fine-tuned checkpoint" in result.output and not (folder / "openset.json").exists()
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(folder), "--false-alarm", "1.5"])
    assert result.exit_code == 2 and "--false-alarm" in result.output


BAD_VALUES = [
    ("threshold", -5, r"threshold -5 is outside \[0, 1\], the range of the msp score"),
    ("threshold", float("nan"), r"threshold nan is outside \[0, 1\]"),
    ("unknown_share", 2, r"unknown_share must be a fraction in \(0, 1\), got 2"),
    ("unknown_share", 0, r"unknown_share must be a fraction in \(0, 1\), got 0"),
    ("false_alarm", 1.0, r"false_alarm must be a fraction in \(0, 1\), got 1.0"),
    ("windows", 0, "windows must be a positive whole number, got 0"),
    ("method", "[bold]msp[/]", r"method '\[bold\]msp\[/\]' is not an open-set score \(known: msp, spectrum-mahalanobis, "),
    ("method", "combined", r"the combined score needs detector_sha256"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_a_stored_value_out_of_range_is_refused_even_with_a_matching_digest(tmp_path, field, value, message):
    folder = with_threshold(onnx_folder(tmp_path / "onnx"), 0.3)
    raw = json.loads((folder / "openset.json").read_text())
    (folder / "openset.json").write_text(json.dumps(with_digest({**raw, field: value}, CONTENT_DIGEST)))
    with pytest.raises(DataError, match=rf"openset\.json: {message}"):
        read_threshold(folder)


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_a_value_out_of_range_is_not_saved(tmp_path, field, value, message):
    folder = onnx_folder(tmp_path / "onnx")
    good = {"threshold": 0.3, "false_alarm": 0.01, "windows": 10, "weights_sha256": weights_digest(folder)}
    with pytest.raises(DataError, match=rf"openset\.json: {message}"):
        save_threshold(folder, OpenSetThreshold(**{**good, field: value}))
    assert not (folder / "openset.json").exists()


def test_an_edited_threshold_is_refused_until_calibrated_again(tmp_path):
    folder = with_threshold(onnx_folder(tmp_path / "onnx"), 0.3)
    raw = json.loads((folder / "openset.json").read_text())
    (folder / "openset.json").write_text(json.dumps({**raw, "threshold": 0.0}, indent=1))
    with pytest.raises(DataError, match=r"openset\.json: its content does not match its content_sha256: the file was changed after "
                                        r"`syndiag openset calibrate --checkpoint .*onnx` wrote it"):
        read_threshold(folder)
    result = runner.invoke(app, ["diagnose", str(recording(tmp_path / "r.npy", 0.05)), "--checkpoint", str(folder), "--fs", "12000"])
    assert result.exit_code == 2 and "error:" in result.output and "content_sha256" in result.output
    (folder / "openset.json").write_text(json.dumps({k: v for k, v in raw.items() if k != CONTENT_DIGEST}))
    with pytest.raises(DataError, match="records no content_sha256 .* make it again with `syndiag openset calibrate"):
        read_threshold(folder)


@pytest.mark.slow
def test_calibrate_scores_held_in_windows_only_and_binds_the_threshold(tmp_path, cwru_dir):
    import yaml

    from syndiag.workflows.openset_calibrate import held_in_windows
    from syndiag.workflows.session import task_of_checkpoint

    config = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    assert runner.invoke(app, ["finetune", "--config", str(config), "--checkpoint", "none", "--data-root", str(cwru_dir.parent)]).exit_code == 0
    checkpoint = tmp_path / "run" / "finetuned"
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--false-alarm", "0.2",
                                 "--data-root", str(cwru_dir.parent), "--detector", "msp"])
    assert result.exit_code == 0, result.output
    stored = read_threshold(checkpoint)
    assert stored.false_alarm == 0.2 and stored.weights_sha256 == weights_digest(checkpoint)
    meta = json.loads((checkpoint / "config.json").read_text())
    raw = yaml.safe_load(config.read_text())["data"]
    dataset = prepare(__import__("syndiag.config.data", fromlist=["DataConfig"]).DataConfig.from_dict({**meta["data"], "data_root": str(cwru_dir.parent)}))
    held = held_in_windows(dataset, meta, checkpoint)
    task = task_of_checkpoint(dataset, meta, checkpoint)
    assert stored.windows == held.size and not np.intersect1d(held, task.train).size
    assert set(dataset.conditions[held]) == {dataset.condition_names.index(task.source[0])} and raw["window"]["per_class"] == 6


@pytest.mark.slow
def test_a_sensor_model_checkpoint_is_calibrated_and_diagnose_reports_its_verdict(tmp_path, cwru_dir):
    from test_sensor_workflow import sensor_recipe

    config = str(sensor_recipe(tmp_path, cwru_dir, use_spectrogram=False))
    assert runner.invoke(app, ["sensor", "pretrain", "-c", config]).exit_code == 0
    assert runner.invoke(app, ["sensor", "finetune", "-c", config]).exit_code == 0
    checkpoint = tmp_path / "sensor" / "sensor-finetuned"  # the msp score (the default spectral one: test_openset_sensor.py)
    result = runner.invoke(app, ["openset", "calibrate", "--checkpoint", str(checkpoint), "--detector", "msp"])
    assert result.exit_code == 0, result.output
    stored = read_threshold(checkpoint)
    assert stored.windows == 19 * 3  # 10 per class: 5 in the pool, 2 of them the support
    meta = json.loads((checkpoint / "config.json").read_text())
    data = DataConfig.from_dict(meta["data"])
    dataset = prepare(data)
    scores = 1.0 - sensor_confidence(checkpoint, data, dataset, held_in_windows(dataset, meta, checkpoint), "cpu", 64)
    assert stored.threshold == pytest.approx(scores.max())  # 1 % false alarms over 57 windows: rank ceil(58 x 0.99) > 57, the highest
    result = runner.invoke(app, ["diagnose", str(cwru_dir / "105.mat"), "--checkpoint", str(checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)["unknown"]
    assert verdict["threshold"] == round(stored.threshold, 4) and verdict["windows_above"] <= json.loads(result.stdout)["windows"]


def test_the_threshold_file_is_a_versioned_description_and_an_older_one_is_refused_with_the_command(tmp_path):
    folder = with_threshold(onnx_folder(tmp_path / "onnx"), 0.3)
    raw = json.loads((folder / "openset.json").read_text())
    assert raw["model"] == "syndiag-openset" and raw["format_version"] == 1 and raw["commit"]
    older = {k: v for k, v in raw.items() if k not in ("model", "format_version", "commit")}
    (folder / "openset.json").write_text(json.dumps(with_digest(older, CONTENT_DIGEST)))
    with pytest.raises(DataError, match=r"openset\.json: records no 'model' kind: written by a syndiag older than versioned "
                                        r"descriptions .*make it again with `syndiag openset calibrate --checkpoint .*onnx`"):
        read_threshold(folder)
    (folder / "openset.json").write_text(json.dumps(with_digest({**raw, "format_version": 0}, CONTENT_DIGEST)))
    with pytest.raises(DataError, match=r"openset\.json: format_version 0: this syndiag reads version 1"):
        read_threshold(folder)
    (folder / "openset.json").write_text(json.dumps(with_digest({**raw, "colour": "red"}, CONTENT_DIGEST)))
    with pytest.raises(DataError, match=r"openset\.json: not a readable open-set threshold file .*colour"):
        read_threshold(folder)
