"""The device and dtype settings: resolved with clear errors, applied to every model, and honoured by every stage."""

import pytest
import torch
from tiny import save_tiny_backbone, tiny_backbone

from syndiag.config import RunConfig, RuntimeConfig
from syndiag.errors import ConfigError
from syndiag.models import device as placement
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.device import check_placement, place, resolve_device


def test_unknown_or_absent_devices_are_named():
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        RuntimeConfig.from_dict({"device": "gpu"})
    with pytest.raises(ConfigError, match="dtype"):
        RunConfig.from_dict({"dtype": "float8"})
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ConfigError, match="CUDA device"):
            resolve_device("cuda:0")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}


def test_place_moves_every_parameter_and_buffer_and_names_a_stray_one():
    model = SynDiagCloud(RunConfig().model.model_copy(update={"extractor_widths": [8, 16], "visual_grid": 2, "lora_r": 2}),
                         tiny_backbone(), ["a", "b"], ["inner race fault", "normal operation"])
    place(model, "meta", "bfloat16")
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(t.device.type == "meta" for t in tensors) and model.compute_dtype == "bfloat16"
    model.head.to_empty(device="cpu")
    with pytest.raises(RuntimeError, match=r"parameter head\.weight is on cpu"):
        check_placement(model, torch.device("meta"))


@pytest.mark.slow
def test_paper_profile_dry_run_on_cpu_places_every_stage_on_the_configured_device(tmp_path, monkeypatch):
    """The paper recipe with device: cpu and tiny backbones through every stage; each model is placed and checked."""
    from syndiag.workflows.cloud import run_distill, run_evaluate, run_finetune, run_pretrain
    from syndiag.workflows.collaboration import run_online_updates

    placed = []

    def spy(model, device, dtype="float32"):
        placed.append((type(model).__name__, device, dtype))
        return place(model, device, dtype)

    for module in ("syndiag.workflows.session", "syndiag.workflows.cloud", "syndiag.workflows.collaboration"):
        monkeypatch.setattr(f"{module}.place", spy)
    autocasts = []
    real_autocast = placement.autocast
    monkeypatch.setattr("syndiag.models.cloud.autocast", lambda m: autocasts.append(m.compute_dtype) or real_autocast(m))
    config = RunConfig.from_yaml("syndiag/paper", {
        "device": "cpu", "dtype": "bfloat16", "output_dir": str(tmp_path / "run"), "results_file": str(tmp_path / "results.jsonl"),
        "data.cache_dir": str(tmp_path / "cache"), "data.window.per_class": 10, "data.simulator.seconds": 1.0,
        "data.spectrogram": {"image_size": 64, "n_scales": 32}, "data.cwru.loads": [3],
        "model.backbone": str(save_tiny_backbone(tmp_path / "tiny-llama")), "model.allow_download": False,
        "model.extractor_widths": [8, 16], "model.extractor_stem": 8, "model.visual_grid": 2, "model.lora_r": 2,
        "edge.backbone": str(save_tiny_backbone(tmp_path / "tiny-bert", kind="encoder", hidden=16)), "edge.allow_download": False,
        "edge.lora_r": 2, "pretrain": {"shots": 2, "epochs": 1, "batch_size": 8, "tsne_test_per_class": 2},
        "finetune": {"shots": 1, "source": "1730rpm", "epochs": 1}, "distill": {"unlabelled_per_class": 1, "epochs": 1, "batch_size": 8},
        "update": {"cycles": 1, "new_per_class": 1, "epochs": 1, "validation_per_class": 1, "tolerance": 1.0},
    })
    assert config.profile == "paper" and config.model.visual_grid == 2
    run_pretrain(config)
    run_finetune(config)
    run_evaluate(config)
    run_distill(config)
    run_online_updates(config)
    assert [kind for kind, _, _ in placed] == ["SynDiagCloud"] * 4 + ["SynDiagEdge", "SynDiagCloud", "SynDiagEdge"]
    assert {(device, dtype) for _, device, dtype in placed} == {("cpu", "bfloat16")}
    assert autocasts and set(autocasts) == {"bfloat16"}
