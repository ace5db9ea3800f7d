"""Visual feature extractor f_v: a CNN from a 224x224x3 spectrogram to N_v tokens projected by W_p (§3.1.1, eq. 1)."""

from __future__ import annotations

import torch
from torch import nn

IMAGE_MEAN = 0.5
IMAGE_STD = 0.25


def conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(8, c_out // 4), c_out),
        nn.GELU(),
    )


class VisualExtractor(nn.Module):
    """Patchify stem, then stride-2 stages: feature map widths[-1] x 7 x 7 for 224 px (stem 4, 4 widths) -> grid^2 tokens -> linear projection W_p to D_llm.

    GroupNorm rather than BatchNorm: few-shot batches hold 4 images and inference runs one at a time.
    """

    def __init__(self, hidden_size: int, widths: list[int], grid: int = 7, channels: int = 3, stem_stride: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], stem_stride, stride=stem_stride), nn.GroupNorm(min(8, widths[0] // 4), widths[0]), nn.GELU()]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [conv_block(c_in, c_out, 2), conv_block(c_out, c_out, 1)]
        self.cnn = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.projection = nn.Linear(widths[-1], hidden_size)
        self.n_tokens = grid * grid

    @staticmethod
    def normalise(images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) or float (B, 3, H, W) in [0, 1] -> normalised float (B, 3, H, W)."""
        if images.dtype == torch.uint8:
            images = images.permute(0, 3, 1, 2).float() / 255.0
        return (images - IMAGE_MEAN) / IMAGE_STD

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.projection.weight.device)
        return self.pool(self.cnn(self.normalise(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """V_proj = V W_p, shape (B, N_v, D_llm)."""
        tokens = self.feature_map(images).flatten(2).transpose(1, 2)
        return self.projection(tokens)
