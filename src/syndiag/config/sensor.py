"""Sensor-model configuration (LLaVA-for-Sensors article): channel layout, time-series encoder, fusion adapter. Imports no torch."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel
from syndiag.config.models import LanguageModelConfig

ChannelKind = Literal["vibration", "temperature", "current", "speed", "other"]
CHANNEL_KINDS: tuple[str, ...] = get_args(ChannelKind)
"""Every channel kind, in the order of the encoder's kind embedding (append new kinds at the end)."""


class ChannelSpec(StrictModel):
    """One sensor channel of a window (article, 'Time alignment'): its kind, its own rate and its samples per window."""

    name: str = Field(min_length=1)
    kind: ChannelKind
    fs: float = Field(gt=0, description="sampling rate in Hz")
    length: int = Field(ge=1, description="samples per window; the window of every channel ends at the same instant")

    @property
    def seconds(self) -> float:
        """Time the channel's window spans."""
        return self.length / self.fs

    def describe(self) -> str:
        return f"{self.name} ({self.kind}, {self.fs:g} Hz, {self.length} samples)"


class TimeSeriesEncoderConfig(StrictModel):
    """Time-series encoder (LLaVA-for-Sensors article, 'Time-series encoder'): patches -> small transformer."""

    patch_len: int = Field(32, ge=1, description="samples per non-overlapping patch; a shorter channel is one padded patch")
    d_model: int = Field(64, ge=8, description="token width of the encoder and of the fusion adapter")
    layers: int = Field(2, ge=0, description="transformer layers over the tokens of every channel together")
    heads: int = Field(4, ge=1)
    ff_ratio: int = Field(2, ge=1, description="feed-forward width = ff_ratio x d_model")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    min_period_s: float = Field(1e-3, gt=0, description="shortest period of the sinusoidal time embedding, seconds")
    max_period_s: float = Field(100.0, gt=0, description="longest period of the sinusoidal time embedding, seconds")
    spectrum_tokens: int = Field(16, ge=0, description="frequency tokens per channel from its log power spectrum (0: none); "
                                 "channels shorter than 4 x spectrum_tokens samples get none")
    spectrum_bins: int = Field(16, ge=1, description="log-power values per frequency token (the spectrum is averaged onto "
                               "spectrum_tokens x spectrum_bins equal bands from 0 Hz to the channel's Nyquist frequency)")

    @model_validator(mode="after")
    def _shapes(self) -> "TimeSeriesEncoderConfig":
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (sine and cosine halves of the time embedding), got {self.d_model}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by heads {self.heads}")
        if self.min_period_s >= self.max_period_s:
            raise ValueError(f"min_period_s {self.min_period_s} must be below max_period_s {self.max_period_s}")
        return self


class FusionAdapterConfig(StrictModel):
    """Fusion adapter (LLaVA-for-Sensors article, 'Cross-modal attention'): learned queries -> soft tokens of the LM."""

    queries: int = Field(8, ge=1, description="learned queries = soft tokens given to the language model")
    heads: int = Field(4, ge=1, description="attention heads; must divide the encoder's d_model")
    layers: int = Field(1, ge=1, description="cross-attention blocks (the last one's weights are kept for plotting)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class ImageEncoderConfig(StrictModel):
    """The small CNN for camera/thermal images (article, 'thermal imaging'), trained with the adapter."""

    widths: list[int] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    stem: int = Field(8, ge=1, le=32, description="stride of the patchify stem")
    grid: int = Field(4, ge=1, le=8, description="image tokens = grid x grid")

    @model_validator(mode="after")
    def _widths(self) -> "ImageEncoderConfig":
        if any(w < 8 for w in self.widths):
            raise ValueError(f"widths must be at least 8 each, got {self.widths}")
        return self


class SensorModelConfig(LanguageModelConfig):
    """Everything that decides the shape of a sensor model (LLaVA-for-Sensors article); saved beside its weights."""

    lora_r: int = Field(0, ge=0, description="LoRA rank (0: the language model stays completely frozen)")
    lora_targets: list[str] | None = Field(None, description="module names for LoRA; None: the backbone's attention projections")
    encoder: TimeSeriesEncoderConfig = Field(default_factory=TimeSeriesEncoderConfig)
    adapter: FusionAdapterConfig = Field(default_factory=FusionAdapterConfig)
    image_encoder: ImageEncoderConfig = Field(default_factory=ImageEncoderConfig)
    use_spectrogram: bool = Field(True, description="spectrogram tokens from the aligned visual extractor of a Syn-Diag checkpoint")
    train_extractor: bool = Field(False, description="False: the spectrogram extractor stays frozen (the article trains only the adapter)")
    use_images: bool = Field(False, description="image tokens (thermal / camera) from the image encoder")
    severity: bool = Field(True, description="a Gaussian severity head beside the fault head")
    spectral_path: bool = Field(False, description="the discriminant spectrum path of the vibration channels: its features reach "
                                "the fault head beside the fused token, and its prototypes vote with the head (fitted on the "
                                "alignment pool and the support set, the mix chosen on the pool's other windows)")
    spectral_segment: int | None = Field(None, ge=16, description="Welch segments (samples at the slowest vibration channel's "
                                         "rate) the spectrum path averages a long window over (None: the whole window in one FFT)")
    language_model: Literal["pretrained", "random", "none"] = Field(
        "pretrained", description="the frozen language model as loaded, the same architecture re-initialised (seed 0), or none "
        "(the adapter's pooled soft tokens go straight to the heads): the ablation of what the language model adds")
    encoder_pretraining: Literal["none", "masked-tokens"] = Field(
        "none", description="masked-tokens: the time-series encoder starts from its self-supervised pretraining on every "
        "pool-half window of the data (the recipe's `ssl` section; `syndiag sensor ssl`), not from random weights")

    @model_validator(mode="after")
    def _heads(self) -> "SensorModelConfig":
        if self.encoder.d_model % self.adapter.heads:
            raise ValueError(f"adapter.heads {self.adapter.heads} must divide encoder.d_model {self.encoder.d_model}")
        return self
