"""The encoder's masked-token pretraining: what it hides, that it learns, that it reads only pool-half windows, its cache."""

import json

import numpy as np
import pytest
import torch
import yaml
from test_sensor_workflow import sensor_recipe
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.self_supervised import MaskedTokenConfig
from syndiag.config.sensor import ChannelSpec, TimeSeriesEncoderConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.sensor_windows import SensorWindows
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import ConfigError, DataError
from syndiag.models.masked_tokens import MaskedTokenPretrainer
from syndiag.models.timeseries_encoder import TimeSeriesEncoder
from syndiag.training.self_supervised import identity, pool_half, pretrain_encoder

runner = CliRunner()
LAYOUT = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=256), ChannelSpec(name="FE", kind="vibration", fs=12000, length=256)]
ENCODER = TimeSeriesEncoderConfig(d_model=16, layers=1, heads=2, patch_len=32, spectrum_tokens=8, spectrum_bins=8, dropout=0.0)


def tone_windows(n=96, seed=0):
    """Windows of two channels holding one tone each (a few frequencies), half pool, half test."""
    rng = np.random.default_rng(seed)
    t = np.arange(256) / 12000
    freqs = rng.choice([500.0, 1500.0, 3000.0], size=n)
    de = np.sin(2 * np.pi * freqs[:, None] * t + rng.uniform(0, 6, (n, 1))) + 0.05 * rng.standard_normal((n, 256))
    fe = np.sin(2 * np.pi * 2 * freqs[:, None] * t) + 0.05 * rng.standard_normal((n, 256))
    split = np.where(np.arange(n) % 2 == 0, POOL, TEST)
    return SensorWindows(layout=LAYOUT, signals={"DE": de.astype(np.float32), "FE": fe.astype(np.float32)},
                         present=np.ones((n, 2), bool), labels=np.zeros(n, int), conditions=np.zeros(n, int), split=split,
                         severity=np.full(n, np.nan), class_names=["x"], prompts=["x"], condition_names=["c"], images=None,
                         meta={"recordings": [{"group": "g"}]}, recording=np.zeros(n, int),
                         starts=np.arange(n), end_s=np.arange(n) * 0.1)


def test_hidden_tokens_are_present_ones_and_every_window_hides_at_least_one():
    torch.manual_seed(0)
    pretrainer = MaskedTokenPretrainer(TimeSeriesEncoder(ENCODER, LAYOUT), mask_ratio=0.3)
    mask = torch.ones(64, pretrainer.encoder.n_tokens, dtype=torch.bool)
    per_channel = pretrainer.encoder.n_tokens // 2
    mask[:, per_channel:] = False  # FE absent
    hidden = pretrainer.hidden_tokens(mask, torch.Generator().manual_seed(1))
    assert not hidden[:, per_channel:].any()
    assert hidden.any(1).all()
    assert 0.2 < hidden[:, :per_channel].float().mean().item() < 0.4


def test_pretraining_learns_to_rebuild_hidden_spectra_and_is_cached(tmp_path):
    windows = tone_windows()
    config = MaskedTokenConfig(epochs=25, batch_size=16, lr=3e-3, modality_dropout=0.0)
    state, description = pretrain_encoder([windows], ENCODER, LAYOUT, config, 0, tmp_path / "ssl")
    assert description["complete"] and description["identity"]["n_windows"] == 48
    losses = description["losses"]
    assert losses[-1] < 0.6 * losses[0]
    again, cached = pretrain_encoder([windows], ENCODER, LAYOUT, config, 0, tmp_path / "ssl")
    assert cached["seconds"] == description["seconds"] and all(torch.equal(again[k], state[k]) for k in state)
    encoder = TimeSeriesEncoder(ENCODER, LAYOUT)
    encoder.load_state_dict(state)


def test_a_resumed_pretraining_ends_where_the_uninterrupted_one_does(tmp_path, monkeypatch):
    import syndiag.training.engine as engine

    windows = tone_windows()
    config = MaskedTokenConfig(epochs=3, batch_size=16, lr=3e-3, modality_dropout=0.3)
    whole, _ = pretrain_encoder([windows], ENCODER, LAYOUT, config, 0, tmp_path / "whole")
    save = engine._Resume.save

    def stop_after_two(self, epoch, *args):
        save(self, epoch, *args)
        if epoch == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(engine._Resume, "save", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        pretrain_encoder([windows], ENCODER, LAYOUT, config, 0, tmp_path / "killed")
    monkeypatch.setattr(engine._Resume, "save", save)
    resumed, description = pretrain_encoder([windows], ENCODER, LAYOUT, config, 0, tmp_path / "killed")
    assert description["complete"] and len(description["losses"]) == 3
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_test_half_windows_are_never_read():
    windows = tone_windows()
    config = MaskedTokenConfig()
    before = identity([pool_half(windows)], ENCODER, LAYOUT, config, 0)
    changed = tone_windows()
    changed.signals["DE"][changed.split == TEST] = 0.0
    assert identity([pool_half(changed)], ENCODER, LAYOUT, config, 0) == before
    changed.signals["DE"][np.flatnonzero(changed.split == POOL)[0]] += 1.0
    assert identity([pool_half(changed)], ENCODER, LAYOUT, config, 0)["windows"] != before["windows"]


def test_a_cache_made_from_other_windows_is_refused_by_name(tmp_path):
    config = MaskedTokenConfig(epochs=1, batch_size=16)
    pretrain_encoder([tone_windows(seed=0)], ENCODER, LAYOUT, config, 0, tmp_path / "ssl")
    written = (tmp_path / "ssl" / "encoder.safetensors").read_bytes()
    with pytest.raises(DataError, match=r"ssl\.json.*other windows"):
        pretrain_encoder([tone_windows(seed=1)], ENCODER, LAYOUT, config, 0, tmp_path / "ssl")
    with pytest.raises(DataError, match="other seed"):
        pretrain_encoder([tone_windows(seed=0)], ENCODER, LAYOUT, config, 1, tmp_path / "ssl")
    assert (tmp_path / "ssl" / "encoder.safetensors").read_bytes() == written


def test_the_recipe_switch_is_strict_and_keeps_old_hashes():
    plain = SensorRunConfig()
    assert SensorRunConfig.model_validate({"model": {"encoder_pretraining": "none"}}).config_hash() == plain.config_hash()
    assert SensorRunConfig.model_validate({"model": {"encoder_pretraining": "masked-tokens"}}).config_hash() != plain.config_hash()
    with pytest.raises(ConfigError, match="encoder_pretraining"):
        SensorRunConfig.from_dict({"model": {"encoder_pretraining": "contrastive"}})
    with pytest.raises(ConfigError, match="mask_ratio"):
        SensorRunConfig.from_dict({"ssl": {"mask_ratio": 1.5}})


@pytest.mark.slow
def test_sensor_ssl_then_pretrain_starts_from_the_pretrained_encoder(tmp_path, cwru_dir):
    path = sensor_recipe(tmp_path, cwru_dir, use_spectrogram=False)
    config = yaml.safe_load(path.read_text())
    config["model"]["encoder_pretraining"] = "masked-tokens"
    config["ssl"] = {"epochs": 1, "batch_size": 32}
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["sensor", "ssl", "-c", str(path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "sensor" / "sensor-ssl"
    description = json.loads((folder / "ssl.json").read_text())
    assert description["complete"] and f"pretrained on {description['identity']['n_windows']} unlabelled windows" in result.output
    result = runner.invoke(app, ["sensor", "pretrain", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads((folder / "ssl.json").read_text())["seconds"] == description["seconds"]  # read, not trained again
    config["seed"] = 5
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["sensor", "ssl", "-c", str(path)])
    assert result.exit_code == 2 and "ssl.json" in result.output and "other seed" in result.output
