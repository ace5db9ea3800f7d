"""The device and dtype settings: resolved with clear errors, applied to every model, and honoured by every stage."""

import pytest
import torch
from tiny import save_tiny_backbone, tiny_backbone

from syndiag.config import RunConfig, RuntimeConfig
from syndiag.config.sensor_run import SensorRunConfig
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


def tiny_cloud() -> SynDiagCloud:
    return SynDiagCloud(RunConfig().model.model_copy(update={"extractor_widths": [8, 16], "visual_grid": 2, "lora_r": 2}),
                        tiny_backbone(), ["a", "b"], ["inner race fault", "normal operation"])


@pytest.mark.parametrize("recipe", [RunConfig(device="cpu", dtype="bfloat16"), SensorRunConfig(device="cpu", dtype="bfloat16"),
                                    RuntimeConfig(device="cpu", dtype="bfloat16")])
def test_a_model_is_placed_by_one_call_with_the_runtime_config(recipe):
    model = place(tiny_cloud(), recipe)
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and {t.device.type for t in tensors} == {"cpu"} and model.compute_dtype == "bfloat16"


def test_an_unknown_device_name_is_refused_naming_the_accepted_values():
    with pytest.raises(ConfigError, match=r"^device: unknown device 'gpu'; use one of auto, cpu, cuda, cuda:N, mps$"):
        resolve_device("gpu")
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        place(tiny_cloud(), "gpu")


def test_training_is_configured_from_the_runtime_config(tmp_path):
    from syndiag.training.engine import configure, configure_training

    runtime = SensorRunConfig(dtype="float16", output_dir=tmp_path, scaling={"grad_accumulation": 3, "resumable": True})
    try:
        engine = configure_training(runtime)
        assert (engine.grad_accumulation, engine.loss_scaling, engine.state_dir) == (3, True, tmp_path / "train-state")
    finally:
        configure()


@pytest.mark.parametrize("command", [["pretrain", "--config", "syndiag/cpu"], ["sensor", "pretrain", "--config", "sensor/cpu"]])
def test_a_cli_command_refuses_an_unknown_device_before_any_data_is_read(command, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from syndiag.cli import app

    def no_run(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr("syndiag.workflows.cloud.run_pretrain", no_run)
    monkeypatch.setattr("syndiag.workflows.sensor.run_sensor_align", no_run)
    monkeypatch.setattr("syndiag.data.prepare.prepare", no_run)
    result = CliRunner().invoke(app, [*command, "--set", "device=gpu", "--set", f"data.cache_dir={tmp_path / 'cache'}"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "device: Value error, unknown device 'gpu'; use one of auto, cpu, cuda, cuda:N, mps" in text and "Traceback" not in text
    assert not (tmp_path / "cache").exists()


def test_place_moves_every_parameter_and_buffer_and_names_a_stray_one():
    model = place(tiny_cloud(), torch.device("meta"), "bfloat16")
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

    def spy(model, runtime):
        placed.append((type(model).__name__, runtime.device, runtime.dtype))
        return place(model, runtime)

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
