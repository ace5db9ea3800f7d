"""Dynamic synergistic prompt fusion over all C class descriptions and the gated fusion unit (§3.2.1, eq. 6-7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassTextBank(nn.Module):
    """Word embeddings T_c of every class prompt from the frozen embedding layer f_t, padded to one length."""

    def __init__(self, tokenizer, embeddings: nn.Embedding, prompts: list[str]) -> None:
        super().__init__()
        ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        if any(len(i) == 0 for i in ids):
            raise ValueError(f"a class prompt tokenises to nothing: {prompts}")
        longest = max(len(i) for i in ids)
        padded = torch.zeros(len(ids), longest, dtype=torch.long)
        mask = torch.zeros(len(ids), longest, dtype=torch.bool)
        for row, tokens in enumerate(ids):
            padded[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = True
        with torch.no_grad():
            tokens = embeddings(padded) * mask[..., None]
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    @property
    def n_classes(self) -> int:
        return int(self.tokens.shape[0])

    def mean_features(self) -> torch.Tensor:
        """Average-pooled text features of each class, (C, D), not normalised."""
        return self.tokens.sum(1) / self.mask.sum(1, keepdim=True)

    def global_features(self) -> torch.Tensor:
        """t_g,c: average pooled, L2-normalised, (C, D)."""
        return F.normalize(self.mean_features(), dim=-1)


def fusion_weights(v_global: torch.Tensor, t_global: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """w_c = softmax_c(sim(v_g, t_g,c) / temperature), eq. 6 (the paper's temperature is 1)."""
    similarity = F.normalize(v_global, dim=-1) @ F.normalize(t_global, dim=-1).T
    return torch.softmax(similarity / temperature, dim=-1)


class GatedFusionUnit(nn.Module):
    """h_fused = z * tanh(W_v v_g) + (1 - z) * tanh(W_t t_g,mix), z = sigmoid(W_z [v_g; t_g,mix])."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.visual = nn.Linear(hidden_size, hidden_size)
        self.text = nn.Linear(hidden_size, hidden_size)
        self.gate = nn.Linear(2 * hidden_size, hidden_size)

    def forward(self, v_global: torch.Tensor, t_global: torch.Tensor) -> torch.Tensor:
        z = torch.sigmoid(self.gate(torch.cat([v_global, t_global], dim=-1)))
        return z * torch.tanh(self.visual(v_global)) + (1 - z) * torch.tanh(self.text(t_global))


class PromptFusion(nn.Module):
    """v_g against all C class texts -> weights w (eq. 6) -> T_mix (eq. 7) -> gated fusion with v_g -> h_fused."""

    def __init__(self, bank: ClassTextBank, hidden_size: int, use_all_classes: bool = True) -> None:
        super().__init__()
        self.bank = bank
        self.gfu = GatedFusionUnit(hidden_size)
        self.use_all_classes = use_all_classes
        if not use_all_classes:
            self.single_text = nn.Parameter(bank.mean_features().mean(0).clone())

    def forward(self, v_global: torch.Tensor, temperature: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        if self.use_all_classes:
            weights = fusion_weights(v_global, self.bank.global_features(), temperature)
            t_mix = weights @ self.bank.mean_features()
        else:
            weights = torch.full((v_global.shape[0], self.bank.n_classes), 1.0 / self.bank.n_classes, device=v_global.device)
            t_mix = self.single_text.expand(v_global.shape[0], -1)
        return self.gfu(v_global, t_mix), weights
