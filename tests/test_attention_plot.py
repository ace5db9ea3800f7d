"""The attention PNG of the sensor model's adapter: channel x time patch, spectrogram bands, written atomically."""

import numpy as np
import pytest
import torch
from figures import drawn, image_data, record_figures
from tiny import tiny_backbone

from syndiag.config.sensor import ChannelSpec, SensorModelConfig
from syndiag.errors import DataError
from syndiag.evaluation.attention_plot import attention_per_key, series_matrix, write_attention_png
from syndiag.models.sensor import SensorBatch, SensorModel
from syndiag.models.visual_extractor import VisualExtractor

PNG = b"\x89PNG\r\n\x1a\n"
LAYOUT = [ChannelSpec(name="DE", kind="vibration", fs=12000.0, length=512), ChannelSpec(name="temperature", kind="temperature", fs=10.0, length=8)]


def test_attention_is_averaged_to_one_share_per_key():
    attention = torch.softmax(torch.randn(2, 4, 8, 10), dim=-1)
    shares = attention_per_key(attention)
    assert shares.shape == (10,) and shares.sum() == pytest.approx(1.0)
    assert np.allclose(shares, attention.mean(dim=(0, 1, 2)).numpy())


def test_series_are_right_aligned_at_the_window_end():
    weights = np.arange(5, dtype=float)
    matrix, times = series_matrix(weights, np.array([0, 0, 0, 1, 2]), np.array([-2.0, -1.0, 0.0, -0.5, 0.0]), 3)
    assert np.array_equal(matrix[0], [0, 1, 2]) and np.isnan(matrix[1, :2]).all() and matrix[1, 2] == 3 and matrix[2, 2] == 4
    assert times[1].tolist() == [-0.5]


def test_a_model_attention_map_is_written(tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    torch.manual_seed(0)
    model = SensorModel(SensorModelConfig(backbone="tiny", input_prompts=1, deep_prompts=0), tiny_backbone(), LAYOUT, ["a", "b"],
                        ["normal operation", "inner race fault"], (0.0, 0.021), VisualExtractor(32, [8, 16], 2, 3, 8)).eval()
    batch = SensorBatch({"DE": torch.randn(2, 512), "temperature": 40 + torch.randn(2, 8)}, torch.ones(2, 2, dtype=torch.bool),
                        torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8))
    out = model(batch)
    path = write_attention_png(out.attention[0], out.token_channel, out.token_time_s, model.channel_names, tmp_path / "plots" / "attention.png",
                               "window 0: DE + temperature + frequency tokens + spectrogram", token_freq_hz=out.token_freq_hz)
    assert path.read_bytes()[:8] == PNG
    weights = attention_per_key(out.attention[0])
    channel, time_s, freq_hz = out.token_channel.numpy(), out.token_time_s.numpy(), out.token_freq_hz.numpy()
    series = (channel >= 0) & ~np.isfinite(freq_hz)
    sensors, bands, spectrogram = drawn(saved, "attention.png").axes[:3]
    expected = series_matrix(weights, np.where(series, channel, -1), time_s, 2)[0]
    assert np.allclose(image_data(sensors), expected, equal_nan=True) and np.isnan(expected[1, 0])  # temperature: fewer patches
    assert np.allclose(np.sort(image_data(spectrogram).ravel()), np.sort(weights[channel == -1]))
    assert sum(np.nansum(image_data(ax)) for ax in (sensors, bands, spectrogram)) == pytest.approx(1.0)  # every key drawn once
    assert f"sensors {weights[series].sum():.0%}" in drawn(saved, "attention.png").get_suptitle()
    with pytest.raises(DataError, match="token_time_s must be finite"):  # frequency tokens given as time patches
        write_attention_png(out.attention[0], out.token_channel, out.token_time_s, model.channel_names, tmp_path / "x.png", "t")
    series_only = (out.token_channel >= 0) & out.token_time_s.isfinite()
    path2 = write_attention_png(out.attention[..., series_only], out.token_channel[series_only], out.token_time_s[series_only],
                                model.channel_names, tmp_path / "series.png", "batch mean, sensors only")
    assert path2.read_bytes()[:8] == PNG
    only = series_matrix(attention_per_key(out.attention[..., series_only]), channel[series_only.numpy()], time_s[series_only.numpy()], 2)[0]
    assert np.allclose(image_data(drawn(saved, "series.png").axes[0]), only, equal_nan=True)  # the batch mean, not window 0
    assert not np.allclose(only, expected, equal_nan=True)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["attention.png", "series.png"]  # no staging left


def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path):
    attention = np.full((4, 3), 0.25)
    target = tmp_path / "a.png"
    with pytest.raises(DataError, match="3 keys"):
        write_attention_png(np.full((4, 3), 1 / 3), [0, 0], [-1.0, 0.0], ["DE"], target, "t")
    with pytest.raises(DataError, match="token_channel"):
        write_attention_png(np.full(3, 1 / 3), [0, 5, 0], [-1.0, 0.0, 0.0], ["DE"], target, "t")
    with pytest.raises(DataError, match="NaN"):
        write_attention_png(np.array([np.nan, 1.0]), [0, 0], [-1.0, 0.0], ["DE"], target, "t")
    with pytest.raises(DataError, match="time-series"):
        write_attention_png(attention[0, :2], [-1, -1], [np.nan, np.nan], ["DE"], target, "t")
    assert not list(tmp_path.iterdir())
