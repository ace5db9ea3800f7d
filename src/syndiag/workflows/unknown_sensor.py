"""The sensor model in the openset and zeroshot suites (issue 17): the same splits as the Syn-Diag models, its alignment
stage (a) on the known or seen classes only, its spectrogram tokens from the Syn-Diag extractor pretrained without them.

Open set: fine-tuned on the known support; msp and energy from its fault logits, Mahalanobis and kNN on its fused
feature. Zero-shot: the pooled soft tokens against each class's mean text feature, the similarity stage (a) aligned.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from syndiag.config.openset import OpenSetConfig
from syndiag.config.run import RunConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.fewshot import FewShotTask, pretraining_pool
from syndiag.data.openset_splits import OpenSetTask
from syndiag.data.prepare import PreparedDataset
from syndiag.models.openset import window_scores


def sensor_recipe(config: OpenSetConfig, recipe: RunConfig, seed: int, extractor: Path) -> SensorRunConfig:
    from syndiag.config.profiles import profile_path

    base = SensorRunConfig.from_yaml(profile_path(config.sensor_recipe))
    return base.model_copy(update={"data": recipe.data, "seed": seed, "device": recipe.device, "dtype": recipe.dtype,
                                   "visual_extractor": extractor if base.model.use_spectrogram else None})


def sensor_material(config: OpenSetConfig) -> dict:
    """What of the sensor recipe decides a sensor-model cell (for its cell hash)."""
    from syndiag.config.profiles import profile_path

    return SensorRunConfig.from_yaml(profile_path(config.sensor_recipe)).model_dump(mode="json", include={"channels", "model", "align", "finetune"})


def aligned_sensor_model(config: SensorRunConfig, view: PreparedDataset, folder: Path, conditions: list[str] | None, seed: int):
    """Stage (a) on ``view``'s classes (its pool of ``conditions``), trained once into ``folder``; with the sensor set."""
    from syndiag.data.sensors import cwru_sensor_set
    from syndiag.data.sensor_windows import sensor_windows_for
    from syndiag.models.device import place
    from syndiag.models.sensor import SensorModel
    from syndiag.training.sensor import align
    from syndiag.workflows.sensor import SensorSession, inputs_for, new_model

    sensor_set = cwru_sensor_set(config.data)
    if (folder / "model.safetensors").is_file():
        return place(SensorModel.from_pretrained(folder, layout=list(config.channels)), config), sensor_set
    windows = sensor_windows_for(view, sensor_set, config.channels)
    model = new_model(config, SensorSession(config, view, windows, None, sensor_set))
    pool = pretraining_pool(view, seed, k=config.align.shots, conditions=conditions)
    result = align(model, inputs_for(config, model, view, sensor_set), pool, config.align, seed)
    model.save_pretrained(folder, extra={"stage": "aligned", "seed": seed, "seconds": round(result.seconds, 1)})
    return model, sensor_set


def _outputs(model, inputs, indices: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    import torch

    model.eval()
    parts: dict[str, list] = {"logits": [], "fused": [], "pooled": []}
    with torch.inference_mode():
        for start in range(0, len(indices), batch):
            output = model(inputs.batch(indices[start : start + batch]))
            for key in parts:
                parts[key].append(getattr(output, key).float().cpu().numpy())
    return {key: np.concatenate(value) for key, value in parts.items()}


def sensor_openset_scores(config: OpenSetConfig, recipe: RunConfig, view: PreparedDataset, extractor: Path, folder: Path,
                          task: OpenSetTask, windows: dict[str, np.ndarray]):
    """Align (once) and fine-tune the sensor model on the known classes, then score ``windows``; also its seconds."""
    from syndiag.workflows.sensor import finetune_on, inputs_for

    sensor = sensor_recipe(config, recipe, task.seed, extractor)
    model, sensor_set = aligned_sensor_model(sensor, view, folder, config.pretrain_conditions, task.seed)
    fewshot = FewShotTask(task.k, task.seed, (task.source,), task.target, task.support, task.test, tuple(view.class_names))
    started = time.perf_counter()
    finetune_on(sensor, model, view, sensor_set, fewshot)
    seconds = time.perf_counter() - started
    inputs = inputs_for(sensor, model, view, sensor_set)
    batch = sensor.finetune.eval_batch_size

    def encode(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = _outputs(model, inputs, indices, batch)
        return found["logits"], found["fused"]

    return (*window_scores(encode, task.support, view.labels[task.support], windows), seconds)


def sensor_zeroshot_features(config: OpenSetConfig, recipe: RunConfig, dataset: PreparedDataset, view: PreparedDataset, extractor: Path,
                             folder: Path, texts: list[str], seed: int, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pooled soft tokens of ``indices``, mean text feature of every class in ``texts``) of the sensor model aligned on
    ``view`` (the language model's texts only: random-token texts are measured on the Syn-Diag backbones)."""
    import torch

    from syndiag.models.backbones import load_backbone
    from syndiag.models.prompt_fusion import ClassTextBank
    from syndiag.workflows.sensor import inputs_for

    sensor = sensor_recipe(config, recipe, seed, extractor)
    model, sensor_set = aligned_sensor_model(sensor, view, folder, config.pretrain_conditions, seed)
    pooled = _outputs(model, inputs_for(sensor, model, dataset, sensor_set), indices, sensor.finetune.eval_batch_size)["pooled"]
    lm = load_backbone(sensor.model.backbone, sensor.model.allow_download, sensor.model.num_layers)
    table = torch.nn.Embedding.from_pretrained(lm.word_embeddings().weight.detach().float().cpu())
    with torch.no_grad():
        text = ClassTextBank(lm.tokenizer, table, texts).mean_features().float().numpy()
    return pooled, text
