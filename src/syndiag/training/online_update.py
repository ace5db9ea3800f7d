"""Cloud-edge online updates: the edge fine-tunes only the shared head, ships it, the cloud validates and swaps it in (§3.5, eq. 12-14)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from syndiag.config.training import UpdateConfig
from syndiag.data.windowing import POOL
from syndiag.errors import DataError
from syndiag.registry.heads import HeadPackage, HeadRegistry, head_accuracy
from syndiag.training.common import batches, image_batch, seed_everything
from syndiag.training.engine import shuffled_batches


def head_gradient(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the cross-entropy with respect to the head parameters (weight and bias), flattened."""
    weight = head.weight.detach().clone().requires_grad_(True)
    bias = head.bias.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(features @ weight.T + bias, labels)
    grad_w, grad_b = torch.autograd.grad(loss, (weight, bias))
    return torch.cat([grad_w.flatten(), grad_b])


def gradient_consistency(head: nn.Linear, student_features: torch.Tensor, teacher_features: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """||grad_S - grad_T|| / ||grad_T|| of the shared head on the same samples (eq. 12-14), 0 for identical updates,
    and the cosine between the two gradients, 1 when they point the same way whatever their lengths."""
    grad_s = head_gradient(head, student_features, labels)
    grad_t = head_gradient(head, teacher_features, labels)
    ratio = float((grad_s - grad_t).norm() / grad_t.norm().clamp_min(1e-12))
    return ratio, float(F.cosine_similarity(grad_s, grad_t, dim=0))


def train_head(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, config: UpdateConfig, generator: torch.Generator) -> nn.Linear:
    """Fine-tune a copy of ``head`` on fixed features; the feature extractor never runs here."""
    head = copy.deepcopy(head)
    head.requires_grad_(True)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=0.0)
    positions = np.arange(len(labels))
    for _ in range(config.epochs):
        for batch in shuffled_batches(positions, config.batch_size, generator):
            loss = F.cross_entropy(head(features[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    head.requires_grad_(False)
    return head


@dataclass
class FeatureBank:
    """Cached fused features of both models for one set of windows: the teacher's h_T and the student's h'_S."""

    indices: np.ndarray
    labels: np.ndarray
    teacher: torch.Tensor
    student: torch.Tensor


@dataclass
class CycleResult:
    cycle: int
    version: str
    accepted: bool
    reasons: list[str]
    teacher_accuracy: float
    student_accuracy: float
    gradient_consistency: float
    gradient_cosine: float


@dataclass
class UpdateRun:
    initial_teacher_accuracy: float
    initial_student_accuracy: float
    cycles: list[CycleResult] = field(default_factory=list)


def update_schedule(labels: np.ndarray, n_classes: int, config: UpdateConfig, seed: int) -> list[np.ndarray]:
    """Positions of the new labelled samples of each cycle, ``new_per_class`` per class.

    Samples are drawn without replacement; when a class runs out its order is reshuffled and reused.
    """
    rng = np.random.default_rng([seed, 31337])
    queues = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in range(n_classes)}
    schedule = []
    for _ in range(config.cycles):
        chosen = []
        for c in range(n_classes):
            if len(queues[c]) < config.new_per_class:
                queues[c] += list(rng.permutation(np.flatnonzero(labels == c)))
            chosen += [queues[c].pop(0) for _ in range(config.new_per_class)]
        schedule.append(np.asarray(chosen))
    return schedule


def run_updates(
    cloud_head: nn.Linear,
    registry: HeadRegistry,
    updates: FeatureBank,
    validation: FeatureBank,
    test: FeatureBank,
    config: UpdateConfig,
    seed: int,
    backbones: dict[str, str],
    progress: Callable[[CycleResult], None] | None = None,
) -> UpdateRun:
    """Each cycle: the edge trains its head copy on new samples' h'_S, exports a package; the cloud validates it
    on its held-out buffer (teacher features) and swaps it in; both models are then scored on the test set."""
    generator = seed_everything(seed)
    edge_head = copy.deepcopy(cloud_head)
    registry.register_initial(cloud_head, backbones, {"test_accuracy": head_accuracy(cloud_head.weight, cloud_head.bias, test.teacher, test.labels)})
    run = UpdateRun(
        initial_teacher_accuracy=head_accuracy(cloud_head.weight, cloud_head.bias, test.teacher, test.labels),
        initial_student_accuracy=head_accuracy(edge_head.weight, edge_head.bias, test.student, test.labels),
    )
    seen: list[np.ndarray] = []
    for cycle, positions in enumerate(update_schedule(updates.labels, cloud_head.out_features, config, seed), start=1):
        labels = torch.from_numpy(updates.labels[positions])
        consistency, cosine = gradient_consistency(edge_head, updates.student[positions], updates.teacher[positions], labels)
        candidate = train_head(edge_head, updates.student[positions], labels, config, generator)
        seen.append(positions)
        own = np.concatenate(seen)
        metrics = {"edge_accuracy_on_seen": head_accuracy(candidate.weight, candidate.bias, updates.student[own], updates.labels[own])}
        package = HeadPackage.from_head(candidate, version=registry.next_version(), parent=registry.active,
                                        class_names=registry.class_names, prompts=registry.prompts, backbones=backbones, metrics=metrics)
        decision = registry.submit(package, cloud_head, validation.teacher, validation.labels)
        if decision.accepted:
            edge_head = candidate
        result = CycleResult(
            cycle=cycle,
            version=decision.version,
            accepted=decision.accepted,
            reasons=decision.reasons,
            teacher_accuracy=head_accuracy(cloud_head.weight, cloud_head.bias, test.teacher, test.labels),
            student_accuracy=head_accuracy(edge_head.weight, edge_head.bias, test.student, test.labels),
            gradient_consistency=consistency,
            gradient_cosine=cosine,
        )
        run.cycles.append(result)
        if progress:
            progress(result)
    return run


def update_windows(dataset, task, config: UpdateConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train-pool windows of the source condition, outside the K-shot set: a cloud-side validation buffer of
    ``validation_per_class`` per class, and the rest as the stream of new labelled samples for the edge."""
    cond = dataset.condition_names.index(task.source[0])
    rng = np.random.default_rng([seed, 4242])
    updates, validation = [], []
    for cls in range(len(dataset.class_names)):
        pool = np.flatnonzero((dataset.conditions == cond) & (dataset.labels == cls) & (dataset.split == POOL))
        pool = rng.permutation(np.setdiff1d(pool, task.train))
        if len(pool) <= config.validation_per_class:
            raise DataError(
                f"class {dataset.class_names[cls]!r} at {task.source[0]} has {len(pool)} train-pool windows outside the "
                f"{task.k}-shot set: none left for updates after a validation buffer of {config.validation_per_class}; "
                "lower update.validation_per_class or raise data.window.per_class"
            )
        validation.append(pool[: config.validation_per_class])
        updates.append(pool[config.validation_per_class :])
    return np.sort(np.concatenate(updates)), np.sort(np.concatenate(validation))


@torch.inference_mode()
def feature_bank(teacher: nn.Module, student: nn.Module, dataset, indices: np.ndarray, batch_size: int = 64) -> FeatureBank:
    """h_T and h'_S of the windows at ``indices``, computed once on the models' device and kept on the CPU, where heads are updated."""
    teacher.eval()
    student.eval()
    t_parts, s_parts = [], []
    for chunk in batches(indices, batch_size):
        images = image_batch(dataset, chunk)
        t_parts.append(teacher.features(images))
        s_parts.append(student.features(images))
    return FeatureBank(indices, dataset.labels[indices], torch.cat(t_parts).cpu(), torch.cat(s_parts).cpu())
