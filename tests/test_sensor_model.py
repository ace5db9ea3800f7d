"""The sensor model: soft tokens through a frozen LM of any width, heads on the fused token, missing channels, severity, checkpoints."""

import json

import pytest
import torch
from safetensors.torch import load_file
from tiny import tiny_backbone

from syndiag.config.sensor import ChannelSpec, SensorModelConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.sensor import SensorBatch, SensorModel
from syndiag.models.sensor_heads import severity_nll
from syndiag.models.visual_extractor import VisualExtractor

NAMES = ["normal", "DE_IR007", "DE_B021"]
PROMPTS = ["normal operation", "inner race fault at motor end with diameter 0.007 inches", "ball fault at motor end with diameter 0.021 inches"]
LAYOUT = [ChannelSpec(name="DE", kind="vibration", fs=12000.0, length=512), ChannelSpec(name="FE", kind="vibration", fs=12000.0, length=512),
          ChannelSpec(name="speed", kind="speed", fs=12000.0, length=1)]
SLOW = ChannelSpec(name="temperature", kind="temperature", fs=10.0, length=8)
RANGE = (0.0, 0.021)


def config(**overrides) -> SensorModelConfig:
    base = dict(backbone="tiny", input_prompts=2, deep_prompts=2, deep_prompt_every=2)
    return SensorModelConfig(**{**base, **overrides})


def extractor(hidden=32) -> VisualExtractor:
    return VisualExtractor(hidden, [8, 16], 2, 3, 8)


def build(kind="decoder", hidden=32, layout=LAYOUT, seed=0, **overrides) -> SensorModel:
    torch.manual_seed(seed)
    cfg = config(**overrides)
    return SensorModel(cfg, tiny_backbone(kind, hidden=hidden), layout, NAMES, PROMPTS, RANGE, extractor(hidden) if cfg.use_spectrogram else None).eval()


def batch(n=4, layout=LAYOUT, seed=0, spectrograms=True, images=False) -> SensorBatch:
    g = torch.Generator().manual_seed(seed)
    signals = {}
    for spec in layout:
        if spec.kind == "speed":
            signals[spec.name] = torch.full((n, 1), 1797.0)
        elif spec.kind == "temperature":
            signals[spec.name] = 40 + torch.randn(n, spec.length, generator=g)
        else:
            signals[spec.name] = torch.randn(n, spec.length, generator=g)
    pictures = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)
    return SensorBatch(signals, torch.ones(n, len(layout), dtype=torch.bool), pictures if spectrograms else None, pictures if images else None)


@pytest.mark.parametrize(("kind", "hidden"), [("decoder", 32), ("decoder", 48), ("encoder", 32)])
def test_outputs_follow_the_backbone_width(kind, hidden):
    model = build(kind, hidden)
    out = model(batch())
    assert out.logits.shape == (4, 3) and out.fused.shape == (4, hidden) and out.pooled.shape == (4, hidden)
    assert out.severity_mean.shape == (4,) and out.severity_std.shape == (4,) and out.severity_raw.shape == (4, 2)
    n_keys = 2 * (16 + 16) + 1 + 4  # two vibration channels: 16 time patches + 16 frequency tokens each; speed; spectrogram
    assert out.attention.shape == (4, 4, 8, n_keys) and out.key_mask.shape == (4, n_keys)
    assert out.token_channel.tolist() == [0] * 32 + [1] * 32 + [2] + [-1] * 4
    patches, bands = torch.isfinite(out.token_time_s), torch.isfinite(out.token_freq_hz)
    assert int(patches.sum()) == 16 + 16 + 1 and int(bands.sum()) == 32 and not (patches & bands).any()
    assert not (patches | bands)[-4:].any()  # spectrogram tokens are neither
    assert model.fusion_position == (-1 if kind == "decoder" else 2 + 2)
    assert model.text_bank.mean_features().shape == (3, hidden)


def test_pooled_is_the_mean_of_the_soft_tokens():
    model = build()
    data = batch()
    soft = model.soft_tokens(data)[0]
    assert torch.allclose(model(data).pooled, soft.mean(1))


def test_only_encoder_adapter_lora_and_heads_train():
    model = build(lora_r=4).train()
    for name, parameter in model.lm.named_parameters():
        assert parameter.requires_grad == ("lora_" in name), name
    assert not any(p.requires_grad for p in model.extractor.parameters())
    out = model(batch())
    loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2, 0])) + severity_nll(out.severity_raw, torch.tensor([0.0, 0.3, 1.0, 0.0]))
    loss.backward()
    for prefix in ("encoder.", "adapter.", "heads.fault.", "heads.severity.", "learned_prompts.", "fusion_token"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), prefix
        assert any(g.abs().sum() > 0 for g in grads), prefix
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.lm.named_parameters() if "lora_B" in n)
    assert all(p.grad is None for n, p in model.lm.named_parameters() if "lora_" not in n)
    assert all(p.grad is None for p in model.extractor.parameters())


def test_a_missing_channel_does_not_change_the_outputs_whatever_it_holds():
    model = build()
    a, b = batch(seed=1), batch(seed=1)
    a.present[0, 1] = b.present[0, 1] = False  # the fan-end sensor of window 0 failed
    b.signals["FE"][0] = float("nan")
    c = batch(seed=1)
    c.present[0, 1] = False
    c.signals["FE"][0] = torch.randn(512) * 100
    out_a, out_b, out_c = model(a), model(b), model(c)
    for out in (out_b, out_c):
        for field in ("logits", "severity_mean", "severity_std", "fused", "pooled"):
            assert torch.equal(getattr(out_a, field), getattr(out, field)), field
    assert not out_a.key_mask[0, 32:64].any() and torch.all(out_a.attention[0][..., 32:64] == 0)  # FE: time patches and frequency tokens
    present = model(batch(seed=1))
    assert not torch.allclose(present.logits[0], out_a.logits[0])  # the channel mattered when it was there
    assert torch.allclose(present.logits[1:], out_a.logits[1:], atol=1e-6)


def test_a_window_with_no_channel_uses_the_spectrogram_or_is_an_error():
    model = build()
    data = batch()
    data.present[2] = False
    out = model(data)
    assert torch.isfinite(out.logits).all() and out.key_mask[2].tolist() == [False] * 65 + [True] * 4
    data.spectrogram_present = torch.tensor([True, True, False, True])
    with pytest.raises(DataError, match=r"windows \[2\]"):
        model(data)
    plain = build(use_spectrogram=False)
    no_channel = batch(spectrograms=False)
    no_channel.present[1] = False
    with pytest.raises(DataError, match=r"windows \[1\] .*no token"):
        plain(no_channel)


def test_mixed_rates_in_one_layout():
    layout = [LAYOUT[0], SLOW]
    model = build(layout=layout, use_spectrogram=False)
    out = model(batch(layout=layout, spectrograms=False))
    assert out.logits.shape == (4, 3) and out.token_channel.tolist() == [0] * 32 + [1]
    assert out.token_time_s[15].item() == pytest.approx(-15.5 / 12000) and out.token_time_s[32].item() == pytest.approx(-0.35)


def test_image_tokens_join_the_keys():
    model = build(use_images=True)
    out = model(batch(images=True))
    assert out.token_channel.tolist()[-16 - 4:] == [-1] * 4 + [-2] * 16
    data = batch(images=True)
    data.image_present = torch.tensor([False, True, True, True])
    assert not model(data).key_mask[0, -16:].any()
    assert model.image_encoder.projection.weight.requires_grad


def test_severity_is_gaussian_in_the_original_unit():
    model = build()
    out = model(batch())
    assert torch.all((out.severity_mean >= 0) & (out.severity_mean <= 0.021)) and torch.all(out.severity_std > 0)
    raw = out.severity_raw.detach()
    expected_std = torch.exp(0.5 * raw[:, 1]) * 0.021
    assert torch.allclose(out.severity_std, expected_std)
    model.calibrate_severity(2.0)
    assert torch.allclose(model(batch()).severity_std, 2 * expected_std)
    assert model.normalise_severity([0.0, 0.014, 0.021]).tolist() == pytest.approx([0.0, 2 / 3, 1.0])
    assert model.normalise_severity(torch.tensor([0.007])).item() == pytest.approx(1 / 3)
    assert build(severity=False)(batch()).severity_mean is None
    with pytest.raises(ConfigError, match="severity_range"):
        SensorModel(config(use_spectrogram=False), tiny_backbone(), LAYOUT, NAMES, PROMPTS, (0.02, 0.01))


def test_severity_nll_is_the_gaussian_likelihood_and_skips_unknown_targets():
    raw = torch.tensor([[0.5, 0.0], [0.2, -2.0], [0.9, 1.0]], requires_grad=True)
    target = torch.tensor([0.5, 0.4, float("nan")])
    loss = severity_nll(raw, target)
    expected = (0.5 * (0.0 + 0.0) + 0.5 * (-2.0 + 0.2**2 / torch.exp(torch.tensor(-2.0)))) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert torch.all(raw.grad[2] == 0) and torch.isfinite(raw.grad).all()
    none = severity_nll(raw, torch.full((3,), float("nan")))
    assert none.item() == 0.0 and none.requires_grad


def test_checkpoint_round_trip_keeps_outputs_and_only_trained_tensors(tmp_path):
    model = build(lora_r=4, seed=3)
    with torch.no_grad():
        for parameter in model.heads.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.calibrate_severity(1.5)
    data = batch(seed=5)
    data.present[1, 0] = False
    expected = model(data)
    folder = model.save_pretrained(tmp_path / "sensor", extra={"note": "test"})
    meta = json.loads((folder / "config.json").read_text())
    assert [c["name"] for c in meta["layout"]] == ["DE", "FE", "speed"] and meta["layout"][0]["fs"] == 12000.0
    assert meta["class_names"] == NAMES and meta["prompts"] == PROMPTS and meta["severity_range"] == list(RANGE)
    assert meta["config"]["lora_r"] == 4 and meta["note"] == "test" and len(meta["sha256"]["model.safetensors"]) == 64
    tensors = load_file(str(folder / "model.safetensors"))
    assert all("lora_" in k for k in tensors if k.startswith("lm."))
    assert any(k.startswith("extractor.") for k in tensors) and "severity_sigma_scale" in tensors
    backbone_size = sum(p.numel() for n, p in model.lm.named_parameters() if "lora_" not in n)
    assert sum(t.numel() for t in tensors.values()) < backbone_size / 2
    loaded = SensorModel.from_pretrained(folder, backbone=tiny_backbone(hidden=32)).eval()
    got = loaded(data)
    for field in ("logits", "severity_mean", "severity_std", "fused", "pooled", "attention"):
        assert torch.allclose(getattr(expected, field), getattr(got, field), atol=1e-6), field
    assert loaded.layout == model.layout and loaded.severity_range == RANGE
    other = [LAYOUT[0], SLOW]
    with pytest.raises(ConfigError, match=r"FE.*temperature|temperature.*FE"):
        SensorModel.from_pretrained(folder, backbone=tiny_backbone(hidden=32), layout=other)
    with pytest.raises(ConfigError, match="speed"):
        loaded.check_layout(LAYOUT[:2])


def test_spectrograms_need_an_extractor_and_a_backbone_serves_one_model():
    with pytest.raises(ConfigError, match="extractor"):
        SensorModel(config(), tiny_backbone(), LAYOUT, NAMES, PROMPTS)
    backbone = tiny_backbone()
    SensorModel(config(use_spectrogram=False), backbone, LAYOUT, NAMES, PROMPTS)
    with pytest.raises(ConfigError, match="already serves"):
        SensorModel(config(use_spectrogram=False), backbone, LAYOUT, NAMES, PROMPTS)


def test_unknown_channels_are_named():
    model = build()
    data = batch()
    data.signals["temperature"] = torch.zeros(4, 8)
    with pytest.raises(DataError, match="temperature"):
        model(data)


def test_parameter_counts_against_the_frozen_model():
    model = build(kind="decoder", use_spectrogram=True)
    counts = model.parameter_counts()
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    parts = sum(sum(p.numel() for p in getattr(model, part).parameters()) for part in ("encoder", "adapter", "heads", "learned_prompts"))
    assert counts["adapter_and_heads"] == trained == parts + model.fusion_token.numel()
    assert counts["frozen_lm"] == sum(p.numel() for p in model.lm.parameters())
    assert counts["frozen_extractor"] == sum(p.numel() for p in model.extractor.parameters())
    ratio = counts["adapter_and_heads"] / counts["frozen_lm"]
    print(f"tiny decoder: adapter and heads {counts['adapter_and_heads']:,}, frozen LM {counts['frozen_lm']:,}, ratio {ratio:.2%}")
    assert 0 < ratio < 1


def test_placed_with_a_low_precision_dtype_the_lm_runs_under_autocast():
    from syndiag.models.device import place

    model = place(build(), "cpu", "bfloat16")
    out = model(batch())
    assert out.fused.dtype == torch.float32 and torch.isfinite(out.logits).all()


def test_a_checkpoint_saved_before_frequency_tokens_loads_without_them(tmp_path):
    model = build(encoder={"spectrum_tokens": 0}).eval()
    folder = model.save_pretrained(tmp_path / "old")
    meta = json.loads((folder / "config.json").read_text())
    del meta["config"]["encoder"]["spectrum_tokens"]  # as written before the field existed
    (folder / "config.json").write_text(json.dumps(meta))
    loaded = SensorModel.from_pretrained(folder, backbone=tiny_backbone(hidden=32)).eval()
    assert loaded.config.encoder.spectrum_tokens == 0 and loaded.encoder.spectrum is None
    data = batch()
    assert torch.allclose(loaded(data).logits, model(data).logits, atol=1e-6)
