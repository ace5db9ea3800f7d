"""Masked-token pretraining of the time-series encoder (issue 29 item 2): hide tokens of a window, rebuild their values.

A share of each window's present tokens is replaced by one learned mask embedding before the encoder's channel, kind
and time/frequency embeddings are added, so the transformer knows where a hidden token sits but not what it held; two
linear decoders rebuild a hidden patch's normalised samples and a hidden frequency token's log band powers. Each
kind's squared error is divided by the variance of its targets in the batch, so both weigh alike.
"""

from __future__ import annotations

import torch
from torch import nn

from syndiag.models.timeseries_encoder import TimeSeriesEncoder


class MaskedTokenPretrainer(nn.Module):
    """The encoder with a mask embedding and the decoders of its two token kinds; only ``encoder`` is kept afterwards."""

    def __init__(self, encoder: TimeSeriesEncoder, mask_ratio: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.mask_ratio = mask_ratio
        self.mask_embedding = nn.Parameter(torch.randn(encoder.config.d_model) * 0.02)
        self.patch_decoder = nn.Linear(encoder.out_dim, encoder.config.patch_len)
        self.spectrum_decoder = nn.Linear(encoder.out_dim, encoder.config.spectrum_bins) if encoder.spectrum is not None else None

    def hidden_tokens(self, mask: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(B, T) bool: the present tokens to hide, at least one per window that has a present token."""
        draw = torch.rand(mask.shape, generator=generator).to(mask.device)
        hidden = (draw < self.mask_ratio) & mask
        first = torch.where(mask, draw, torch.full_like(draw, 2.0)).argmin(1)
        lacking = ~hidden.any(1) & mask.any(1)
        hidden[lacking, first[lacking]] = True
        return hidden

    def loss(self, signals: dict[str, torch.Tensor], present: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        content, mask, raw = self.encoder.embed(signals, present)
        hidden = self.hidden_tokens(mask, generator)
        content = torch.where(hidden[..., None], self.mask_embedding.to(content.dtype), content)
        tokens = self.encoder.encode(content, mask)
        errors: dict[str, list[torch.Tensor]] = {"patch": [], "spectrum": []}
        targets: dict[str, list[torch.Tensor]] = {"patch": [], "spectrum": []}
        offset = 0
        for kind, values in raw:
            n = values.shape[1]
            decoder = self.patch_decoder if kind == "patch" else self.spectrum_decoder
            chosen = hidden[:, offset:offset + n]
            if chosen.any():
                predicted = decoder(tokens[:, offset:offset + n][chosen])
                errors[kind].append((predicted - values[chosen]).pow(2))
                targets[kind].append(values[chosen])
            offset += n
        parts = []
        for kind, rows in errors.items():
            if rows:
                target = torch.cat(targets[kind])
                parts.append(torch.cat(rows).mean() / target.var().detach().clamp_min(1e-6))
        return torch.stack(parts).mean()
