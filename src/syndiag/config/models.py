"""Model configurations: the cloud model (§3.1-3.3, §4.2), the edge student (§3.4) and the image baselines (§5.2)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel


class LanguageModelConfig(StrictModel):
    """What the cloud and the edge model share: a frozen language model with prompts and LoRA on it."""

    backbone: str = Field("smollm2-135m", description="packaged default, local folder or Hugging Face hub id")
    num_layers: int | None = Field(None, ge=1, description="keep only the first layers of the backbone (None: all)")
    allow_download: bool = Field(False, description="let transformers fetch a hub id (never in this project's CI)")
    input_prompts: int = Field(4, ge=0, description="L_in, learnable input-layer prompts")
    deep_prompts: int = Field(4, ge=0, description="L_deep, learnable prompts replaced at each deep-prompt layer")
    deep_prompt_every: int = Field(5, ge=1, description="deep prompts at layers 0, every, 2*every, ...")
    lora_r: int = Field(16, ge=0, description="LoRA rank (0: no LoRA)")
    lora_alpha: float = 32.0
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)

    def deep_prompt_layers(self, n_layers: int) -> list[int]:
        return list(range(0, n_layers, self.deep_prompt_every)) if self.deep_prompts else []


class CloudConfig(LanguageModelConfig):
    """Everything that decides the shape of a cloud model; saved beside its weights."""

    image_channels: int = 3
    extractor_widths: list[int] = Field(default_factory=lambda: [32, 64, 128, 256], min_length=2)
    extractor_stem: int = Field(4, ge=1, le=16, description="stride of the patchify stem; each later width halves the map")
    visual_grid: int = Field(7, ge=1, le=7, description="visual tokens = grid x grid (paper: 7 -> 49)")
    lora_targets: list[str] | None = Field(None, description="module names for LoRA; None: the backbone's attention projections")
    fusion_temperature: float | None = Field(
        None, gt=0, description="softmax temperature of eq. 6; None: the temperature learned in alignment pretraining"
    )
    use_prompt_fusion: bool = Field(True, description="False: a single learned text slot instead of eq. 6-7 (ablation)")

    @model_validator(mode="after")
    def _widths(self) -> "CloudConfig":
        if any(w < 8 for w in self.extractor_widths):
            raise ValueError(f"extractor_widths must be at least 8 each, got {self.extractor_widths}")
        return self


class EdgeConfig(LanguageModelConfig):
    """The student's own parts: a smaller backbone, its prompts and a lower LoRA rank."""

    backbone: str = Field("minilm-l6", description="packaged default, local folder or Hugging Face hub id")
    lora_r: int = Field(8, ge=0, description="LoRA rank (0: no LoRA)")
    lora_alpha: float = 16.0


class ImageBaselineConfig(StrictModel):
    """A supervised image classifier on the spectrograms (§5.2): a small CNN, ResNet-50 or ViT-B/16, randomly initialised."""

    name: Literal["cnn", "resnet50", "vit"]
    image_size: int = Field(224, ge=8, description="input images of another size are resized to this (bilinear, antialiased)")
    cnn_widths: list[int] = Field(default_factory=lambda: [32, 64, 128, 256], min_length=1, description="one stride-2 block per width")
    resnet_depths: list[int] = Field(default_factory=lambda: [3, 4, 6, 3], min_length=1, description="bottleneck layers per stage")
    resnet_hidden_sizes: list[int] = Field(default_factory=lambda: [256, 512, 1024, 2048], min_length=1)
    resnet_embedding_size: int = Field(64, ge=1)
    vit_patch_size: int = Field(16, ge=1)
    vit_hidden_size: int = Field(768, ge=1)
    vit_layers: int = Field(12, ge=1)
    vit_heads: int = Field(12, ge=1)
    vit_intermediate_size: int = Field(3072, ge=1)

    @model_validator(mode="after")
    def _shapes(self) -> "ImageBaselineConfig":
        if any(w < 8 for w in self.cnn_widths):
            raise ValueError(f"cnn_widths must be at least 8 each, got {self.cnn_widths}")
        if len(self.resnet_depths) != len(self.resnet_hidden_sizes):
            raise ValueError(f"resnet_depths {self.resnet_depths} and resnet_hidden_sizes {self.resnet_hidden_sizes} must have the same length")
        if self.vit_hidden_size % self.vit_heads:
            raise ValueError(f"vit_hidden_size {self.vit_hidden_size} must be divisible by vit_heads {self.vit_heads}")
        if self.image_size % self.vit_patch_size:
            raise ValueError(f"image_size {self.image_size} must be divisible by vit_patch_size {self.vit_patch_size}")
        return self
