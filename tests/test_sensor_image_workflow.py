"""The sensor model's image path end to end on the simulated recipe (sensor/simulated-images) with a tiny backbone."""

import numpy as np
import pytest
import torch
from figures import confusion_drawn, record_figures
from tiny import save_tiny_backbone

from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.simulator import SIMULATED_NOTE
from syndiag.evaluation.metrics import read_results
from syndiag.models.fusion_adapter import IMAGE_CHANNEL
from syndiag.workflows.sensor import (
    finetuned_dir,
    load_model,
    run_sensor_align,
    run_sensor_evaluate,
    run_sensor_finetune,
    sensor_session,
)


def test_the_shipped_recipe_is_simulated_with_images_and_without_spectrograms():
    config = SensorRunConfig.from_yaml("sensor/simulated-images")
    assert config.data.dataset == "simulated" and config.model.use_images and not config.model.use_spectrogram
    assert [c.name for c in config.channels] == ["DE", "FE", "speed"] and config.visual_extractor is None


@pytest.fixture
def one_thread():
    """The run sets one torch thread (tiny matrices; a busy 2-core machine slows several threads 100-fold); restored after."""
    before = torch.get_num_threads()
    yield 1
    torch.set_num_threads(before)


def test_the_simulated_recipe_trains_and_evaluates_on_image_tokens(tmp_path, one_thread, monkeypatch):
    saved = record_figures(monkeypatch)
    backbone = save_tiny_backbone(tmp_path / "tiny-llama")
    config = SensorRunConfig.from_yaml("sensor/simulated-images", {
        "threads": one_thread,
        "output_dir": str(tmp_path / "run"), "results_file": str(tmp_path / "results.jsonl"), "data.cache_dir": str(tmp_path / "cache"),
        "data.simulator": {"seconds": 2.0}, "data.window": {"per_class": 10}, "data.spectrogram": {"image_size": 16, "n_scales": 8},
        "model.backbone": str(backbone), "model.num_layers": None, "model.input_prompts": 1, "model.deep_prompts": 1,
        "model.encoder": {"d_model": 16, "layers": 1, "heads": 2, "patch_len": 64, "spectrum_tokens": 4},
        "model.adapter": {"queries": 2, "heads": 2}, "model.image_encoder": {"widths": [8, 16], "stem": 8, "grid": 2},
        "align": {"shots": 2, "epochs": 1, "batch_size": 16},
        "finetune": {"shots": 2, "source": "1730rpm", "epochs": 1, "min_steps": 2, "batch_size": 8, "noise_snr_db": [0, 10]},
    })
    aligned = run_sensor_align(config)
    assert aligned.checkpoint.is_dir() and aligned.losses
    finetuned = run_sensor_finetune(config)
    assert finetuned.windows == 19 * 2 * 2  # the K-shot set and one noisy copy of it
    evaluation = run_sensor_evaluate(config)
    record = evaluation.record
    assert "simulated" in record["dataset"] and record["test_samples"] == 19 * 5
    per_class, accuracy = confusion_drawn(saved, evaluation.confusion_png.name, 19)
    assert per_class == [5] * 19 and record["metrics"]["accuracy"] == pytest.approx(accuracy)
    assert read_results(tmp_path / "results.jsonl")[-1]["dataset"] == record["dataset"]

    session = sensor_session(config)
    windows = session.windows
    assert any(SIMULATED_NOTE in note for note in windows.meta["notes"])
    assert windows.image_present.any() and (~windows.image_present).any()  # frames start at 0.5 s: early windows have none
    model = load_model(finetuned_dir(config), config)
    assert model.checkpoint_meta["config"]["use_images"] and model.image_encoder is not None
    rows = np.concatenate([np.flatnonzero(windows.image_present)[:3], np.flatnonzero(~windows.image_present)[:3]])
    batch = session.inputs.batch(rows)
    assert batch.images.shape == (6, 64, 64, 3) and batch.images.dtype == torch.uint8
    with torch.inference_mode():
        output = model(batch)
        image_keys = output.token_channel == IMAGE_CHANNEL
        assert int(image_keys.sum()) == 4  # grid 2 x 2 image tokens among the adapter's keys
        assert output.key_mask[:, image_keys].all(1).tolist() == [True] * 3 + [False] * 3
        assert output.attention[:3][..., image_keys].sum() > 0 and output.attention[3:][..., image_keys].sum() == 0
        other = session.inputs.batch(rows)
        other.images = torch.flip(other.images, dims=(0,))  # another window's frame: the prediction must change
        assert not torch.allclose(model(other).logits[:3], output.logits[:3])
