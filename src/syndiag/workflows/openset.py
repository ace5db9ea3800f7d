"""Unknown faults on trained models (issue 17, leave-one-family-out) as library functions, and the openset suite.

Per held-out family and seed the aligned extractor is pretrained on the known classes only (the family never reaches
any training step, nor the class-text bank of prompt fusion), then per (train, test) condition pair:
  - Syn-Diag-Cloud: fine-tuned on the K-shot support of the known classes; scores from its logits (msp, energy) and
    its fusion-token feature h_fusion_out (Mahalanobis, kNN, both fitted on the support features);
  - prototypes: the pretrained extractor's v_g, nearest class mean by cosine (logits scaled by the learned
    temperature); msp and energy from those logits, Mahalanobis and kNN on v_g;
  - sensor-model: aligned (stage a) on the known classes, fine-tuned on their support (workflows/unknown_sensor.py).
Thresholds at ``false_alarm`` on held-in calibration windows (known classes, train pool, not in the support).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.openset import OpenSetConfig
from syndiag.config.run import RunConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.openset_splits import OpenSetTask, class_view, openset_task
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.evaluation.metrics import append_result, read_results
from syndiag.evaluation.openset_report import openset_metrics, roc_points
from syndiag.evaluation.provenance import check_committed_code, provenance
from syndiag.models.openset import SCORES, window_scores
from syndiag.workflows.cells import data_identity, digest, recipe_material
from syndiag.workflows.unknown_sensor import sensor_material, sensor_openset_scores

CALIBRATION_PER_CLASS = 20
"""Held-in windows per known class scored for the threshold (a seeded draw; bounds the cost on a CPU)."""


def run_recipe(config: OpenSetConfig, overrides: dict[str, Any] | None = None) -> RunConfig:
    from syndiag.config.profiles import profile_path

    return RunConfig.from_yaml(profile_path(config.recipe), overrides or {})


def pretrained_cloud(recipe: RunConfig, view: PreparedDataset, folder: Path, conditions: list[str] | None, seed: int,
                     text_source: str = "language-model") -> Path:
    """The cloud model aligned on ``view``'s classes (pretraining only), trained once into ``folder`` and kept."""
    from syndiag.models.backbones import load_backbone
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.models.device import place
    from syndiag.models.prompt_fusion import ClassTextBank
    from syndiag.models.text_ablation import random_token_embeddings
    from syndiag.training.common import seed_everything
    from syndiag.training.pretrain import pretrain

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


def _batched(fn: Callable, dataset: PreparedDataset, indices: np.ndarray, batch: int) -> np.ndarray:
    import torch

    from syndiag.training.common import image_batch

    with torch.inference_mode():
        parts = [fn(image_batch(dataset, indices[s : s + batch])).float().cpu().numpy() for s in range(0, len(indices), batch)]
    return np.concatenate(parts)


def calibration_windows(task: OpenSetTask, labels: np.ndarray, seed: int, per_class: int = CALIBRATION_PER_CLASS) -> np.ndarray:
    """At most ``per_class`` of the task's held-in calibration windows per known class (seeded)."""
    rng = np.random.default_rng([seed, 1717])
    chosen = [rng.permutation(task.calibration[labels[task.calibration] == c])[:per_class] for c in task.known]
    return np.sort(np.concatenate(chosen))


def cloud_scores(recipe: RunConfig, view: PreparedDataset, pretrained: Path, task: OpenSetTask, windows: dict[str, np.ndarray]):
    """Fine-tune the pretrained cloud on the known support, then score ``windows``; also its seconds."""
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.models.device import place
    from syndiag.training.finetune import finetune

    model = place(SynDiagCloud.from_pretrained(pretrained), recipe)
    names = tuple(view.class_names)
    fewshot = FewShotTask(task.k, task.seed, (task.source,), task.target, task.support, task.test, names)
    started = time.perf_counter()
    finetune(model, view, fewshot, recipe.finetune, task.seed)
    seconds = time.perf_counter() - started
    model.eval()
    batch = recipe.finetune.eval_batch_size

    def encode(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = _batched(model.features, view, idx, batch)
        return _batched_head(model, features), features

    return (*window_scores(encode, task.support, view.labels[task.support], windows), seconds)


def prototype_scores(recipe: RunConfig, view: PreparedDataset, pretrained: Path, task: OpenSetTask, windows: dict[str, np.ndarray]):
    """The pretrained extractor's class means of v_g (cosine, scaled by the learned temperature), then score ``windows``."""
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.models.device import place

    model = place(SynDiagCloud.from_pretrained(pretrained), recipe).eval()
    batch = recipe.finetune.eval_batch_size
    started = time.perf_counter()
    features_of = lambda idx: _batched(lambda x: model.visual_tokens(x).mean(1), view, idx, batch)  # noqa: E731
    support_features, support_labels = features_of(task.support), view.labels[task.support]
    means = np.stack([support_features[support_labels == c].mean(0) for c in range(len(view.class_names))])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    scale = float(model.logit_scale.detach().exp().clamp(max=100.0))

    def encode(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = support_features if idx is task.support else features_of(idx)
        return scale * (f / np.linalg.norm(f, axis=1, keepdims=True)) @ means.T, f

    return (*window_scores(encode, task.support, support_labels, windows), time.perf_counter() - started)


def _batched_head(model, features: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model.head(torch.from_numpy(features).to(next(model.head.parameters()).device)).float().cpu().numpy()


def openset_records(config: OpenSetConfig, recipe: RunConfig, dataset: PreparedDataset, family: str, seed: int,
                    pretrained: Path, source: str, target: str, method: str) -> dict[str, Any]:
    """One results line: ``method`` on one family, seed and condition pair, every score's metrics and ROC points."""
    task = openset_task(dataset, family, config.shots, seed, source, target)
    labels = np.asarray(dataset.labels)
    view = class_view(dataset, task.known)
    windows = {"calibration": calibration_windows(task, labels, seed), "test": task.test}
    if method == "sensor-model":
        aligned = pretrained.with_name(f"sensor-aligned-{pretrained.name}")
        scores, predicted, seconds = sensor_openset_scores(config, recipe, view, pretrained, aligned, task, windows)
    else:
        run = cloud_scores if method == "Syn-Diag-Cloud" else prototype_scores
        scores, predicted, seconds = run(recipe, view, pretrained, task, windows)
    truth = labels[task.test]
    unknown = np.isin(truth, task.unknown)
    closed = np.asarray(task.known)[predicted["test"]]
    metrics = {s: openset_metrics(scores["calibration"][s], scores["test"][s], closed, truth, unknown, config.false_alarm) for s in SCORES}
    roc = {s: roc_points(scores["test"][s][~unknown], scores["test"][s][unknown]) for s in SCORES}
    return {"method": method, "family": family, "source": source, "target": target, "seed": seed, "k": config.shots,
            "metrics": metrics, "roc": roc, "support": int(task.support.size), "calibration": int(windows["calibration"].size),
            "known_classes": [dataset.class_names[c] for c in task.known], "unknown_classes": [dataset.class_names[c] for c in task.unknown],
            "train_seconds": round(seconds, 2)}


def _method_material(config: OpenSetConfig, method: str) -> dict:
    return {"sensor": sensor_material(config)} if method == "sensor-model" else {}


def run_openset_suite(config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None = None, say: Callable[[str], None] = print,
                      allow_dirty: bool = False) -> tuple[int, int]:
    """Every (family, seed, pair, method) cell not yet in ``results`` (resumable); returns (cells run, cells left)."""
    recipe = run_recipe(config, overrides)
    dataset = prepare(recipe.data)
    identity, material = data_identity(dataset), recipe_material(recipe)
    cells = [(f, seed, s, t, m) for seed in config.seeds for f in config.families for s, t in config.pairs for m in config.methods]
    hashes = {cell: config.cell_hash({"data": identity, **material, **_method_material(config, cell[-1])}, "openset", *cell) for cell in cells}
    done = {r.get("cell_hash") for r in read_results(results)} if results.is_file() else set()
    pending = [c for c in cells if hashes[c] not in done]
    if pending:
        check_committed_code(results, allow_dirty)
    for family, seed, source, target, method in pending:
        known = openset_task(dataset, family, config.shots, seed, source, target).known
        key = digest({"data": identity, "recipe": material, "known": known, "conditions": config.pretrain_conditions, "seed": seed}, 12)
        folder = pretrained_cloud(recipe, class_view(dataset, known), config.work_dir / f"pretrained-{key}", config.pretrain_conditions, seed)
        record = openset_records(config, recipe, dataset, family, seed, folder, source, target, method)
        append_result(results, {**record, "suite": "openset", "cell_hash": hashes[(family, seed, source, target, method)],
                                "profile": config.profile, "backbone": recipe.model.backbone, "data_identity": identity, **provenance()})
        best = max(record["metrics"].values(), key=lambda m: m["auroc"])
        say(f"openset {method} without {family} {source}->{target} seed {seed}: best AUROC {best['auroc']:.3f}, "
            f"msp {record['metrics']['msp']['auroc']:.3f}")
    return len(pending), 0
