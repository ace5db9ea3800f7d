"""The sensor model as a method of the benchmark harness: same splits, same noise tests, its spectrogram tokens from the
seed's own Syn-Diag alignment pretraining, its alignment stage trained once per seed and kept."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from syndiag.config.benchmark import BenchmarkConfig
from syndiag.config.run import RunConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.config.spectral import SpectralPathConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.prepare import PreparedDataset
from syndiag.training.common import batches, seed_everything
from syndiag.data.sensor_windows import sensor_windows_for
from syndiag.data.sources import sensor_recordings
from syndiag.models.device import place
from syndiag.models.sensor import SensorModel
from syndiag.serving.predictor import WindowBatch, sensor_model_predictor
from syndiag.training.sensor_spectral import fit_spectral_head
from syndiag.training.sensor import align
from syndiag.workflows.cells import Trained, digest
from syndiag.workflows.sensor import SensorSession, alignment_pools, finetune_on, inputs_for, new_model


class Harness(Protocol):
    """What the sensor method uses of the benchmark harness (:class:`syndiag.workflows.benchmark.Benchmark`)."""

    settings: BenchmarkConfig
    recipe: RunConfig
    dataset: PreparedDataset
    _pretraining_seconds: float

    def seed_dir(self, seed: int) -> Path: ...

    def pretrained_checkpoint(self, seed: int, edge_backbone: bool = False) -> Path: ...


def sensor_config(bench: Harness, seed: int, method: str = "Sensor-model") -> SensorRunConfig:
    """The sensor recipe on the harness's data, seed, device and the seed's aligned Syn-Diag extractor."""
    base = bench.settings.sensor_recipe_for(method)
    return base.model_copy(update={"data": bench.recipe.data, "seed": seed, "device": bench.recipe.device, "dtype": bench.recipe.dtype,
                                   "visual_extractor": bench.pretrained_checkpoint(seed) if base.model.use_spectrogram else None})


def sensor_set_of(bench: Harness):
    if not hasattr(bench, "_sensor_set"):
        images = SensorRunConfig.from_yaml(bench.settings.sensor_recipe).model.use_images
        bench._sensor_set = sensor_recordings(bench.recipe.data, images)
    return bench._sensor_set


def aligned_folder(bench: Harness, config: SensorRunConfig, seed: int) -> Path:
    """Where stage (a) of ``seed`` is kept beside the seed's pretrained models (one per model, alignment, channels and
    spectrum-path fit)."""
    material = {"model": config.model.model_dump(mode="json"), "align": config.align.model_dump(mode="json"),
                "channels": [c.model_dump(mode="json") for c in config.channels]}
    spectral = config.spectral.material()
    if config.model.spectral_path and spectral != SpectralPathConfig().material():  # the default keeps the keys it was made under
        material["spectral"] = spectral
    return bench.seed_dir(seed) / f"sensor-aligned-{digest(material, 8)}"


def aligned_model(bench: Harness, config: SensorRunConfig, seed: int) -> SensorModel:
    """Stage (a) of ``seed``, trained once on the seed's multi-condition pool into :func:`aligned_folder`."""
    folder = aligned_folder(bench, config, seed)
    if (folder / "model.safetensors").is_file():
        return place(SensorModel.from_pretrained(folder, layout=list(config.channels)), config)
    windows = sensor_windows_for(bench.dataset, sensor_set_of(bench), config.channels)
    seed_everything(seed)  # the initial weights are the seed's, whatever ran before in this process
    ssl_key = digest({"encoder": config.model.encoder.model_dump(mode="json"), "ssl": config.ssl.model_dump(mode="json"),
                      "channels": [c.model_dump(mode="json") for c in config.channels]}, 8)
    model = new_model(config, SensorSession(config, bench.dataset, windows, None, sensor_set_of(bench)),
                      ssl_folder=bench.seed_dir(seed) / f"sensor-ssl-{ssl_key}")
    pools = alignment_pools(config, bench.dataset, seed)
    result = align(model, inputs_for(config, model, bench.dataset, sensor_set_of(bench)), pools.alignment, config.align, seed)
    bench._pretraining_seconds += result.seconds
    spectral = fit_spectral_head(model, windows, pools.discriminant, config.spectral, seed) if model.spectral is not None else None
    model.save_pretrained(folder, extra={"stage": "aligned", "seed": seed, "seconds": round(result.seconds, 1), "spectral_path": spectral})
    return model


def train_sensor_model(bench: Harness, method: str, dataset: PreparedDataset, task: FewShotTask, seed: int) -> Trained:
    """Fine-tune the seed's aligned sensor model on the task (its recipe adds noisy copies itself); predict any dataset's windows."""
    config = sensor_config(bench, seed, method)
    model = aligned_model(bench, config, seed)
    started = time.perf_counter()
    result = finetune_on(config, model, dataset, sensor_set_of(bench), task)
    batch = config.finetune.eval_batch_size
    predictor = sensor_model_predictor(model, dataset.meta)

    def predict(view: PreparedDataset, indices):
        windows = sensor_windows_for(view, sensor_set_of(bench), config.channels)
        spectrograms = view if config.model.use_spectrogram else None
        return np.concatenate([predictor.predict(WindowBatch({name: values[chunk] for name, values in windows.signals.items()},
                                                             windows.present[chunk], None if spectrograms is None else spectrograms.rgb(chunk)))
                               .probabilities.argmax(1) for chunk in batches(np.asarray(indices), batch)])

    counts = model.parameter_counts()
    fitted = json.loads((aligned_folder(bench, config, seed) / "config.json").read_text()).get("spectral_path")
    if result.spectral is not None and fitted:
        result.spectral = {**result.spectral, "components": fitted.get("components"), "components_validation": fitted.get("validation")}
    return Trained(predict, time.perf_counter() - started, {
        "backbone": config.model.backbone, "train_steps": result.steps, "seconds_per_train_step": round(result.seconds_per_step, 4),
        "sensor_recipe": json.loads(config.model_dump_json(include={"channels", "model", "align", "finetune"})),
        "parameters": counts, "spectral_path": result.spectral, "pretrained_commit": json.loads((config.visual_extractor / "config.json").read_text()).get("commit")
        if config.visual_extractor else None})
