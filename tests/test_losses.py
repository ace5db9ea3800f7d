import math

import pytest
import torch

from syndiag.training.losses import (
    alignment_loss,
    contrastive_direction,
    distillation_loss,
    global_contrastive_loss,
    hard_negative_logits,
    local_max_similarity_loss,
    margin_schedule,
)


def test_margin_rises_from_0_1_to_0_7_along_a_cosine():
    assert margin_schedule(0.0) == pytest.approx(0.1)
    assert margin_schedule(0.5) == pytest.approx(0.4)
    assert margin_schedule(1.0) == pytest.approx(0.7)
    assert margin_schedule(0.25) == pytest.approx(0.1 + 0.6 * (1 - math.cos(math.pi / 4)) / 2)
    assert margin_schedule(0.1) < margin_schedule(0.2) < margin_schedule(0.9)


def test_infonce_without_margin_matches_hand_computation():
    similarity = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    loss = contrastive_direction(similarity, torch.tensor([0, 1]), torch.tensor(10.0), margin=0.0)
    expected = (math.log(1 + math.exp(-8.0)) + math.log(1 + math.exp(-6.0))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_easy_negatives_lose_the_margin_and_hard_ones_keep_their_score():
    similarity = torch.tensor([[0.9, 0.5, 0.1], [0.3, 0.8, 0.2], [0.0, 0.4, 0.7]])
    negatives = ~torch.eye(3, dtype=torch.bool)
    shifted = hard_negative_logits(similarity, negatives, margin=0.2)
    assert shifted[0].tolist() == pytest.approx([0.9, 0.5, -0.1])
    assert shifted[1].tolist() == pytest.approx([0.3, 0.8, 0.2])
    assert shifted[2].tolist() == pytest.approx([-0.2, 0.4, 0.7])
    loss = contrastive_direction(similarity, torch.tensor([0, 1, 2]), torch.tensor(1.0), margin=0.2)
    rows = [(0.9, [0.5, -0.1]), (0.8, [0.3, 0.2]), (0.7, [-0.2, 0.4])]
    expected = sum(-p + math.log(math.exp(p) + sum(math.exp(n) for n in ns)) for p, ns in rows) / 3
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_same_class_samples_are_not_negatives_of_each_other():
    similarity = torch.tensor([[0.9, 0.95, 0.1], [0.95, 0.9, 0.1], [0.1, 0.1, 0.9]])
    loss = contrastive_direction(similarity, torch.tensor([0, 0, 1]), torch.tensor(5.0), margin=0.0)
    expected = (2 * math.log(1 + math.exp(5 * (0.1 - 0.9))) + math.log(1 + 2 * math.exp(5 * (0.1 - 0.9)))) / 3
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    all_same = contrastive_direction(similarity, torch.tensor([0, 0, 0]), torch.tensor(5.0), margin=0.0)
    assert float(all_same) == pytest.approx(0.0, abs=1e-6)


def test_global_loss_is_symmetric_in_images_and_texts():
    torch.manual_seed(0)
    v, t, labels = torch.randn(6, 8), torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 3, 4])
    a = global_contrastive_loss(v, t, labels, torch.tensor(7.0), 0.3)
    b = global_contrastive_loss(t, v, labels, torch.tensor(7.0), 0.3)
    assert float(a) == pytest.approx(float(b), rel=1e-6)


def test_local_max_similarity_matches_hand_computation_and_ignores_padding():
    visual = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    text = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    expected = -0.5 * ((1 + 1 / math.sqrt(2)) / 2 + (1 + 1 / math.sqrt(2)) / 2)
    assert float(local_max_similarity_loss(visual, text, mask)) == pytest.approx(expected, rel=1e-6)


def test_alignment_loss_adds_alpha_times_local():
    torch.manual_seed(1)
    visual, text = torch.randn(4, 5, 8), torch.randn(4, 3, 8)
    mask = torch.ones(4, 3, dtype=torch.bool)
    labels = torch.tensor([0, 1, 2, 3])
    total, parts = alignment_loss(visual, text, mask, labels, torch.tensor(10.0), 0.2, alpha=0.5)
    assert float(total) == pytest.approx(parts["global"] + 0.5 * parts["local"], rel=1e-5)


def test_distillation_is_mean_squared_error():
    assert float(distillation_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]]))) == pytest.approx(2.5)
