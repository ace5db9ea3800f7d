"""The cloud model's stages as library functions: pretrain (§3.1.2) -> finetune (§3.3) -> evaluate (§5.2) -> distill (§3.4)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syndiag.config.run import RunConfig
from syndiag.data.fewshot import FewShotTask, pretraining_pool, test_set
from syndiag.errors import SyndiagError
from syndiag.evaluation.embedding_plot import separability, write_tsne_png
from syndiag.evaluation.evaluate import Evaluation, evaluate_task
from syndiag.models.backbones import load_backbone
from syndiag.models.device import place
from syndiag.models.edge import SynDiagEdge
from syndiag.training.distill import distill, distillation_windows, teacher_targets
from syndiag.training.finetune import finetune
from syndiag.training.pretrain import global_visual_features, pretrain
from syndiag.workflows.session import (
    check_draw,
    data_meta,
    finetune_task,
    require_finetuned,
    setup,
    task_of_checkpoint,
)

StepProgress = Callable[[int, int, float], None]
"""(step, total steps, loss) after every optimizer step."""


def pretrained_dir(config: RunConfig) -> Path:
    return Path(config.output_dir) / "pretrained"


def finetuned_dir(config: RunConfig) -> Path:
    return Path(config.output_dir) / "finetuned"


def edge_dir(config: RunConfig) -> Path:
    return Path(config.output_dir) / "edge"


@dataclass
class PretrainOutcome:
    checkpoint: Path
    tsne_png: Path
    pool_size: int
    seconds: float
    losses: list[float]
    silhouette_before: float
    silhouette_after: float


def run_pretrain(config: RunConfig, progress: StepProgress | None = None) -> PretrainOutcome:
    """Stage 1: align the visual extractor with the class texts on the multi-condition K-shot pool; a t-SNE PNG before/after."""
    session = setup(config)
    dataset, model = session.dataset, session.model
    target = config.finetune.target or config.finetune.source or dataset.condition_names[-1]
    rng = np.random.default_rng(config.seed)
    tests = np.concatenate([rng.permutation(test_set(dataset, target, [c]))[: config.pretrain.tsne_test_per_class] for c in dataset.class_names])
    pool = pretraining_pool(dataset, config.seed, k=config.pretrain.shots)
    shown = np.concatenate([pool, tests])
    before = global_visual_features(model, dataset, shown)
    result = pretrain(model, dataset, config, progress=progress)
    after = global_visual_features(model, dataset, shown)
    folder = model.save_pretrained(pretrained_dir(config), extra={
        "stage": "pretrained", "seed": config.seed, "pool_size": len(pool), "seconds": round(result.seconds, 1), "losses": result.losses,
        **data_meta(config, dataset)})
    is_test = np.r_[np.zeros(len(pool), bool), np.ones(len(tests), bool)]
    labels = dataset.labels[shown]
    png = write_tsne_png(before, after, labels, is_test, dataset.class_names, Path(config.output_dir) / "alignment_tsne.png",
                         f"visual features v_g, {dataset.meta['dataset']}: pool (all conditions) + test ({target})", seed=config.seed)
    return PretrainOutcome(folder, png, len(pool), result.seconds, result.losses,
                           separability(before[is_test], labels[is_test]), separability(after[is_test], labels[is_test]))


@dataclass
class FinetuneOutcome:
    checkpoint: Path
    task: FewShotTask
    windows: int
    seconds: float
    seconds_per_step: float
    losses: list[float] = field(default_factory=list)


def run_finetune(config: RunConfig, checkpoint: Path | None = None, *, pretrained: bool = True, shots: int | None = None,
                 seed: int | None = None, overwrite: bool = False, progress: StepProgress | None = None) -> FinetuneOutcome:
    """Stage 2: few-shot fine-tuning from ``checkpoint`` (default OUTPUT_DIR/pretrained; none with ``pretrained=False``).

    OUTPUT_DIR/finetuned fine-tuned for another task (K, seed, conditions) is kept unless ``overwrite``.
    """
    check_draw(shots, seed)
    source = (checkpoint or pretrained_dir(config)) if pretrained else None
    session = setup(config, source)
    task = finetune_task(config, session.dataset, shots, seed)
    check_overwrite(finetuned_dir(config), {"k": task.k, "seed": task.seed, "source": task.source[0], "target": task.target}, overwrite)
    result = finetune(session.model, session.dataset, task, config.finetune, task.seed, progress=progress)
    folder = session.model.save_pretrained(finetuned_dir(config), extra={
        "stage": "finetuned", "task": {"k": task.k, "seed": task.seed, "source": task.source[0], "target": task.target},
        "pretrained_from": str(source) if source else None, "train_seconds": round(result.seconds, 2),
        "seconds_per_step": round(result.seconds_per_step, 4), "losses": result.losses, "config_hash": config.config_hash(),
        **data_meta(config, session.dataset)})
    return FinetuneOutcome(folder, task, result.windows, result.seconds, result.seconds_per_step, result.losses)


def check_overwrite(folder: Path, task: dict, overwrite: bool) -> None:
    """Refuse to replace a checkpoint fine-tuned for another task, naming both and the ways out."""
    config = folder / "config.json"
    if overwrite or not config.is_file():
        return
    try:
        existing = json.loads(config.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return
    if existing is not None and existing != task:
        raise SyndiagError(f"{folder} holds a model fine-tuned for {existing}, this run is {task}: pass --overwrite to replace it, "
                           "or --set output_dir=... to keep both")


@dataclass
class EvaluateOutcome:
    evaluation: Evaluation
    task: FewShotTask
    data_source: str


def run_evaluate(config: RunConfig, checkpoint: Path | None = None, target: str | None = None) -> EvaluateOutcome:
    """Test a fine-tuned checkpoint on its task's test set (or ``target``'s); appends one record to ``results_file``."""
    folder = checkpoint or finetuned_dir(config)
    require_finetuned(folder, "syndiag-cloud", "finetune")
    session = setup(config, folder)
    meta = session.model.checkpoint_meta
    task = task_of_checkpoint(session.dataset, meta, folder, target)
    evaluation = evaluate_task(
        session.model, session.dataset, task, Path(config.output_dir), Path(config.results_file),
        method="Syn-Diag-Cloud", backbone=config.model.backbone, profile=config.profile, config_hash=config.config_hash(),
        train_seconds=meta.get("train_seconds", 0.0), batch_size=config.finetune.eval_batch_size,
        extra={"seconds_per_train_step": meta.get("seconds_per_step"), "checkpoint": str(folder)},
    )
    return EvaluateOutcome(evaluation, task, session.dataset.meta["source"])


@dataclass
class DistillOutcome:
    checkpoint: Path
    task: FewShotTask
    windows: int
    seconds: float
    losses: list[float]
    cloud: Evaluation
    edge: Evaluation


def run_distill(config: RunConfig, teacher: Path | None = None, progress: StepProgress | None = None) -> DistillOutcome:
    """Stage 3: distil the edge student from the cloud teacher (MSE on the fused feature, eq. 11), then test both."""
    teacher_dir = teacher or finetuned_dir(config)
    require_finetuned(teacher_dir, "syndiag-cloud", "finetune")
    session = setup(config, teacher_dir)
    dataset, cloud = session.dataset, session.model
    task = task_of_checkpoint(dataset, cloud.checkpoint_meta, teacher_dir)
    windows = distillation_windows(dataset, task, config.distill.unlabelled_per_class, task.seed)
    started = time.perf_counter()
    targets = teacher_targets(cloud, dataset, windows)
    teacher_seconds = time.perf_counter() - started
    student = SynDiagEdge(config.edge, cloud, load_backbone(config.edge.backbone, config.edge.allow_download, config.edge.num_layers))
    place(student, config)
    result = distill(student, targets, config.distill, task.seed, progress=progress)
    folder = student.save_pretrained(edge_dir(config), teacher_dir, extra={
        "stage": "distilled", "task": cloud.checkpoint_meta["task"], "windows": len(windows), "train_seconds": round(result.seconds, 2),
        "teacher_feature_seconds": round(teacher_seconds, 2), "losses": result.losses, **data_meta(config, dataset)})
    common = dict(profile=config.profile, config_hash=config.config_hash(), batch_size=config.finetune.eval_batch_size)
    edge_eval = evaluate_task(student, dataset, task, Path(config.output_dir) / "edge-eval", Path(config.results_file), method="Syn-Diag-Edge",
                              backbone=config.edge.backbone, train_seconds=result.seconds,
                              extra={"teacher": str(teacher_dir), "distill_losses": [round(x, 5) for x in result.losses]}, **common)
    cloud_eval = evaluate_task(cloud, dataset, task, Path(config.output_dir), None, method="Syn-Diag-Cloud", backbone=config.model.backbone,
                               train_seconds=0.0, **common)
    return DistillOutcome(folder, task, len(windows), result.seconds, result.losses, cloud_eval, edge_eval)
