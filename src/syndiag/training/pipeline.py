"""One ``setup()`` for every entry point: config, threads, seed, prepared data, backbone and model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from syndiag.config.run import RunConfig
from syndiag.data.fewshot import FewShotTask, few_shot_task
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.errors import ConfigError
from syndiag.models.backbones import load_backbone
from syndiag.models.cloud import SynDiagCloud
from syndiag.training.common import seed_everything, set_threads

log = logging.getLogger(__name__)


@dataclass
class Session:
    config: RunConfig
    dataset: PreparedDataset
    model: SynDiagCloud


def setup(config: RunConfig, checkpoint: Path | None = None, progress=None) -> Session:
    """Threads and seed, the prepared dataset, and a cloud model: fresh, or from ``checkpoint``."""
    set_threads(config.threads)
    seed_everything(config.seed)
    dataset = prepare(config.data, progress=progress)
    if checkpoint is not None:
        model = SynDiagCloud.from_pretrained(checkpoint)
        if model.class_names != dataset.class_names:
            raise ConfigError(f"{checkpoint}: trained on classes {model.class_names}, the data has {dataset.class_names}")
    else:
        backbone = load_backbone(config.model.backbone, config.model.allow_download, config.model.num_layers)
        model = SynDiagCloud(config.model, backbone, dataset.class_names, dataset.prompts)
    return Session(config=config, dataset=dataset, model=model)


def finetune_task(config: RunConfig, dataset: PreparedDataset, k: int | None = None, seed: int | None = None) -> FewShotTask:
    """The K-shot task of the recipe: source (default the last condition) -> target (default the source)."""
    stage = config.finetune
    source = stage.source or dataset.condition_names[-1]
    return few_shot_task(dataset, k or stage.shots, config.seed if seed is None else seed, source, stage.target)
