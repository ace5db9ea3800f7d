"""Stage 3: feature distillation of the edge student from the cloud teacher, MSE(h'_S, h_T) (§3.4.2, eq. 11)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from syndiag.config.training import DistillConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.prepare import PreparedDataset
from syndiag.data.windowing import POOL
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.edge import SynDiagEdge
from syndiag.training.common import batches, image_batch, seed_everything
from syndiag.training.engine import train_epochs
from syndiag.training.losses import distillation_loss

Progress = Callable[[int, int, float], None]


@dataclass
class TeacherTargets:
    """What the frozen teacher gives each distillation window, computed once: V_T and h_T."""

    indices: np.ndarray
    visual_tokens: torch.Tensor
    features: torch.Tensor


@dataclass
class DistillResult:
    seconds: float
    teacher_seconds: float
    losses: list[float] = field(default_factory=list)


def distillation_windows(dataset: PreparedDataset, task: FewShotTask, per_class: int, seed: int) -> np.ndarray:
    """The K-shot set plus ``per_class`` unlabelled train-pool windows per class of the source condition.

    Never a test window: every index comes from the train pool (checked).
    """
    cond = dataset.condition_names.index(task.source[0])
    rng = np.random.default_rng([seed, 7919])
    extra = []
    for cls in range(len(dataset.class_names)):
        pool = np.flatnonzero((dataset.conditions == cond) & (dataset.labels == cls) & (dataset.split == POOL))
        pool = np.setdiff1d(pool, task.train)
        extra.append(rng.permutation(pool)[:per_class])
    chosen = np.unique(np.concatenate([task.train, *extra]))
    if (dataset.split[chosen] != POOL).any():
        raise AssertionError("a distillation window is not from the train pool")
    return chosen


@torch.inference_mode()
def teacher_targets(teacher: SynDiagCloud, dataset: PreparedDataset, indices: np.ndarray, batch_size: int = 64) -> TeacherTargets:
    teacher.eval()
    tokens, features = [], []
    for chunk in batches(indices, batch_size):
        v_teacher = teacher.visual_tokens(image_batch(dataset, chunk))
        tokens.append(v_teacher)
        features.append(teacher.head_input(v_teacher))
    return TeacherTargets(indices, torch.cat(tokens), torch.cat(features))


def distill(student: SynDiagEdge, targets: TeacherTargets, stage: DistillConfig, seed: int, progress: Progress | None = None) -> DistillResult:
    """Train the student's adapters, prompts and LoRA so that h'_S matches h_T; the shared head is untouched."""
    generator = seed_everything(seed)
    parameters = [p for name, p in student.named_parameters() if p.requires_grad and not name.startswith(("head.", "teacher_parts."))]

    def loss_of(batch: np.ndarray, step: int, total: int) -> torch.Tensor:
        return distillation_loss(student.features_from_tokens(targets.visual_tokens[batch]), targets.features[batch])

    result = DistillResult(seconds=0.0, teacher_seconds=0.0)
    started = time.perf_counter()
    student.train()
    result.losses, _ = train_epochs(
        parameters, np.arange(len(targets.indices)), loss_of, epochs=stage.epochs, batch_size=stage.batch_size,
        lr=stage.lr, weight_decay=0.0, generator=generator, progress=progress,
    )
    result.seconds = time.perf_counter() - started
    student.eval()
    return result
