"""The sensor model as a model family of the openset and zeroshot suites (issue 17; the interface
``workflows/unknown_models.UnknownFaultModel``): its alignment stage (a) on the known or seen classes only, its
spectrogram tokens from the Syn-Diag extractor pretrained without them.

Open set: fine-tuned on the known support; logits from its fault head, features its fused feature. Zero-shot: the
pooled soft tokens against each class's mean text feature, the similarity stage (a) aligned.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from syndiag.config.openset import OpenSetConfig
from syndiag.config.profiles import profile_path
from syndiag.config.run import RunConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.fewshot import FewShotTask, pretraining_pool
from syndiag.data.openset_splits import OpenSetTask
from syndiag.data.prepare import PreparedDataset
from syndiag.data.sensor_windows import sensor_windows_for
from syndiag.data.sources import sensor_recordings
from syndiag.models.backbones import load_backbone
from syndiag.models.device import place
from syndiag.models.prompt_fusion import ClassTextBank
from syndiag.models.sensor import SensorModel
from syndiag.training.sensor import align
from syndiag.workflows.sensor import SensorSession, finetune_on, inputs_for, new_model
from syndiag.workflows.unknown_models import Setting, Trained, ZeroShotFeatures


def sensor_recipe(config: OpenSetConfig, recipe: RunConfig, seed: int, extractor: Path) -> SensorRunConfig:
    base = SensorRunConfig.from_yaml(profile_path(config.sensor_recipe))
    return base.model_copy(update={"data": recipe.data, "seed": seed, "device": recipe.device, "dtype": recipe.dtype,
                                   "visual_extractor": extractor if base.model.use_spectrogram else None})


def sensor_material(config: OpenSetConfig) -> dict:
    """What of the sensor recipe decides a sensor-model cell (for its cell hash)."""
    return SensorRunConfig.from_yaml(profile_path(config.sensor_recipe)).model_dump(mode="json", include={"channels", "model", "align", "finetune"})


def aligned_sensor_model(config: SensorRunConfig, view: PreparedDataset, folder: Path, conditions: list[str] | None, seed: int):
    """Stage (a) on ``view``'s classes (its pool of ``conditions``), trained once into ``folder``; with the sensor set."""
    sensor_set = sensor_recordings(config.data, config.model.use_images)
    if (folder / "model.safetensors").is_file():
        return place(SensorModel.from_pretrained(folder, layout=list(config.channels)), config), sensor_set
    windows = sensor_windows_for(view, sensor_set, config.channels)
    model = new_model(config, SensorSession(config, view, windows, None, sensor_set))
    pool = pretraining_pool(view, seed, k=config.align.shots, conditions=conditions)
    result = align(model, inputs_for(config, model, view, sensor_set), pool, config.align, seed)
    model.save_pretrained(folder, extra={"stage": "aligned", "seed": seed, "seconds": round(result.seconds, 1)})
    return model, sensor_set


def _outputs(model, inputs, indices: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    model.eval()
    parts: dict[str, list] = {"logits": [], "fused": [], "pooled": []}
    with torch.inference_mode():
        for start in range(0, len(indices), batch):
            output = model(inputs.batch(indices[start : start + batch]))
            for key in parts:
                parts[key].append(getattr(output, key).float().cpu().numpy())
    return {key: np.concatenate(value) for key, value in parts.items()}


class SensorFamily:
    """The sensor model as a family of the openset and zeroshot suites: aligned (stage a, once) beside the pretrained
    Syn-Diag extractor on the same view, in ``sensor-aligned-<the extractor's folder>``."""

    text_sources = ("language-model",)  # its stage (a) is aligned on the language model's texts only

    def material(self, config: OpenSetConfig) -> dict:
        return {"sensor": sensor_material(config)}

    def train(self, setting: Setting, task: OpenSetTask) -> Trained:
        """Fine-tuned on the known support; logits from its fault head, features its fused feature."""
        sensor, model, sensor_set = self._aligned(setting)
        view = setting.view
        fewshot = FewShotTask(task.k, task.seed, (task.source,), task.target, task.support, task.test, tuple(view.class_names))
        started = time.perf_counter()
        finetune_on(sensor, model, view, sensor_set, fewshot)
        seconds = time.perf_counter() - started
        inputs = inputs_for(sensor, model, view, sensor_set)
        batch = sensor.finetune.eval_batch_size

        def encode(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            found = _outputs(model, inputs, indices, batch)
            return found["logits"], found["fused"]

        return Trained(encode, seconds)

    def zeroshot(self, setting: Setting, dataset: PreparedDataset, texts: list[str], text_source: str,
                 windows: dict[str, np.ndarray]) -> ZeroShotFeatures:
        """The pooled soft tokens of the windows (one pass over all sets), and the mean text feature of every class."""
        sensor, model, sensor_set = self._aligned(setting)
        indices = np.concatenate(list(windows.values()))
        pooled = _outputs(model, inputs_for(sensor, model, dataset, sensor_set), indices, sensor.finetune.eval_batch_size)["pooled"]
        lm = load_backbone(sensor.model.backbone, sensor.model.allow_download, sensor.model.num_layers)
        table = torch.nn.Embedding.from_pretrained(lm.word_embeddings().weight.detach().float().cpu())
        with torch.no_grad():
            text = ClassTextBank(lm.tokenizer, table, texts).mean_features().float().numpy()
        ends = np.cumsum([len(w) for w in windows.values()])
        visual = dict(zip(windows, np.split(pooled, ends[:-1])))
        return ZeroShotFeatures(visual, text, "sensor/cpu")

    @staticmethod
    def _aligned(setting: Setting):
        """(sensor recipe, the model aligned on ``setting.view``, its sensor set)."""
        sensor = sensor_recipe(setting.config, setting.recipe, setting.seed, setting.pretrained)
        folder = setting.pretrained.with_name(f"sensor-aligned-{setting.pretrained.name}")
        return (sensor, *aligned_sensor_model(sensor, setting.view, folder, setting.config.pretrain_conditions, setting.seed))
