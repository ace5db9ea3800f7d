"""Configuration of the Syn-Diag cloud model: backbone, visual tokens, prompts, LoRA (§3.1-3.3, §4.2)."""

from __future__ import annotations

from pydantic import Field, model_validator

from syndiag.config import StrictModel


class CloudConfig(StrictModel):
    """Everything that decides the shape of a cloud model; saved beside its weights."""

    backbone: str = Field("smollm2-135m", description="packaged default, local folder or Hugging Face hub id")
    num_layers: int | None = Field(None, ge=1, description="keep only the first layers of the backbone (None: all)")
    allow_download: bool = Field(False, description="let transformers fetch a hub id (never in this project's CI)")
    image_channels: int = 3
    extractor_widths: list[int] = Field(default_factory=lambda: [32, 64, 128, 256], min_length=2)
    extractor_stem: int = Field(4, ge=1, le=16, description="stride of the patchify stem; each later width halves the map")
    visual_grid: int = Field(7, ge=1, le=7, description="visual tokens = grid x grid (paper: 7 -> 49)")
    input_prompts: int = Field(4, ge=0, description="L_in, learnable input-layer prompts")
    deep_prompts: int = Field(4, ge=0, description="L_deep, learnable prompts replaced at each deep-prompt layer")
    deep_prompt_every: int = Field(5, ge=1, description="deep prompts at layers 0, every, 2*every, ...")
    lora_r: int = Field(16, ge=0, description="LoRA rank (0: no LoRA)")
    lora_alpha: float = 32.0
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
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

    def deep_prompt_layers(self, n_layers: int) -> list[int]:
        return list(range(0, n_layers, self.deep_prompt_every)) if self.deep_prompts else []
