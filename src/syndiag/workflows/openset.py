"""Unknown faults on trained models (issue 17, leave-one-family-out) as library functions, and the openset suite.

Per held-out family and seed the Syn-Diag extractor is pretrained on the known classes only (the family never reaches
any training step, nor the class-text bank of prompt fusion); then per (train, test) condition pair and method, a model
family (the interface ``workflows/unknown_models.UnknownFaultModel``) is trained on the K-shot support of the known
classes and encodes windows to (logits, features):
  - Syn-Diag-Cloud: fine-tuned; its logits and fusion-token feature h_fusion_out (``workflows/unknown_syndiag.py``);
  - prototypes: the pretrained extractor's v_g, nearest class mean by cosine (``workflows/unknown_syndiag.py``);
  - sensor-model: aligned (stage a) on the known classes, fine-tuned on their support (``workflows/unknown_sensor.py``).
Here, once for every family: msp and energy from the logits, Mahalanobis and kNN on the features (both fitted on the
support), thresholds at ``false_alarm`` on held-in calibration windows (known classes, train pool, not in the support),
the metrics and the results lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.openset import OpenSetConfig
from syndiag.config.run import RunConfig
from syndiag.data.openset_splits import OpenSetTask, class_view, openset_task
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.evaluation.openset_report import openset_metrics, roc_points
from syndiag.models.openset import SCORES, window_scores
from syndiag.workflows.cells import data_identity, digest, recipe_material
from syndiag.workflows.unknown_models import Setting, UnknownFaultModel, pretrained_cloud, run_cells, run_recipe
from syndiag.workflows.unknown_sensor import SensorFamily
from syndiag.workflows.unknown_syndiag import SynDiag

CALIBRATION_PER_CLASS = 20
"""Held-in windows per known class scored for the threshold (a seeded draw; bounds the cost on a CPU)."""

METHODS: dict[str, UnknownFaultModel] = {"Syn-Diag-Cloud": SynDiag("fine-tuned"), "prototypes": SynDiag("prototypes"),
                                         "sensor-model": SensorFamily()}
"""Each open-set method's model family."""


def calibration_windows(task: OpenSetTask, labels: np.ndarray, seed: int, per_class: int = CALIBRATION_PER_CLASS) -> np.ndarray:
    """At most ``per_class`` of the task's held-in calibration windows per known class (seeded)."""
    rng = np.random.default_rng([seed, 1717])
    chosen = [rng.permutation(task.calibration[labels[task.calibration] == c])[:per_class] for c in task.known]
    return np.sort(np.concatenate(chosen))


def openset_records(config: OpenSetConfig, recipe: RunConfig, dataset: PreparedDataset, family: str, seed: int,
                    pretrained: Path, source: str, target: str, method: str) -> dict[str, Any]:
    """One results line: ``method`` on one family, seed and condition pair, every score's metrics and ROC points."""
    task = openset_task(dataset, family, config.shots, seed, source, target)
    labels = np.asarray(dataset.labels)
    view = class_view(dataset, task.known)
    windows = {"calibration": calibration_windows(task, labels, seed), "test": task.test}
    trained = METHODS[method].train(Setting(config, recipe, view, pretrained, seed), task)
    scores, predicted = window_scores(trained.encode, task.support, view.labels[task.support], windows)
    truth = labels[task.test]
    unknown = np.isin(truth, task.unknown)
    closed = np.asarray(task.known)[predicted["test"]]
    metrics = {s: openset_metrics(scores["calibration"][s], scores["test"][s], closed, truth, unknown, config.false_alarm) for s in SCORES}
    roc = {s: roc_points(scores["test"][s][~unknown], scores["test"][s][unknown]) for s in SCORES}
    return {"method": method, "family": family, "source": source, "target": target, "seed": seed, "k": config.shots,
            "metrics": metrics, "roc": roc, "support": int(task.support.size), "calibration": int(windows["calibration"].size),
            "known_classes": [dataset.class_names[c] for c in task.known], "unknown_classes": [dataset.class_names[c] for c in task.unknown],
            "train_seconds": round(trained.seconds, 2)}


def run_openset_suite(config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None = None, say: Callable[[str], None] = print,
                      allow_dirty: bool = False) -> tuple[int, int]:
    """Every (family, seed, pair, method) cell not yet in ``results`` (resumable); returns (cells run, cells left)."""
    recipe = run_recipe(config, overrides)
    dataset = prepare(recipe.data)
    identity, material = data_identity(dataset), recipe_material(recipe)
    cells = [(f, seed, s, t, m) for seed in config.seeds for f in config.families for s, t in config.pairs for m in config.methods]
    hashes = {cell: config.cell_hash({"data": identity, **material, **METHODS[cell[-1]].material(config)}, "openset", *cell) for cell in cells}

    def record(cell: tuple) -> dict[str, Any]:
        family, seed, source, target, method = cell
        known = openset_task(dataset, family, config.shots, seed, source, target).known
        key = digest({"data": identity, "recipe": material, "known": known, "conditions": config.pretrain_conditions, "seed": seed}, 12)
        folder = pretrained_cloud(recipe, class_view(dataset, known), config.work_dir / f"pretrained-{key}", config.pretrain_conditions, seed)
        return openset_records(config, recipe, dataset, family, seed, folder, source, target, method)

    def summary(cell: tuple, found: dict) -> str:
        family, seed, source, target, method = cell
        best = max(found["metrics"].values(), key=lambda m: m["auroc"])
        return (f"openset {method} without {family} {source}->{target} seed {seed}: best AUROC {best['auroc']:.3f}, "
                f"msp {found['metrics']['msp']['auroc']:.3f}")

    line = {"profile": config.profile, "backbone": recipe.model.backbone, "data_identity": identity}
    return run_cells("openset", results, hashes, record, line, summary, say, allow_dirty)
