"""Every training loss: multi-level alignment (§3.1.2, eq. 2-5) and feature distillation (§3.4.2, eq. 11)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def margin_schedule(progress: float, start: float = 0.1, end: float = 0.7) -> float:
    """m_dyn rising from ``start`` to ``end`` along a half cosine as training ``progress`` goes from 0 to 1."""
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * (1.0 - math.cos(math.pi * progress)) / 2.0


def hard_negative_logits(similarity: torch.Tensor, negatives: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 3: a negative more than ``margin`` below the row's hardest negative s*_i loses ``margin``.

    ``similarity`` (B, B) cosine similarities; ``negatives`` (B, B) bool, True where the pair is a negative.
    """
    hardest = similarity.masked_fill(~negatives, float("-inf")).max(dim=1, keepdim=True).values
    easy = negatives & (similarity < hardest - margin)
    return similarity - margin * easy.to(similarity.dtype)


def contrastive_direction(similarity: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor, margin: float) -> torch.Tensor:
    """One direction of eq. 2 with hard-negative mining, rows as anchors and the diagonal as positives.

    Two samples of one class share one text, so neither is a negative of the other: such off-diagonal
    pairs are dropped from the softmax denominator rather than pushed apart.
    """
    same_class = labels[:, None] == labels[None, :]
    negatives = ~same_class
    logits = hard_negative_logits(similarity, negatives, margin) * scale
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    logits = logits.masked_fill(same_class & ~eye, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(labels), device=labels.device))


def global_contrastive_loss(
    v_global: torch.Tensor, t_global: torch.Tensor, labels: torch.Tensor, scale: torch.Tensor, margin: float
) -> torch.Tensor:
    """L_global = (L_i2t + L_t2i) / 2 over a batch of image features and the text features of their classes."""
    v = F.normalize(v_global, dim=-1)
    t = F.normalize(t_global, dim=-1)
    similarity = v @ t.T
    return 0.5 * (contrastive_direction(similarity, labels, scale, margin) + contrastive_direction(similarity.T, labels, scale, margin))


def local_max_similarity_loss(visual: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Eq. 4: minus the mean of the best token match, visual -> text and text -> visual, averaged over the batch.

    ``visual`` (B, N_v, D), ``text`` (B, N_t, D) padded, ``text_mask`` (B, N_t) True on real tokens.
    """
    similarity = F.normalize(visual, dim=-1) @ F.normalize(text, dim=-1).transpose(1, 2)
    visual_to_text = similarity.masked_fill(~text_mask[:, None, :], float("-inf")).max(dim=2).values.mean(dim=1)
    text_to_visual = similarity.max(dim=1).values
    text_to_visual = (text_to_visual * text_mask).sum(1) / text_mask.sum(1)
    return -0.5 * (visual_to_text + text_to_visual).mean()


def alignment_loss(
    visual: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    labels: torch.Tensor,
    scale: torch.Tensor,
    margin: float,
    alpha: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """L_align = L_global + alpha L_local (eq. 5); global features are average pools of the token sequences."""
    v_global = visual.mean(1)
    t_global = (text * text_mask[..., None]).sum(1) / text_mask.sum(1, keepdim=True)
    l_global = global_contrastive_loss(v_global, t_global, labels, scale, margin)
    l_local = local_max_similarity_loss(visual, text, text_mask)
    total = l_global + alpha * l_local
    return total, {"global": l_global.item(), "local": l_local.item()}


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """L_distill = MSE(h'_S, h_T), eq. 11."""
    return F.mse_loss(student, teacher)
