"""Bad --seed values and missing or unreadable checkpoints are refused before any data is prepared, naming the value or path."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from syndiag.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_data_preparation(monkeypatch):
    def prepare(*args, **kwargs):
        raise AssertionError("data was prepared before the input was checked")

    for module in ("syndiag.data.prepare", "syndiag.workflows.session", "syndiag.workflows.sensor"):
        monkeypatch.setattr(f"{module}.prepare", prepare)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert not isinstance(result.exception, AssertionError), result.exception
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def cloud(tmp_path):
    return ["--config", "syndiag/cpu", "--set", f"output_dir={tmp_path / 'run'}"]


def sensor(tmp_path):
    return ["--config", "sensor/cpu", "--set", f"output_dir={tmp_path / 'run'}"]


def checkpoint(folder, meta, weights=b"\0" * 16):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(meta) if isinstance(meta, dict) else meta)
    if weights is not None:
        (folder / "model.safetensors").write_bytes(weights)
    return folder


@pytest.mark.parametrize("command", [["finetune"], ["sensor", "finetune"]])
def test_a_negative_seed_option_is_refused_before_any_data_is_read(tmp_path, command):
    recipe = sensor(tmp_path) if command[0] == "sensor" else cloud(tmp_path)
    output = invoke(*command, *recipe, "--checkpoint", "none", "--seed", "-1")
    assert "error: seed must be 0 or more, got -1" in output


@pytest.mark.parametrize("profile", ["syndiag/cpu", "sensor/cpu"])
def test_a_negative_seed_in_the_recipe_or_a_set_is_refused_naming_seed(tmp_path, profile):
    command = ["sensor", "finetune"] if profile.startswith("sensor") else ["finetune"]
    output = invoke(*command, "--config", profile, "--set", "seed=-1", "--checkpoint", "none")
    assert "seed: Input should be greater than or equal to 0" in output
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"seed": -3}))
    output = invoke(*command, "--config", recipe, "--checkpoint", "none")
    assert f"{recipe}: invalid" in output and "seed: Input should be greater than or equal to 0" in output


MISSING = {
    "finetune": lambda t, folder: ["finetune", *cloud(t), "--checkpoint", folder],
    "evaluate": lambda t, folder: ["evaluate", *cloud(t), "--checkpoint", folder],
    "distill": lambda t, folder: ["distill", *cloud(t), "--teacher", folder],
    "sensor finetune": lambda t, folder: ["sensor", "finetune", *sensor(t), "--checkpoint", folder],
    "sensor evaluate": lambda t, folder: ["sensor", "evaluate", *sensor(t), "--checkpoint", folder],
}


@pytest.mark.parametrize("command", list(MISSING))
def test_a_missing_checkpoint_is_named_before_any_data_is_read(tmp_path, command):
    folder = tmp_path / "no-such-checkpoint"
    assert f"error: {folder}: not a syndiag checkpoint (no such folder)" in invoke(*MISSING[command](tmp_path, folder))


@pytest.mark.parametrize(("command", "default"), [(["evaluate"], "finetuned"), (["finetune"], "pretrained"),
                                                  (["sensor", "evaluate"], "sensor-finetuned"), (["sensor", "finetune"], "sensor-aligned")])
def test_the_default_checkpoint_of_the_recipe_is_checked_too(tmp_path, command, default):
    recipe = sensor(tmp_path) if command[0] == "sensor" else cloud(tmp_path)
    assert f"error: {tmp_path / 'run' / default}: not a syndiag checkpoint (no such folder)" in invoke(*command, *recipe)


def test_a_folder_without_weights_or_with_an_unreadable_config_is_named(tmp_path):
    empty = checkpoint(tmp_path / "no-weights", {"model": "syndiag-sensor", "task": {}}, weights=None)
    output = invoke(*MISSING["sensor evaluate"](tmp_path, empty))
    assert f"error: {empty}: not a syndiag checkpoint (needs config.json and model.safetensors)" in output
    garbled = checkpoint(tmp_path / "garbled", "{}")
    (garbled / "config.json").write_bytes(b"\xff\xfe not json")
    output = invoke(*MISSING["sensor evaluate"](tmp_path, garbled))
    assert f"error: {garbled}: unreadable checkpoint ({garbled / 'config.json'}" in output
    weights_folder = checkpoint(tmp_path / "weights-folder", {"model": "syndiag-sensor", "task": {}}, weights=None)
    (weights_folder / "model.safetensors").mkdir()
    output = invoke(*MISSING["evaluate"](tmp_path, weights_folder))
    assert f"error: {weights_folder}: unreadable checkpoint ({weights_folder / 'model.safetensors'}: is a directory)" in output


def test_a_checkpoint_of_another_kind_or_stage_is_refused_before_any_data_is_read(tmp_path):
    sensor_model = checkpoint(tmp_path / "sensor-model", {"model": "syndiag-sensor", "task": {"k": 1}})
    output = invoke(*MISSING["evaluate"](tmp_path, sensor_model))
    assert f"error: {sensor_model}: a 'syndiag-sensor' checkpoint, expected 'syndiag-cloud'" in output
    pretrained = checkpoint(tmp_path / "pretrained", {"model": "syndiag-cloud", "stage": "pretrained"})
    for command in ("evaluate", "distill"):
        output = invoke(*MISSING[command](tmp_path, pretrained))
        assert f"error: {pretrained}: not a fine-tuned checkpoint (run syndiag finetune first)" in output
    aligned = checkpoint(tmp_path / "aligned", {"model": "syndiag-sensor", "stage": "aligned"})
    output = invoke(*MISSING["sensor evaluate"](tmp_path, aligned))
    assert f"error: {aligned}: not a fine-tuned checkpoint (run syndiag sensor finetune first)" in output
