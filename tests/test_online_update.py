import numpy as np
import pytest
import torch
from torch import nn

from syndiag.config import UpdateConfig
from syndiag.registry.heads import HeadRegistry
from syndiag.training.online_update import (
    FeatureBank,
    gradient_consistency,
    run_updates,
    update_schedule,
)

NAMES = ["a", "b", "c", "d"]
PROMPTS = ["fault a", "fault b", "fault c", "fault d"]


def bank(n, seed, noise):
    g = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 4
    teacher = torch.eye(4, 12)[labels] * 3 + 0.8 * torch.randn(n, 12, generator=g)
    student = teacher + noise * torch.randn(n, 12, generator=g)
    return FeatureBank(np.arange(n), labels, teacher, student)


def test_gradient_consistency_is_small_for_aligned_features_and_large_otherwise():
    head = nn.Linear(12, 4)
    aligned, far = bank(40, 0, 0.01), bank(40, 0, 3.0)
    labels = torch.from_numpy(aligned.labels)
    (close, close_cos) = gradient_consistency(head, aligned.student, aligned.teacher, labels)
    (apart, apart_cos) = gradient_consistency(head, far.student, far.teacher, labels)
    assert close < 0.05 < apart
    assert close_cos > 0.99 > apart_cos
    assert gradient_consistency(head, aligned.teacher, aligned.teacher, labels) == (0.0, pytest.approx(1.0))


def test_schedule_draws_new_samples_per_class_without_repeats_until_exhausted():
    labels = np.arange(40) % 4
    schedule = update_schedule(labels, 4, UpdateConfig(cycles=5, new_per_class=3), seed=0)
    assert all(len(s) == 12 and np.bincount(labels[s], minlength=4).tolist() == [3] * 4 for s in schedule)
    first_three = np.concatenate(schedule[:3])
    assert len(np.unique(first_three)) == 36
    assert [s.tolist() for s in schedule] == [s.tolist() for s in update_schedule(labels, 4, UpdateConfig(cycles=5, new_per_class=3), seed=0)]


def test_update_cycles_swap_heads_into_the_cloud_and_never_lower_its_validation_accuracy(tmp_path):
    updates, validation, test = bank(120, 1, 0.05), bank(40, 2, 0.05), bank(200, 3, 0.05)
    torch.manual_seed(0)
    cloud_head = nn.Linear(12, 4)
    registry = HeadRegistry(tmp_path / "heads", NAMES, PROMPTS, tolerance=0.0)
    config = UpdateConfig(cycles=6, new_per_class=3, epochs=10, lr=0.05, batch_size=16, tolerance=0.0)
    seen = []
    run = run_updates(cloud_head, registry, updates, validation, test, config, seed=0, backbones={"cloud": "t", "edge": "s"}, progress=seen.append)
    assert len(run.cycles) == 6 == len(seen)
    accepted = [c for c in run.cycles if c.accepted]
    assert accepted and run.cycles[-1].teacher_accuracy > run.initial_teacher_accuracy
    history = registry.history()
    assert history[0]["status"] == "initial" and len(history) == 1 + len(accepted)
    validation_scores = [h["validation_after"] for h in history[1:]]
    assert validation_scores == sorted(validation_scores)
    for cycle in run.cycles:
        assert abs(cycle.teacher_accuracy - cycle.student_accuracy) < 0.05
        assert cycle.gradient_consistency < 0.2
