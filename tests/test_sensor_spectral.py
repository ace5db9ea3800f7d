"""The sensor model's spectrum path: the same features as the numpy view, fitted on the alignment pool, prototypes and
the mix fitted after fine-tuning, saved and read back; the language-model ablations build."""

import json

import numpy as np
import pytest
import torch
from test_sensor_workflow import runner, sensor_recipe

from syndiag.cli import app
from syndiag.config.benchmark import BenchmarkConfig
from syndiag.config.sensor import ChannelSpec
from syndiag.errors import ConfigError
from syndiag.models.spectral_discriminant import PrototypeHead, SpectralDiscriminant
from syndiag.models.spectral_head import SpectralHead
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view
from syndiag.training.sensor_spectral import MIXES
from syndiag.workflows.cells import method_material

LAYOUT = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=512), ChannelSpec(name="FE", kind="vibration", fs=12000, length=512),
          ChannelSpec(name="speed", kind="speed", fs=1, length=1)]


def test_the_head_reads_the_same_spectra_as_the_numpy_view_and_an_absent_channel_reads_as_the_mean():
    head = SpectralHead(LAYOUT, n_classes=3)
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((4, 2, 512)).astype(np.float32)
    signals = {"DE": torch.from_numpy(windows[:, 0]), "FE": torch.from_numpy(windows[:, 1]), "speed": torch.ones(4, 1)}
    present = torch.ones(4, 3, dtype=torch.bool)
    expected = spectrum_view(windows, 12000.0, head.grid)
    assert np.allclose(head.spectra(signals, present).numpy(), expected, atol=2e-3)
    head.mean.copy_(torch.arange(head.mean.numel(), dtype=torch.float32))
    present[1, 1] = False
    spectra = head.spectra(signals, present).numpy()
    assert np.allclose(spectra[1, 257:], np.arange(257, 514)) and np.allclose(spectra[1, :257], expected[1, :257], atol=2e-3)


def test_prototypes_vote_only_once_fitted_and_with_the_chosen_mix():
    head = SpectralHead(LAYOUT, n_classes=3)
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    z = torch.zeros(1, 2)
    assert torch.equal(head.combine(logits, z), logits)
    features = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    head.set_discriminant(SpectralDiscriminant(np.zeros(514), np.ones(514), np.zeros(514), np.zeros((514, 2))))
    head.set_prototypes(PrototypeHead.fit(features, np.array([0, 1, 2]), 3), mix=0.0)
    assert head.combine(torch.tensor([[0.0, 9.0, 0.0]]), torch.tensor([[0.1, 0.0]])).argmax().item() == 0
    head.mix.fill_(1.0)
    assert head.combine(torch.tensor([[0.0, 9.0, 0.0]]), torch.tensor([[0.1, 0.0]])).argmax().item() == 1


@pytest.mark.slow
def test_a_sensor_model_with_the_spectrum_path_trains_saves_and_diagnoses(tmp_path, cwru_dir):
    config = str(sensor_recipe(tmp_path, cwru_dir, use_spectrogram=False))
    path = ["--set", "model.spectral_path=true", "--set", "spectral.components=[10, 20]", "--set", "spectral.noise_copies=1",
            "--set", "spectral.mix_holdout=1", "--set", "align.shots=3"]
    result = runner.invoke(app, ["sensor", "pretrain", "-c", config, *path])
    assert result.exit_code == 0, result.output
    aligned = json.loads((tmp_path / "sensor" / "sensor-aligned" / "config.json").read_text())
    assert aligned["spectral_path"]["components"] in (10, 20) and set(aligned["spectral_path"]["validation"]) == {"10", "20"}
    result = runner.invoke(app, ["sensor", "finetune", "-c", config, *path])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sensor", "evaluate", "-c", config, *path, "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["metrics"]["accuracy"] >= 0.8 and record["test_samples"] == 19 * 5
    from syndiag.models.sensor import SensorModel

    model = SensorModel.from_pretrained(tmp_path / "sensor" / "sensor-finetuned")
    assert bool(model.spectral.fitted) and float(model.spectral.mix) in MIXES
    assert model.spectral.projection.abs().sum() > 0 and model.spectral.prototypes.abs().sum() > 0

    rng = np.random.default_rng(0)
    for rate, code in ((12000, 0), (6000, 2)):
        recording = tmp_path / f"at-{rate}.npz"
        np.savez(recording, DE=rng.standard_normal(rate), FE=rng.standard_normal(rate), speed=np.full(2, 1750.0), fs=rate)
        result = runner.invoke(app, ["diagnose", str(recording), "--checkpoint", str(tmp_path / "sensor" / "sensor-finetuned"),
                                     "--channels", f"DE,FE,speed@1"])
        assert result.exit_code == code, result.output
    assert "recorded at 6000 Hz and reaches 3000 Hz" in result.output and "record at 12000 Hz or more" in result.output


def test_the_language_model_ablations_build(tmp_path):
    from tiny import save_tiny_backbone

    from syndiag.config.sensor import SensorModelConfig
    from syndiag.models.backbones import load_backbone
    from syndiag.models.sensor import SensorModel

    folder = save_tiny_backbone(tmp_path / "tiny")
    models = {}
    for kind in ("pretrained", "random", "none"):
        config = SensorModelConfig(backbone=str(folder), use_spectrogram=False, spectral_path=True, language_model=kind, input_prompts=1,
                                   deep_prompts=1, encoder={"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64},
                                   adapter={"queries": 2, "heads": 2})
        models[kind] = SensorModel(config, load_backbone(str(folder)), LAYOUT, ["a", "b", "c"], ["x", "y", "z"])
    weights = {k: next(m.lm.parameters()).detach().clone() for k, m in models.items()}
    assert not torch.equal(weights["pretrained"], weights["random"]) and torch.equal(weights["pretrained"], weights["none"])
    again = SensorModel(models["random"].config, load_backbone(str(folder)), LAYOUT, ["a", "b", "c"], ["x", "y", "z"])
    assert torch.equal(next(again.lm.parameters()), weights["random"])  # the same draw every time
    batch_signals = {"DE": torch.randn(2, 512), "FE": torch.randn(2, 512), "speed": torch.ones(2, 1)}
    from syndiag.models.sensor_heads import SensorBatch

    output = models["none"](SensorBatch(batch_signals, torch.ones(2, 3, dtype=torch.bool)))
    assert output.logits.shape == (2, 3) and torch.equal(output.logits, output.head_logits)


def test_diagnose_and_report_default_to_the_spectral_sensor_model_once_it_is_trained(tmp_path, monkeypatch):
    from pathlib import Path

    from syndiag.config.run import default_checkpoint, trained_diagnosis_model

    monkeypatch.chdir(tmp_path)
    assert trained_diagnosis_model() is None and default_checkpoint() == Path("runs/cloud-cpu/finetuned")
    folder = tmp_path / "runs" / "sensor-spectral-cpu" / "sensor-finetuned"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert default_checkpoint() == Path("runs/sensor-spectral-cpu/sensor-finetuned") == trained_diagnosis_model()
    assert default_checkpoint(stage="edge") == Path("runs/cloud-cpu/edge")  # other stages keep the cloud recipe's


def test_the_ablation_methods_change_only_what_they_name():
    settings = BenchmarkConfig()
    full = method_material(settings, "Sensor-model + spectral path")["sensor_recipe"]
    unaligned = method_material(settings, "Sensor-model + spectral path, no text alignment")["sensor_recipe"]
    pretrained = method_material(settings, "Sensor-model + spectral path, masked-token pretraining")["sensor_recipe"]
    assert full["align"]["epochs"] == 20 and unaligned["align"]["epochs"] == 0
    assert {k: v for k, v in unaligned["align"].items() if k != "epochs"} == {k: v for k, v in full["align"].items() if k != "epochs"}
    assert unaligned["model"] == full["model"] and "encoder_pretraining" not in full["model"] and "ssl" not in full
    assert pretrained["model"] == {**full["model"], "encoder_pretraining": "masked-tokens"} and pretrained["ssl"]["mask_ratio"] == 0.4


def test_the_held_out_mix_is_chosen_on_pool_windows_that_stage_a_never_saw():
    from types import SimpleNamespace

    from syndiag.workflows.sensor import alignment_pools

    settings = BenchmarkConfig()
    held_out = method_material(settings, "Sensor-model + spectral path, mix on held-out pool")["sensor_recipe"]
    full = method_material(settings, "Sensor-model + spectral path")["sensor_recipe"]
    assert full["spectral"]["components_by"] == "other loads" and "mix_holdout" not in full["spectral"]
    assert full["spectral"]["components_choice"] == "fewest within one standard error"
    assert held_out["spectral"] == {**{k: v for k, v in full["spectral"].items() if not k.startswith("components_")}, "mix_holdout": 2}
    index = SimpleNamespace(labels=np.tile(np.repeat([0, 1], 10), 2), conditions=np.repeat([0, 1], 20), split=np.zeros(40, int),
                            class_names=["a", "b"], condition_names=["c0", "c1"])
    config = settings.sensor_recipe_for("Sensor-model + spectral path, mix on held-out pool")
    config = config.model_copy(update={"align": config.align.model_copy(update={"shots": 5})})
    pools = alignment_pools(config, index, seed=0)
    fitted, held = pools.alignment, pools.mix
    assert len(fitted) == 3 * 4 and len(held) == 2 * 4 and not set(fitted) & set(held) and np.array_equal(pools.discriminant, fitted)
    assert all(np.sum((index.labels[held] == c) & (index.conditions[held] == d)) == 2 for c in (0, 1) for d in (0, 1))
    whole = alignment_pools(settings.sensor_recipe_for("Sensor-model + spectral path").model_copy(update={"align": config.align}), index, 0)
    assert len(whole.alignment) == 20 and np.array_equal(whole.alignment, whole.mix) and set(whole.alignment) == set(fitted) | set(held)
    unseen = settings.sensor_recipe_for("Sensor-model + spectral path, mix on windows stage (a) never saw")
    pools = alignment_pools(unseen.model_copy(update={"align": config.align}), index, 0)
    assert np.array_equal(pools.alignment, fitted) and np.array_equal(pools.mix, held) and np.array_equal(pools.discriminant, whole.alignment)
    with pytest.raises(ConfigError, match="spectral.mix_holdout: 4 windows per class and condition leave 1 of align.shots = 5"):
        alignment_pools(config.model_copy(update={"spectral": config.spectral.model_copy(update={"mix_holdout": 4})}), index, 0)


def test_the_model_path_averages_a_long_window_as_the_harness_path_does():
    rng = np.random.default_rng(3)
    layout = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=2048), ChannelSpec(name="FE", kind="vibration", fs=12000, length=2048)]
    t = np.arange(2048) / 12000
    windows = (np.sin(2 * np.pi * 1500 * t)[None, None, :] + 0.3 * rng.standard_normal((4, 2, 2048))).astype(np.float32)
    head = SpectralHead(layout, 3, segment=512)
    assert head.grid.bins == 257 and head.segments == {"DE": 512, "FE": 512}
    spectra = head.spectra({"DE": torch.from_numpy(windows[:, 0]), "FE": torch.from_numpy(windows[:, 1])}, torch.ones(4, 2, dtype=torch.bool))
    expected = spectrum_view(windows, 12000, SpectrumGrid.for_windows(12000, 2048, segment=512))
    np.testing.assert_allclose(spectra.numpy(), expected, atol=2e-3)
    whole = SpectralHead(layout, 3)
    assert whole.grid.bins == 1025 and whole.segments == {"DE": 2048, "FE": 2048}
    with pytest.raises(ConfigError, match="spectral_segment"):
        SpectralHead(layout, 3, segment=4096)
