"""The run recipe: data, models, every training stage and the runtime, loaded from one YAML file (profiles/syndiag/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from syndiag.config.models import CloudConfig, EdgeConfig
from syndiag.config.runtime import RecipeConfig
from syndiag.config.training import (
    DistillConfig,
    FinetuneConfig,
    PretrainConfig,
    UpdateConfig,
)


class RunConfig(RecipeConfig):
    """One recipe for prepare -> pretrain -> finetune -> evaluate -> distill -> update."""

    HASH_ADDED_LATER: ClassVar[dict[str, object]] = {"dtype": "float32"}  # cells recorded before the dtype setting existed

    output_dir: Path = Path("runs/cloud")
    model: CloudConfig = CloudConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    edge: EdgeConfig = EdgeConfig()
    distill: DistillConfig = DistillConfig()
    update: UpdateConfig = UpdateConfig()
