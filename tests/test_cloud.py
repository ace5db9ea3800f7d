import numpy as np
import pytest
import torch
from tiny import tiny_backbone

from syndiag.config.models import CloudConfig
from syndiag.errors import ConfigError
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.prompt_fusion import fusion_weights

PROMPTS = ["normal operation", "inner race fault at motor end with diameter 0.007 inches", "ball fault at fan end with diameter 0.021 inches"]
NAMES = ["normal", "DE_IR007", "FE_B021"]


def tiny_config(**overrides) -> CloudConfig:
    base = dict(backbone="tiny", extractor_widths=[8, 16], extractor_stem=8, visual_grid=2, input_prompts=2, deep_prompts=2, deep_prompt_every=2, lora_r=4)
    return CloudConfig(**{**base, **overrides})


def images(n=3, size=32, seed=0):
    return torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["decoder", "encoder"])
def test_logits_have_one_column_per_class(kind):
    model = SynDiagCloud(tiny_config(), tiny_backbone(kind), NAMES, PROMPTS).eval()
    assert model(images()).shape == (3, 3)
    assert model.visual_tokens(images()).shape == (3, 4, 32)


def test_fusion_weights_are_a_distribution_over_all_classes():
    torch.manual_seed(0)
    weights = fusion_weights(torch.randn(5, 16), torch.randn(7, 16), 0.5)
    assert weights.shape == (5, 7) and torch.allclose(weights.sum(-1), torch.ones(5)) and (weights > 0).all()
    sharp = fusion_weights(torch.eye(3), torch.eye(3), 0.01)
    assert torch.allclose(sharp, torch.eye(3), atol=1e-6)
    model = SynDiagCloud(tiny_config(), tiny_backbone(), NAMES, PROMPTS).eval()
    _, w = model.fused_token(model.visual_tokens(images()))
    assert torch.allclose(w.sum(-1), torch.ones(3), atol=1e-6)


def test_the_fusion_token_sees_the_visual_tokens_in_a_causal_decoder():
    model = SynDiagCloud(tiny_config(), tiny_backbone("decoder"), NAMES, PROMPTS).eval()
    seq = model.sequence(model.visual_tokens(images(1)))
    assert model.fusion_position == -1 and seq.shape[1] == 2 + 2 + 4 + 1
    a, b = images(1, seed=1), images(1, seed=2)
    assert not torch.allclose(model.features(a), model.features(b))
    encoder = SynDiagCloud(tiny_config(), tiny_backbone("encoder"), NAMES, PROMPTS)
    assert encoder.fusion_position == 4


def test_deep_prompts_are_injected_at_their_layers():
    backbone = tiny_backbone("decoder", layers=5)
    model = SynDiagCloud(tiny_config(deep_prompt_every=2), backbone, NAMES, PROMPTS).eval()
    assert model.learned_prompts.layers == [0, 2, 4]
    seen = {}
    blocks = backbone.layers()
    for index in (0, 1, 2):
        blocks[index].register_forward_pre_hook(lambda m, a, k, i=index: seen.__setitem__(i, (a[0] if a else k["hidden_states"]).clone()), with_kwargs=True)
    model(images(2))
    assert torch.allclose(seen[2][:, :2], model.learned_prompts.deep[1].expand(2, -1, -1))
    assert torch.allclose(seen[0][:, :2], model.learned_prompts.deep[0].expand(2, -1, -1))
    assert not torch.allclose(seen[1][:, :2], model.learned_prompts.deep[0].expand(2, -1, -1))


def test_training_changes_lora_and_prompts_but_never_the_base_weights():
    backbone = tiny_backbone("decoder")
    model = SynDiagCloud(tiny_config(), backbone, NAMES, PROMPTS)
    base = {k: v.clone() for k, v in model.lm.state_dict().items() if "lora_" not in k}
    lora = {k: v.clone() for k, v in model.lm.state_dict().items() if "lora_B" in k}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(images()), torch.tensor([0, 1, 2]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.lm.state_dict()
    assert all(torch.equal(base[k], after[k]) for k in base)
    assert any(not torch.equal(lora[k], after[k]) for k in lora)
    assert all(not p.requires_grad for n, p in model.lm.named_parameters() if "lora_" not in n)


def test_checkpoint_round_trip_gives_identical_logits_and_holds_only_trained_parts(tmp_path):
    model = SynDiagCloud(tiny_config(), tiny_backbone(seed=3), NAMES, PROMPTS)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.01)
    model.eval()
    folder = model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    state = model.trainable_state()
    assert not any(k.startswith("lm.") and "lora_" not in k for k in state)
    assert any("lora_A" in k for k in state) and "head.weight" in state and "prompts_module.deep" in state
    restored = SynDiagCloud.from_pretrained(folder, backbone=tiny_backbone(seed=3)).eval()
    x = images()
    assert torch.equal(model(x), restored(x))
    model.save_pretrained(tmp_path / "ckpt")
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_learned_prompts_keep_their_checkpoint_name_prompts_module(tmp_path):
    model = SynDiagCloud(tiny_config(), tiny_backbone(seed=3), NAMES, PROMPTS)
    assert {n for n, _ in model.named_parameters() if "prompts" in n} == {"learned_prompts.input", "learned_prompts.deep"}
    keys = list(model.state_dict())
    assert {k for k in keys if "prompts" in k} == {"prompts_module.input", "prompts_module.deep"}
    assert keys.index("prompts_module.input") < keys.index("head.weight")
    state = {"prompts_module.input": torch.full_like(model.learned_prompts.input, 0.5),
             "prompts_module.deep": torch.full_like(model.learned_prompts.deep, -0.5)}
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and not any("prompts" in k for k in result.missing_keys)
    assert torch.all(model.learned_prompts.input == 0.5) and torch.all(model.learned_prompts.deep == -0.5)
    folder = model.save_pretrained(tmp_path / "ckpt")
    from safetensors.torch import load_file

    saved = load_file(str(folder / "model.safetensors"))
    assert torch.all(saved["prompts_module.deep"] == -0.5) and not any(k.startswith("learned_prompts.") for k in saved)
    restored = SynDiagCloud.from_pretrained(folder, backbone=tiny_backbone(seed=3))
    assert torch.all(restored.learned_prompts.input == 0.5)


def test_bad_checkpoints_and_reused_backbones_are_refused(tmp_path):
    backbone = tiny_backbone()
    SynDiagCloud(tiny_config(), backbone, NAMES, PROMPTS)
    with pytest.raises(ConfigError, match="already serves another model"):
        SynDiagCloud(tiny_config(), backbone, NAMES, PROMPTS)
    with pytest.raises(ConfigError, match="not a syndiag checkpoint"):
        SynDiagCloud.from_pretrained(tmp_path, backbone=tiny_backbone())
    model = SynDiagCloud(tiny_config(), tiny_backbone(), NAMES, PROMPTS)
    folder = model.save_pretrained(tmp_path / "a")
    (folder / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(ConfigError, match="unreadable weights"):
        SynDiagCloud.from_pretrained(folder, backbone=tiny_backbone())
    other = SynDiagCloud(tiny_config(extractor_widths=[8, 24]), tiny_backbone(), NAMES, PROMPTS).save_pretrained(tmp_path / "b")
    (tmp_path / "b" / "config.json").write_text((tmp_path / "a" / "config.json").read_text())
    with pytest.raises(ConfigError, match="do not fit"):
        SynDiagCloud.from_pretrained(other, backbone=tiny_backbone())
    with pytest.raises(ConfigError, match="class names but"):
        SynDiagCloud(tiny_config(), tiny_backbone(), NAMES[:2], PROMPTS)


def test_single_text_ablation_ignores_the_class_texts():
    model = SynDiagCloud(tiny_config(use_prompt_fusion=False), tiny_backbone(), NAMES, PROMPTS).eval()
    _, w = model.fused_token(model.visual_tokens(images()))
    assert torch.allclose(w, torch.full((3, 3), 1 / 3))


def test_imprinted_head_classifies_the_support_set_by_nearest_class_mean():
    from syndiag.training.finetune import imprint_head

    class Support:
        labels = np.array([0, 1, 2])

        def rgb(self, indices):
            return images(3, seed=11).numpy()[indices]

    model = SynDiagCloud(tiny_config(), tiny_backbone(), NAMES, PROMPTS).eval()
    imprint_head(model, Support(), np.arange(3))
    logits = model(images(3, seed=11))
    assert logits.argmax(1).tolist() == [0, 1, 2]
    assert torch.isfinite(model.head.weight).all()


def test_few_shot_sets_get_at_least_min_steps_and_the_extractor_its_own_learning_rate():
    from syndiag.config.training import FinetuneConfig
    from syndiag.training.finetune import parameter_groups

    stage = FinetuneConfig(epochs=12, min_steps=150, batch_size=4, lr=3e-4, extractor_lr_scale=0.1)
    assert stage.epochs_for(19) == 30 and stage.epochs_for(95) == 12
    assert FinetuneConfig(epochs=12, batch_size=4).epochs_for(19) == 12
    model = SynDiagCloud(tiny_config(), tiny_backbone(), NAMES, PROMPTS)
    extractor, rest = parameter_groups(model, stage)
    assert extractor["lr"] == pytest.approx(3e-5) and rest["lr"] == pytest.approx(3e-4)
    assert {id(p) for p in extractor["params"]} == {id(p) for p in model.extractor.parameters()}
    grouped = [id(p) for group in (extractor, rest) for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters() if p.requires_grad)
    assert any("lora_" in n for n, p in model.named_parameters() if id(p) in {id(q) for q in rest["params"]})
