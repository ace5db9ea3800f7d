"""The time-series encoder: patches at each channel's own rate on one time axis in seconds, masking of absent channels."""

import pytest
import torch

from syndiag.config.sensor import ChannelSpec, SensorModelConfig, TimeSeriesEncoderConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.timeseries_encoder import TimeSeriesEncoder, patch_times

VIBRATION = ChannelSpec(name="DE", kind="vibration", fs=12000.0, length=512)
TEMPERATURE = ChannelSpec(name="temperature", kind="temperature", fs=10.0, length=8)
SPEED = ChannelSpec(name="speed", kind="speed", fs=12000.0, length=1)
MIXED = [VIBRATION, TEMPERATURE, SPEED]


def encoder(layout=MIXED, **overrides) -> TimeSeriesEncoder:
    torch.manual_seed(0)
    return TimeSeriesEncoder(TimeSeriesEncoderConfig(**overrides), layout).eval()


def signals(batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"DE": torch.randn(batch, 512, generator=g), "temperature": 40 + torch.randn(batch, 8, generator=g),
            "speed": torch.full((batch, 1), 1797.0)}


def test_mixed_rates_meet_on_one_time_axis_in_seconds():
    model = encoder()
    tokens, mask, channel, time_s = model(signals(), torch.ones(3, 3, dtype=torch.bool))
    assert tokens.shape == (3, 16 + 16 + 1 + 1, 64) and mask.shape == (3, 34) and mask.all()
    assert channel.tolist() == [0] * 32 + [1, 2]  # 16 time patches and 16 frequency tokens of DE; too short for a spectrum
    assert time_s[16:32].isnan().all() and model.token_freq_hz[:16].isnan().all() and model.token_freq_hz[32:].isnan().all()
    vibration, temperature, speed = time_s[:16], time_s[32], time_s[33]
    assert torch.all(vibration[1:] > vibration[:-1])  # patch centres ordered in time
    assert vibration[-1].item() == pytest.approx(-15.5 / 12000)  # the last 32 samples end at 0 s
    assert vibration[0].item() == pytest.approx(-(511 - 15.5) / 12000)
    assert temperature.item() == pytest.approx(-3.5 / 10)  # 8 samples at 10 Hz: the last 0.8 s, one padded patch
    assert speed.item() == 0.0
    for spec, last in ((VIBRATION, vibration[-1]), (TEMPERATURE, temperature), (SPEED, speed)):
        assert -spec.seconds / 2 <= last.item() <= 0.0  # the last patch of every channel is at the window's end
    assert torch.isfinite(tokens).all()


def test_patches_are_cut_from_the_window_end():
    spec = ChannelSpec(name="x", kind="other", fs=100.0, length=70)
    times = patch_times(spec, 32)
    assert len(times) == 3
    assert times[-1] == pytest.approx(-15.5 / 100) and times[-2] == pytest.approx(-47.5 / 100)
    assert times[0] == pytest.approx(((0 + 5) / 2 - 69) / 100)  # the first patch holds the 6 oldest samples, padded


def test_a_missing_channel_changes_nothing_whatever_its_buffer_holds():
    model = encoder()
    present = torch.tensor([[True, False, True], [True, True, True]])
    a, b = signals(2, seed=1), signals(2, seed=1)
    b["temperature"][0] = torch.tensor(float("nan"))
    b["temperature"][1] = a["temperature"][1]
    c = signals(2, seed=1)
    c["temperature"][0] = 1e6
    out_a, mask, _, _ = model(a, present)
    out_b, _, _, _ = model(b, present)
    out_c, _, _, _ = model(c, present)
    assert mask[0].tolist() == [True] * 32 + [False, True] and mask[1].all()
    assert torch.isfinite(out_b).all()
    assert torch.equal(out_a[0][mask[0]], out_b[0][mask[0]]) and torch.equal(out_a[0][mask[0]], out_c[0][mask[0]])
    assert torch.equal(out_a[1], out_b[1])
    without = dict(a)
    del without["temperature"]
    with pytest.raises(DataError, match="temperature"):
        model(without, present)  # marked present in window 1
    out_d, _, _, _ = model(without, present & torch.tensor([True, False, True]))
    assert torch.equal(out_d[0][mask[0]], out_a[0][mask[0]])


def test_level_and_amplitude_survive_the_normalisation():
    model = encoder()
    present = torch.ones(2, 3, dtype=torch.bool)
    base = signals(2)
    base["DE"][1] = base["DE"][0]
    base["temperature"][1] = base["temperature"][0]
    louder = {k: v.clone() for k, v in base.items()}
    louder["DE"][1] *= 10
    tokens, _, _, _ = model(louder, present)
    assert not torch.allclose(tokens[0, :16], tokens[1, :16])  # same shape, ten times the amplitude
    faster = {k: v.clone() for k, v in base.items()}
    faster["speed"][1] = 1730.0
    tokens, _, _, _ = model(faster, present)
    assert not torch.allclose(tokens[0, 17], tokens[1, 17])  # a constant channel keeps its level
    patches, stats = model.channel_patches(torch.full((2, 1), 1797.0), torch.ones(2, dtype=torch.bool), SPEED)
    assert torch.equal(patches, torch.zeros(2, 1, 32)) and torch.isfinite(stats).all()


def test_a_window_without_any_channel_gives_masked_finite_tokens():
    model = encoder()
    present = torch.tensor([[False, False, False], [True, True, True]])
    tokens, mask, _, _ = model(signals(2), present)
    assert not mask[0].any() and mask[1].all() and torch.isfinite(tokens).all()


def test_bad_inputs_name_the_channel():
    model = encoder()
    present = torch.ones(2, 3, dtype=torch.bool)
    wrong = signals(2)
    wrong["DE"] = torch.randn(2, 256)
    with pytest.raises(DataError, match=r"DE .*512"):
        model(wrong, present)
    unknown = {**signals(2), "FE": torch.randn(2, 512)}
    with pytest.raises(DataError, match="FE"):
        model(unknown, present)
    with pytest.raises(DataError, match="present"):
        model(signals(2), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ConfigError, match="DE"):
        TimeSeriesEncoder(TimeSeriesEncoderConfig(), [VIBRATION, VIBRATION])
    with pytest.raises(ConfigError, match="d_model"):
        SensorModelConfig.from_dict({"encoder": {"d_model": 63}})
    with pytest.raises(ConfigError, match="fs"):
        ChannelSpec.from_dict({"name": "DE", "kind": "vibration", "fs": 0, "length": 512})
    with pytest.raises(ConfigError, match="kind"):
        ChannelSpec.from_dict({"name": "DE", "kind": "pressure", "fs": 1, "length": 512})


def test_gradients_reach_every_trained_part():
    model = encoder().train()
    tokens, mask, _, _ = model(signals(2), torch.ones(2, 3, dtype=torch.bool))
    tokens[mask].sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name


def test_frequency_tokens_put_a_tone_at_its_frequency_at_any_rate():
    """A 3 kHz tone sampled at 12 kHz and at 48 kHz: its power lands in the band holding 3 kHz, and bands of equal centre
    frequency get the same embedding whatever the rate."""
    slow = ChannelSpec(name="a", kind="vibration", fs=12000.0, length=512)
    fast = ChannelSpec(name="b", kind="vibration", fs=48000.0, length=2048)
    model = encoder([slow, fast], spectrum_tokens=8, spectrum_bins=4)
    freqs = model.token_freq_hz[torch.isfinite(model.token_freq_hz)]
    assert freqs[:8].tolist() == pytest.approx([375 + 750 * j for j in range(8)])
    assert freqs[8:].tolist() == pytest.approx([1500 + 3000 * j for j in range(8)])
    for spec, band in ((slow, 3000 // 750), (fast, 3000 // 3000)):
        t = torch.arange(spec.length) / spec.fs
        values = model.spectrum_values(torch.sin(2 * torch.pi * 3000.0 * t)[None])[0]  # (tokens, bins)
        assert values.max(1).values.argmax().item() == band
    same = (model.token_freq_hz[:, None] == model.token_freq_hz[None, :]).nonzero()
    for i, j in same.tolist():
        assert torch.allclose(model.time_embedding[i], model.time_embedding[j])
    assert encoder([slow], spectrum_tokens=0).n_tokens == 16
