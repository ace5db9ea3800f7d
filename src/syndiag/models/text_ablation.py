"""The language model's contribution, measured (issue 17): class texts built from random token embeddings instead of
the language model's learned ones. Token identity (and so the composition of words into a description) is kept; what
the language model learned about the words is removed."""

from __future__ import annotations

import torch
from torch import nn


def random_token_embeddings(embeddings: nn.Embedding, seed: int) -> nn.Embedding:
    """An embedding table of the same shape whose rows are Gaussian with the real table's RMS, drawn from ``seed``."""
    weight = embeddings.weight.detach()
    generator = torch.Generator().manual_seed(int(seed) + 90_210)
    rms = float(weight.float().pow(2).mean().sqrt())
    table = nn.Embedding(weight.shape[0], weight.shape[1])
    with torch.no_grad():
        table.weight.copy_(torch.randn(weight.shape, generator=generator) * rms)
    table.requires_grad_(False)
    return table
