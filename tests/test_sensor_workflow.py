"""The sensor model's commands end to end on real CWRU files with tiny backbones: align, fine-tune, evaluate, drop a sensor."""

import json

import numpy as np
import pytest
import yaml
from figures import confusion_drawn, drawn, image_data, record_figures
from test_cli_models import recipe
from tiny import save_tiny_backbone
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.evaluation.metrics import read_results

runner = CliRunner()


def sensor_recipe(tmp_path, cwru_dir, use_spectrogram=True):
    backbone = save_tiny_backbone(tmp_path / "tiny-llama")
    config = {
        "profile": "test", "seed": 1, "device": "cpu", "output_dir": str(tmp_path / "sensor"), "results_file": str(tmp_path / "results.jsonl"),
        "data": {"data_root": str(cwru_dir.parent), "cache_dir": str(tmp_path / "cache"), "window": {"per_class": 10},
                 "spectrogram": {"image_size": 32, "n_scales": 16}, "cwru": {"channels": ["DE", "FE"], "loads": [0, 3]}},
        "channels": [{"name": "DE", "kind": "vibration", "fs": 12000, "length": 512},
                     {"name": "FE", "kind": "vibration", "fs": 12000, "length": 512},
                     {"name": "speed", "kind": "speed", "fs": 1, "length": 1}],
        "model": {"backbone": str(backbone), "input_prompts": 1, "deep_prompts": 1, "use_spectrogram": use_spectrogram,
                  "encoder": {"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64}, "adapter": {"queries": 2, "heads": 2}},
        "align": {"shots": 2, "epochs": 1, "batch_size": 16},
        "finetune": {"shots": 2, "source": "1730rpm", "epochs": 1, "min_steps": 2, "batch_size": 8, "noise_snr_db": [0, 10]},
    }
    if use_spectrogram:
        cloud = yaml.safe_load(recipe(tmp_path, backbone).read_text())
        cloud["data"] = {**config["data"]}
        cloud["model"].update({"extractor_widths": [8, 16], "visual_grid": 2})
        cloud["pretrain"]["epochs"] = 1
        (tmp_path / "cloud.yaml").write_text(yaml.safe_dump(cloud))
        assert runner.invoke(app, ["pretrain", "-c", str(tmp_path / "cloud.yaml")]).exit_code == 0
        config["visual_extractor"] = str(tmp_path / "run" / "pretrained")
    path = tmp_path / "sensor.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_sensor_model_aligns_finetunes_and_evaluates_with_and_without_a_sensor(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    config = str(sensor_recipe(tmp_path, cwru_dir))
    result = runner.invoke(app, ["sensor", "pretrain", "-c", config])
    assert result.exit_code == 0, result.output
    assert "frozen language model" in result.output and (tmp_path / "sensor" / "sensor-aligned" / "model.safetensors").is_file()
    result = runner.invoke(app, ["sensor", "finetune", "-c", config])
    assert result.exit_code == 0, result.output
    assert "(76 windows)" in result.output  # 19 classes x 2 shots, plus one noisy copy of each
    result = runner.invoke(app, ["sensor", "evaluate", "-c", config, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    metrics = record["metrics"]
    assert record["method"] == "Sensor-model" and record["test_samples"] == 19 * 5
    per_class, accuracy = confusion_drawn(saved, "sensor-confusion-19way-2shot-1730rpm-seed1.png", 19)
    assert per_class == [5] * 19 and metrics["accuracy"] == pytest.approx(accuracy)
    snapped_right = metrics["severity_ordinal_accuracy"] * metrics["severity_windows"]  # a count of the windows of known severity
    assert 0 <= metrics["severity_mae"] <= 0.021 and snapped_right == pytest.approx(round(snapped_right))
    assert record["parameters"]["adapter_and_heads"] < record["parameters"]["frozen_lm"]
    result = runner.invoke(app, ["sensor", "evaluate", "-c", config, "--drop", "FE", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["method"] == "Sensor-model without FE"
    assert [r["method"] for r in read_results(tmp_path / "results.jsonl")] == ["Sensor-model", "Sensor-model without FE"]
    assert (tmp_path / "sensor" / "sensor-attention-19way-2shot-1730rpm-seed1.png").read_bytes()[:4] == b"\x89PNG"
    for name, fe_seen in (("sensor-attention-19way-2shot-1730rpm-seed1.png", True), ("sensor-attention-19way-2shot-1730rpm-seed1-without-FE.png", False)):
        sensors = drawn(saved, name).axes[0]
        rows = [label.get_text().split(" (")[0] for label in sensors.get_yticklabels()]
        shares = np.nansum(image_data(sensors), axis=1)
        assert rows == ["DE", "FE", "speed"] and (shares[1] > 1e-3) == fe_seen  # a dropped sensor gets no attention

    held = [*("-c", config), "--set", "finetune.severity_holdout=[0.014]", "--set", f"output_dir={tmp_path / 'held'}",
            "--set", f"results_file={tmp_path / 'held.jsonl'}"]
    result = runner.invoke(app, ["sensor", "finetune", *held, "--checkpoint", str(tmp_path / "sensor" / "sensor-aligned")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sensor", "evaluate", *held])
    assert result.exit_code == 0 and "held-out severity levels [0.014]" in result.output, result.output
    metrics = read_results(tmp_path / "held.jsonl")[-1]["metrics"]
    assert metrics["severity_holdout_windows"] == 6 * 5 and metrics["severity_holdout_mae"] >= 0


def test_sensor_commands_name_bad_input(tmp_path, cwru_dir):
    config = str(sensor_recipe(tmp_path, cwru_dir, use_spectrogram=False))
    result = runner.invoke(app, ["sensor", "evaluate", "-c", config])
    assert result.exit_code == 2 and "not a syndiag checkpoint" in result.output
    result = runner.invoke(app, ["sensor", "pretrain", "-c", config, "--set", "channels=[{name: DE, kind: vibration, fs: 12000, length: 512}, {name: DE, kind: vibration, fs: 12000, length: 512}]"])
    assert result.exit_code == 2 and "duplicate" in result.output
    result = runner.invoke(app, ["sensor", "pretrain", "-c", config, "--set", "model.use_spectrogram=true"])
    assert result.exit_code == 2 and "visual_extractor" in result.output
    result = runner.invoke(app, ["sensor", "pretrain", "-c", config, "--set", "model.use_spectrogram=true",
                                 "--set", f"visual_extractor={tmp_path / 'nowhere'}"])
    assert result.exit_code == 2 and "syndiag pretrain" in result.output
    result = runner.invoke(app, ["sensor", "finetune", "-c", config, "--checkpoint", "none", "--shots", "0"])
    assert result.exit_code == 2 and "shots" in result.output


def test_a_missing_channel_hides_its_band_of_the_spectrogram():
    from types import SimpleNamespace

    import numpy as np

    from syndiag.training.sensor import SensorInputs

    layout = [SimpleNamespace(name=n) for n in ("DE", "FE", "speed")]
    inputs = SensorInputs(SimpleNamespace(layout=layout), SimpleNamespace(meta={"channels": ["DE", "FE"]}), token_grid=4)
    present = np.array([[True, True, True], [True, False, True], [False, True, False]])
    tokens = inputs.spectrogram_tokens_present(present).reshape(3, 4, 4)
    assert tokens[0].all()
    assert tokens[1, :2].all() and not tokens[1, 2:].any()  # fan end missing: the bottom half of the image is hidden
    assert not tokens[2, :2].any() and tokens[2, 2:].all()
    odd = SensorInputs(SimpleNamespace(layout=layout), SimpleNamespace(meta={"channels": ["DE", "FE"]}), token_grid=3)
    assert odd.spectrogram_tokens_present(present[1:2]).reshape(3, 3)[:, 0].tolist() == [True, False, False]


@pytest.mark.slow
def test_the_sensor_suite_scores_the_sensor_model_beside_the_others_on_the_same_cells(tmp_path, cwru_dir):
    from test_benchmark import bench_config

    from syndiag.training.sensor_spectral import MIXES

    config = bench_config(tmp_path, cwru_dir)
    (tmp_path / "s").mkdir()
    sensor = yaml.safe_load(sensor_recipe(tmp_path / "s", cwru_dir, use_spectrogram=False).read_text())
    sensor["model"]["use_spectrogram"] = True
    sensor["spectral"] = {"components": [10, 20], "noise_copies": 1}
    (tmp_path / "sensor-bench.yaml").write_text(yaml.safe_dump(sensor))
    raw = yaml.safe_load(config.read_text())
    raw.update({"sensor_recipe": str(tmp_path / "sensor-bench.yaml"),
                "sensor_methods": ["Sensor-model", "Sensor-model + spectral path", "log-spectrum-1NN"],
                "sensor_shots": [1], "sensor_conditions": ["1730rpm"], "sensor_pairs": [["1750rpm", "1730rpm"]]})
    config.write_text(yaml.safe_dump(raw))
    args = ["benchmark", "-c", str(config), "--suite", "sensor", "--report", str(tmp_path / "B.md")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = read_results(tmp_path / "results" / "sensor_cwru_test.jsonl")
    assert sorted((r["conditions"]["source"][0], r["conditions"]["target"], r["method"]) for r in records) == [
        ("1730rpm", "1730rpm", "Sensor-model"), ("1730rpm", "1730rpm", "Sensor-model + spectral path"), ("1730rpm", "1730rpm", "log-spectrum-1NN"),
        ("1750rpm", "1730rpm", "Sensor-model"), ("1750rpm", "1730rpm", "Sensor-model + spectral path"), ("1750rpm", "1730rpm", "log-spectrum-1NN")]
    for record in (r for r in records if r["method"] == "Sensor-model + spectral path"):
        fit = record["spectral_path"]
        assert fit["components"] in (10, 20) and set(fit["components_validation"]) == {"10", "20"} and fit["mix"] in MIXES
    sensor_cells = [r for r in records if r["method"] == "Sensor-model"]
    assert all(r["train_windows"] == 19 and r["parameters"]["adapter_and_heads"] > 0 and r["pretrained_commit"] for r in sensor_cells)
    assert len(list((tmp_path / "work").glob("cwru-*/seed0/sensor-aligned-*/model.safetensors"))) == 2
    assert "## Sensor model: CWRU 19-way, same and far cross-condition" in (tmp_path / "B.md").read_text()
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "0 cell(s) run, 0 left" in result.output
