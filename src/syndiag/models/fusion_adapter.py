"""Fusion adapter (LLaVA-for-Sensors article, 'Time-Series-Vision Fusion Adapter'): learned queries cross-attend to every modality.

The keys are the time-series tokens, the spectrogram tokens (the aligned visual extractor's, projected to the
adapter's width) and image tokens, each with a modality embedding; a key-padding mask removes absent channels and
modalities. ``queries`` learned vectors read them through ``layers`` blocks (cross-attention, self-attention among
the queries, feed-forward; pre-norm, residual) and leave as ``queries`` soft tokens of the language model's width,
whatever that width is. The last block's cross-attention weights are kept for plotting.
"""

from __future__ import annotations

import torch
from torch import nn

from syndiag.config.sensor import FusionAdapterConfig
from syndiag.errors import DataError

SPECTROGRAM_CHANNEL = -1
"""``token_channel`` of a spectrogram token (time-series tokens carry their channel's index)."""
IMAGE_CHANNEL = -2
"""``token_channel`` of an image token."""
MODALITIES = ("series", "spectrogram", "image")


class AdapterBlock(nn.Module):
    """Queries <- cross-attention to the keys, then self-attention among the queries, then a feed-forward layer."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.query_norm = nn.LayerNorm(width)
        self.key_norm = nn.LayerNorm(width)
        self.cross = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.self_norm = nn.LayerNorm(width)
        self.self_attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.ff_norm = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width))

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, ignore: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Q, W), (B, T, W), (B, T) True where a key is masked -> queries, attention (B, heads, Q, T)."""
        keys = self.key_norm(keys)
        read, attention = self.cross(self.query_norm(queries), keys, keys, key_padding_mask=ignore, need_weights=True, average_attn_weights=False)
        queries = queries + read
        normed = self.self_norm(queries)
        queries = queries + self.self_attention(normed, normed, normed, need_weights=False)[0]
        return queries + self.ff(self.ff_norm(queries)), attention


class FusionAdapter(nn.Module):
    """Fusion adapter (LLaVA-for-Sensors article, 'Cross-modal attention'): learned queries over all tokens -> soft tokens of width ``hidden``."""

    def __init__(self, config: FusionAdapterConfig, d_in: int, hidden: int, d_spectrogram: int | None = None, d_image: int | None = None,
                 n_spectrogram: int = 0, n_image: int = 0) -> None:
        """``d_in``: time-series token width (the adapter's width); ``hidden``: the LM's width; ``d_spectrogram`` / ``d_image``:
        widths of the spectrogram and image tokens (None: that modality is not used); ``n_*``: their token counts,
        for learned position embeddings."""
        super().__init__()
        self.config = config
        self.width, self.hidden = d_in, hidden
        self.queries = nn.Parameter(torch.randn(config.queries, d_in) * 0.02)
        self.modality = nn.Parameter(torch.zeros(len(MODALITIES), d_in))
        self.spectrogram_in = nn.Linear(d_spectrogram, d_in) if d_spectrogram else None
        self.spectrogram_position = nn.Parameter(torch.randn(n_spectrogram, d_in) * 0.02) if d_spectrogram and n_spectrogram else None
        self.image_in = nn.Linear(d_image, d_in) if d_image else None
        self.image_position = nn.Parameter(torch.randn(n_image, d_in) * 0.02) if d_image and n_image else None
        self.blocks = nn.ModuleList(AdapterBlock(d_in, config.heads, config.dropout) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d_in)
        self.output = nn.Linear(d_in, hidden)
        self.last_attention: torch.Tensor | None = None

    def _extra(self, tokens: torch.Tensor | None, mask: torch.Tensor | None, project: nn.Module | None, position: torch.Tensor | None,
               modality: int, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        if tokens is None:
            return None
        if project is None:
            raise ValueError(f"this adapter was built without {name} tokens")
        keys = project(tokens.float()) + self.modality[modality]
        if position is not None:
            if position.shape[0] != keys.shape[1]:
                raise ValueError(f"{keys.shape[1]} {name} tokens, the adapter was built for {position.shape[0]}")
            keys = keys + position
        if mask is None:
            mask = torch.ones(keys.shape[:2], dtype=torch.bool, device=keys.device)
        elif mask.ndim == 1:
            mask = mask[:, None].expand(-1, keys.shape[1])
        return keys, mask.to(device=keys.device, dtype=torch.bool)

    def forward(self, series: torch.Tensor, series_mask: torch.Tensor, spectrogram: torch.Tensor | None = None,
                spectrogram_mask: torch.Tensor | None = None, images: torch.Tensor | None = None,
                image_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, T_m, width_m) and masks (B, T_m) or (B,) (True: use it) of each modality ->
        soft tokens (B, Q, hidden), the keys' mask (B, T) and attention (B, heads, Q, T) over [series; spectrogram; image]."""
        parts = [(series + self.modality[0], series_mask.to(dtype=torch.bool))]
        for extra in (self._extra(spectrogram, spectrogram_mask, self.spectrogram_in, self.spectrogram_position, 1, "spectrogram"),
                      self._extra(images, image_mask, self.image_in, self.image_position, 2, "image")):
            if extra is not None:
                parts.append(extra)
        keys = torch.cat([p[0] for p in parts], dim=1)
        mask = torch.cat([p[1] for p in parts], dim=1)
        if not bool(mask.any(1).all()):
            empty = torch.nonzero(~mask.any(1)).flatten().tolist()
            raise DataError(f"windows {empty} of the batch have no token to attend to (no channel, spectrogram or image present)")
        ignore = ~mask
        queries = self.queries.expand(keys.shape[0], -1, -1)
        attention = keys.new_zeros(0)
        for block in self.blocks:
            queries, attention = block(queries, keys, ignore)
        self.last_attention = attention.detach()
        return self.output(self.norm(queries)), mask, attention
