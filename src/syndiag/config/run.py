"""The run recipe: data, models, every training stage and the runtime, loaded from one YAML file (profiles/syndiag/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from syndiag.config.models import CloudConfig, EdgeConfig
from syndiag.config.runtime import RecipeConfig
from syndiag.config.sensor_run import SensorRunConfig
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


DIAGNOSIS_RECIPE = "sensor/spectral"
"""The recipe of the diagnosis model that `diagnose` and `report` use when no checkpoint is named and it has been trained."""


def trained_diagnosis_model() -> Path | None:
    """The fine-tuned checkpoint of :data:`DIAGNOSIS_RECIPE` (the sensor model with the spectrum path) when it exists."""
    folder = Path(SensorRunConfig.from_yaml(DIAGNOSIS_RECIPE).output_dir) / "sensor-finetuned"
    return folder if (folder / "config.json").is_file() else None


def default_checkpoint(recipe: Path | None = None, stage: str = "finetuned") -> Path:
    """The checkpoint a command uses when none is named: OUTPUT_DIR/``stage`` of the run ``recipe``; without a recipe,
    the trained diagnosis model (:func:`trained_diagnosis_model`) when it exists, else the cpu profile's cloud model."""
    if recipe is None and stage == "finetuned" and (trained := trained_diagnosis_model()) is not None:
        return trained
    return Path(RunConfig.from_yaml(recipe or "syndiag/cpu").output_dir) / stage
