"""The open-set and zero-shot recipe (issue 17): held-out families, compositional zero-shot splits, seeds, false-alarm rate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from syndiag.config.base import StrictModel

OpenSetMethod = Literal["Syn-Diag-Cloud", "prototypes", "sensor-model"]
TextSource = Literal["language-model", "random-tokens"]


class ZeroShotSplit(StrictModel):
    """Classes left out of training entirely and added back by their description alone."""

    name: str = Field(min_length=1)
    new: list[str] = Field(min_length=1, description="class names added from text (no example window is ever trained on)")
    descriptions: dict[str, str] = Field(default_factory=dict, description="a new class's description (default: its prompt in the data)")


def _default_splits() -> list[ZeroShotSplit]:
    return [
        ZeroShotSplit(name="ball-end-swap", new=["FE_B014", "DE_B021"]),
        ZeroShotSplit(name="outer-race-size", new=["DE_OR014", "FE_OR021"]),
        ZeroShotSplit(name="inner-race-end", new=["FE_IR007", "DE_IR021"]),
    ]


class OpenSetConfig(StrictModel):
    """Defaults: the cpu Syn-Diag recipe, 5-shot, three seeds, 1 % false alarms on held-in windows."""

    profile: str = "cpu"
    recipe: Path = Field(Path("syndiag/cpu.yaml"), description="the run recipe of the trained models (data, model, training)")
    families: list[str] = Field(default_factory=lambda: ["ball", "fan-end", "diameter-021"], min_length=1)
    pairs: list[tuple[str, str]] = Field(default_factory=lambda: [("1730rpm", "1730rpm"), ("1730rpm", "1797rpm")], min_length=1,
                                         description="(train, test) conditions: 1730 -> 1797 rpm is trained at 3 HP, tested at 0 HP")
    methods: list[OpenSetMethod] = Field(default_factory=lambda: ["Syn-Diag-Cloud", "prototypes", "sensor-model"], min_length=1)
    shots: int = Field(5, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    false_alarm: float = Field(0.01, gt=0, lt=1, description="share of held-in known windows allowed above the threshold")
    pretrain_conditions: list[str] | None = Field(None, description="conditions of the alignment pool (None: every condition of the data)")
    splits: list[ZeroShotSplit] = Field(default_factory=_default_splits, min_length=1)
    zeroshot_condition: str = Field("1730rpm", description="condition whose test windows the zero-shot suite classifies")
    zeroshot_backbones: list[Literal["cloud", "edge", "sensor"]] = Field(default_factory=lambda: ["cloud", "edge", "sensor"], min_length=1,
                                                                          description="Syn-Diag on the recipe's language model, on the "
                                                                          "edge model's; the sensor model (sensor/cpu.yaml)")
    sensor_recipe: Path = Field(Path("sensor/cpu.yaml"), description="the sensor model's recipe (its data, device and dtype are the run recipe's)")
    text_sources: list[TextSource] = Field(default_factory=lambda: ["language-model", "random-tokens"], min_length=1,
                                           description="class texts from the LM's word embeddings, or from random token embeddings (ablation)")
    work_dir: Path = Path("runs/openset")

    @field_validator("splits")
    @classmethod
    def _unique_names(cls, value: list[ZeroShotSplit]) -> list[ZeroShotSplit]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"split names must be unique, got {names}")
        return value

    def cell_hash(self, recipe_material: dict, *parts: object) -> str:
        """Hash of what decides one cell: the run recipe's material, the shared settings and the cell's own ``parts``."""
        material = {"recipe": recipe_material, "parts": [str(p) for p in parts],
                    **self.model_dump(mode="json", include={"shots", "false_alarm", "pretrain_conditions", "zeroshot_condition"})}
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]
