"""What identifies a benchmark cell: its task (suite, method, seed, K, conditions) and a hash of everything that produced it;
what a method trained for a cell hands back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from syndiag.config.benchmark import (
    IMAGE_BASELINES,
    LATER_SENSOR_FIELDS,
    SENSOR_METHODS,
    SPECTRAL_METHODS,
    SYNDIAG_VARIANTS,
    BenchmarkConfig,
    base_method,
)
from syndiag.commit import current_commit
from syndiag.config.run import RunConfig
from syndiag.config.runtime import without_later_defaults
from syndiag.data.prepare import PreparedDataset
from syndiag.errors import SyndiagError
from syndiag.evaluation.metrics import read_results


def digest(material: Any, length: int = 16) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Cell:
    """One row of a results file: a method on one few-shot task with one seed."""

    suite: Literal["table1", "table2", "table3", "sensor", "updates"]
    method: str
    seed: int
    k: int
    source: str
    target: str

    @property
    def key(self) -> tuple:
        return (self.suite, self.method, self.seed, self.k, self.source, self.target)


WindowClassifier = Callable[[PreparedDataset, np.ndarray], np.ndarray]
"""(dataset, window indices) -> predicted class per window."""


@dataclass
class Trained:
    predict: WindowClassifier
    train_seconds: float
    extra: dict = field(default_factory=dict)


def record_key(record: dict, suite: str | None = None) -> tuple:
    """A line's cell; ``suite`` stands for the suite of a line that names none (the updates suite's first lines)."""
    return (record.get("suite", suite), record["method"], record["seed"], record["k"], record["conditions"]["source"][0], record["conditions"]["target"])


def data_identity(dataset: PreparedDataset) -> str:
    """The prepared data by content, not location: dataset, rate, channels, classes, and every recording's file name,
    length, label, condition and pool/test boundary (the simulator and real CWRU never share one)."""
    meta = dataset.meta
    recordings = [(Path(r["source"]).name, r["samples"], r["label"], r["condition"], r["boundary"]) for r in meta["recordings"]]
    return digest({"dataset": meta["dataset"], "fs": meta["fs"], "channels": meta["channels"], "classes": meta["classes"],
                   "window": meta["config"]["window"], "spectrogram": meta["config"]["spectrogram"], "recordings": recordings})


def recipe_material(recipe: RunConfig) -> dict:
    """The parts of a recipe that decide a table cell (not where files go, nor the device or threads)."""
    data = recipe.data.model_dump(mode="json", exclude={"data_root", "cache_dir", "spec"})
    return {"data": data, "model": recipe.model.model_dump(mode="json"), "pretrain": recipe.pretrain.model_dump(mode="json"),
            "finetune": recipe.finetune.model_dump(mode="json"), "edge_backbone": [recipe.edge.backbone, recipe.edge.num_layers],
            "dtype": recipe.dtype}


def method_material(settings: BenchmarkConfig, method: str) -> dict:
    """The configuration of ``method`` that the recipe does not hold."""
    base = base_method(method)
    material: dict[str, Any] = {"method": method}
    if base in SYNDIAG_VARIANTS:
        material["variant"] = SYNDIAG_VARIANTS[base]
    elif base in IMAGE_BASELINES:
        material["network"] = settings.image_baselines[base].model_dump(mode="json")
        material["training"] = settings.baseline_training.model_dump(mode="json")
    elif base in SENSOR_METHODS:
        recipe = settings.sensor_recipe_for(base)
        material["sensor_recipe"] = recipe.model_dump(mode="json", include={"channels", "model", "align", "finetune"})
        model = material["sensor_recipe"]["model"]
        for name, value in LATER_SENSOR_FIELDS.items():
            if model.get(name) == value:
                del model[name]
        if recipe.model.spectral_path:
            material["sensor_recipe"]["spectral"] = recipe.spectral.material()
        if recipe.model.encoder_pretraining != "none":
            material["sensor_recipe"]["ssl"] = recipe.ssl.model_dump(mode="json")
    elif base in SPECTRAL_METHODS:
        material["spectral"] = settings.spectral_config(base).material()
    if method != base:
        material["train_noise_snr_db"] = list(settings.train_noise_snr_db)
    return material


def collaboration_material(recipe: RunConfig) -> dict:
    """What an updates-suite cell adds to the recipe's parts: the edge model, its distillation and the online updates
    (a setting added to them later stays out at the value earlier lines had, as in the recipe's own config hash)."""
    return without_later_defaults(recipe.model_dump(mode="json", include={"edge", "distill", "update"}), recipe.HASH_ADDED_LATER)


def cell_hash(cell: Cell, identity: str, recipe: RunConfig, settings: BenchmarkConfig, noise: list[float]) -> str:
    """Hash of everything that determines ``cell``: its task, the data's identity, the recipe, the method's config, the noise tests."""
    material = {"cell": cell.key, "data": identity, "recipe": recipe_material(recipe), "method": method_material(settings, cell.method),
                "noise_snr_db": noise}
    if cell.suite == "updates":
        material["collaboration"] = collaboration_material(recipe)
    return digest(material)


def finished_cells(path: Path, hashes: dict[tuple, str]) -> tuple[set[tuple], list[tuple]]:
    """Keys of ``hashes`` whose cell is in ``path`` with the same hash, and those present with another hash (or none).

    For a run from committed code a line from uncommitted code (``+dirty``) counts as made otherwise, so that the run
    can replace it; a line that names no suite is of the suite of ``hashes`` (one suite per results file).
    """
    if not path.is_file():
        return set(), []
    clean_run = not current_commit().endswith("+dirty")
    suite = next(iter(hashes))[0] if hashes else None
    recorded: dict[tuple, set] = {}
    for record in read_results(path):
        dirty = str(record.get("commit", record.get("git_commit", ""))).endswith("+dirty")
        recorded.setdefault(record_key(record, suite), set()).add(None if dirty and clean_run else record.get("cell_hash"))
    done = {key for key, value in hashes.items() if value in recorded.get(key, set())}
    mismatched = [key for key in hashes if key in recorded and key not in done]
    return done, mismatched


def mismatch_error(path: Path, mismatched: list[tuple]) -> SyndiagError:
    shown = "; ".join(f"{m} {s}->{t} {k}-shot seed {seed}" for _, m, seed, k, s, t in mismatched[:3])
    return SyndiagError(
        f"{path}: {len(mismatched)} cell(s) were made by other data, another recipe or another method config "
        f"(or before cells were keyed by what produced them), e.g. {shown}. They are never reused: run again with "
        "--rerun-mismatched to run them under the current settings (new lines supersede old ones in the report), "
        "or write to another out_dir (--set out_dir=...)")
