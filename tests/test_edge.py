from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from test_cloud import NAMES, PROMPTS, images, tiny_config
from tiny import tiny_backbone

from syndiag.config import DistillConfig, EdgeConfig
from syndiag.data.fewshot import few_shot_task
from syndiag.data.windowing import POOL
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.edge import SynDiagEdge
from syndiag.training.distill import TeacherTargets, distill, distillation_windows


def pair(teacher_kind: str, student_kind: str, teacher_dim: int = 32, student_dim: int = 16):
    teacher = SynDiagCloud(tiny_config(), tiny_backbone(teacher_kind, hidden=teacher_dim), NAMES, PROMPTS).eval()
    student = SynDiagEdge(EdgeConfig(backbone="tiny", lora_r=2, input_prompts=2, deep_prompts=2, deep_prompt_every=1),
                          teacher, tiny_backbone(student_kind, hidden=student_dim, layers=2, seed=5))
    return teacher, student


@pytest.mark.parametrize("teacher_kind,student_kind", [("decoder", "encoder"), ("encoder", "decoder")])
def test_reverse_adapters_bridge_teacher_and_student_sizes(teacher_kind, student_kind):
    teacher, student = pair(teacher_kind, student_kind)
    assert (student.visual_adapter.in_features, student.visual_adapter.out_features) == (32, 16)
    assert student.gate_in_visual.out_features == student.gate_in_text.out_features == 32
    assert (student.gate_out.in_features, student.gate_out.out_features) == (32, 16)
    assert (student.main_adapter.in_features, student.main_adapter.out_features) == (16, 32)
    student.eval()
    x = images()
    assert student.features(x).shape == teacher.features(x).shape == (3, 32)
    assert student(x).shape == (3, 3)


def test_the_head_is_one_tensor_shared_by_teacher_and_student():
    teacher, student = pair("decoder", "encoder")
    assert student.head is teacher.head
    with torch.no_grad():
        student.head.weight.add_(1.0)
    assert torch.equal(student.head.weight, teacher.head.weight)
    assert student.head.weight.data_ptr() == teacher.head.weight.data_ptr()


def test_teacher_parts_stay_frozen_and_distillation_lowers_the_mse():
    teacher, student = pair("decoder", "encoder")
    x = images(8, seed=3)
    with torch.no_grad():
        tokens = teacher.visual_tokens(x)
        features = teacher.head_input(tokens)
    frozen = {k: v.clone() for k, v in teacher.state_dict().items()}
    targets = TeacherTargets(np.arange(8), tokens, features)
    student.eval()
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(student.features_from_tokens(tokens), features).item()
    result = distill(student, targets, DistillConfig(epochs=30, lr=3e-3, batch_size=4), seed=0)
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(student.features_from_tokens(tokens), features).item()
    assert after < 0.5 * before and result.losses[-1] < result.losses[0]
    assert all(torch.equal(frozen[k], v) for k, v in teacher.state_dict().items())


@dataclass
class Index:
    labels: np.ndarray
    conditions: np.ndarray
    split: np.ndarray
    class_names: list[str] = field(default_factory=lambda: ["a", "b"])
    condition_names: list[str] = field(default_factory=lambda: ["c0", "c1"])


def test_distillation_windows_come_from_the_train_pool_only():
    n = 40
    index = Index(np.tile(np.repeat([0, 1], 10), 2), np.repeat([0, 1], 20), np.tile(np.r_[np.zeros(5), np.ones(5)].astype(int), 4))
    task = few_shot_task(index, 2, 0, "c1")
    chosen = distillation_windows(index, task, per_class=2, seed=0)
    assert set(task.train) <= set(chosen) and len(chosen) == 4 + 4
    assert (index.split[chosen] == POOL).all() and (index.conditions[chosen] == 1).all()
    assert not set(chosen) & set(task.test)
    assert n == len(index.labels)


def test_edge_checkpoint_round_trip(tmp_path):
    teacher, student = pair("decoder", "encoder")
    teacher_dir = teacher.save_pretrained(tmp_path / "teacher")
    with torch.no_grad():
        student.visual_adapter.weight.add_(0.1)
        student.head.bias.add_(0.5)
    student.eval()
    folder = student.save_pretrained(tmp_path / "edge", teacher_dir)
    state = student.trainable_state()
    assert "head.weight" in state and "visual_adapter.weight" in state and not any(k.startswith("teacher_parts.") for k in state)
    restored = SynDiagEdge.from_pretrained(folder, backbone=tiny_backbone("encoder", hidden=16, layers=2, seed=5)).eval()
    assert not any(type(m).__name__ == "LlamaModel" for m in restored.modules())
    x = images()
    assert torch.equal(student(x), restored(x))
