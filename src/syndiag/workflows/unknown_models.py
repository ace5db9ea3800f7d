"""The seam of the openset and zeroshot suites: the interface a model family implements, and what every family shares.

A family (Syn-Diag in ``workflows/unknown_syndiag.py``, the sensor model in ``workflows/unknown_sensor.py``) is trained
on an open-set task's known support and then gives any windows' (logits, features), and gives zero-shot features of
windows and of class texts. The suites (``workflows/openset.py``, ``workflows/zeroshot.py``) own everything else once:
the splits, the Syn-Diag extractor pretrained without the held-out classes (every family starts from it), the scores,
thresholds and metrics, and the resumable results lines.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from syndiag.config.openset import OpenSetConfig
from syndiag.config.profiles import profile_path
from syndiag.config.run import RunConfig
from syndiag.data.openset_splits import OpenSetTask
from syndiag.data.prepare import PreparedDataset
from syndiag.evaluation.metrics import append_result, read_results
from syndiag.evaluation.provenance import check_committed_code, provenance
from syndiag.models.backbones import load_backbone
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.device import place
from syndiag.models.prompt_fusion import ClassTextBank
from syndiag.models.text_ablation import random_token_embeddings
from syndiag.training.common import seed_everything
from syndiag.training.pretrain import pretrain


@dataclass(frozen=True)
class Setting:
    """What a family trains in: the suite's config, the run recipe, the class view of the known (or seen) classes, the
    seed, and the Syn-Diag extractor pretrained on that view (beside which a family keeps its own trained stages)."""

    config: OpenSetConfig
    recipe: RunConfig
    view: PreparedDataset
    pretrained: Path
    seed: int


@dataclass(frozen=True)
class Trained:
    """A family fitted on the known support: ``encode(indices)`` gives those windows' (logits, features)."""

    encode: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    seconds: float


@dataclass(frozen=True)
class ZeroShotFeatures:
    """Each window set's visual features, every class's text feature (one row per class) and the backbone's name."""

    visual: dict[str, np.ndarray]
    text: np.ndarray
    name: str


class UnknownFaultModel(Protocol):
    """One model family in the openset and zeroshot suites."""

    text_sources: tuple[str, ...]
    """The zero-shot text sources the family is measured with."""

    def material(self, config: OpenSetConfig) -> dict:
        """What of the family's own recipe decides a cell (merged into the cell hash)."""

    def train(self, setting: Setting, task: OpenSetTask) -> Trained:
        """Fitted on ``task``'s known support (of ``setting.view``)."""

    def zeroshot(self, setting: Setting, dataset: PreparedDataset, texts: list[str], text_source: str,
                 windows: dict[str, np.ndarray]) -> ZeroShotFeatures:
        """Visual features of each set of ``dataset``'s ``windows``, and the text feature of every class in ``texts``."""


def run_recipe(config: OpenSetConfig, overrides: dict[str, Any] | None = None) -> RunConfig:
    return RunConfig.from_yaml(profile_path(config.recipe), overrides or {})


def pretrained_cloud(recipe: RunConfig, view: PreparedDataset, folder: Path, conditions: list[str] | None, seed: int,
                     text_source: str = "language-model") -> Path:
    """The cloud model aligned on ``view``'s classes (pretraining only), trained once into ``folder`` and kept."""
    if (folder / "model.safetensors").is_file():
        return folder
    recipe = recipe.model_copy(update={"seed": seed})
    seed_everything(seed)
    backbone = load_backbone(recipe.model.backbone, recipe.model.allow_download, recipe.model.num_layers)
    model = SynDiagCloud(recipe.model, backbone, view.class_names, view.prompts)
    if text_source == "random-tokens":
        model.fusion.bank = ClassTextBank(backbone.tokenizer, random_token_embeddings(backbone.word_embeddings(), seed), view.prompts)
    place(model, recipe)
    result = pretrain(model, view, recipe, conditions=conditions)
    model.save_pretrained(folder, extra={"stage": "pretrained", "seed": seed, "seconds": round(result.seconds, 1), "text_source": text_source})
    return folder


def run_cells(suite: str, results: Path, hashes: dict[Hashable, str], record_of: Callable[[Any], dict], line: dict,
              summary: Callable[[Any, dict], str], say: Callable[[str], None], allow_dirty: bool) -> tuple[int, int]:
    """Every cell of ``hashes`` not yet in ``results`` (resumable): its record, then ``line``'s fields and the provenance."""
    done = {r.get("cell_hash") for r in read_results(results)} if results.is_file() else set()
    pending = [cell for cell, cell_hash in hashes.items() if cell_hash not in done]
    if pending:
        check_committed_code(results, allow_dirty)
    for cell in pending:
        record = record_of(cell)
        append_result(results, {**record, "suite": suite, "cell_hash": hashes[cell], **line, **provenance()})
        say(summary(cell, record))
    return len(pending), 0
