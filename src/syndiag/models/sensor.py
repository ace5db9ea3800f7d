"""The sensor model (LLaVA-for-Sensors article, 'Architecture Design'): time-series encoder + fusion adapter on a frozen LM, with heads.

Sequence for a decoder: [slots for deep prompts; P_in; soft tokens; fusion token]; the fusion token goes last so
its causal attention reads every soft token (as in ``models/cloud.py``). For an encoder: [slots; P_in; fusion; soft].
``h`` = the LM's final hidden state at the fusion position; the heads (``models/sensor_heads.py``) read ``h``.
Trained: the encoder, the image encoder, the adapter, the prompts and fusion token, optional LoRA, the heads.
Frozen: the language model and (unless ``train_extractor``) the spectrogram extractor, a copy of the one passed in.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from syndiag.config.sensor import ChannelSpec, SensorModelConfig
from syndiag.errors import ConfigError
from syndiag.models.backbones import Backbone, load_backbone
from syndiag.models.checkpoint import (
    CONFIG,
    load_trained,
    read_checkpoint_meta,
    write_checkpoint,
)
from syndiag.models.cloud import claim_backbone, rms_to
from syndiag.models.deep_prompts import DeepPrompts
from syndiag.models.device import autocast
from syndiag.models.fusion_adapter import (
    IMAGE_CHANNEL,
    SPECTROGRAM_CHANNEL,
    FusionAdapter,
)
from syndiag.models.prompt_fusion import ClassTextBank
from syndiag.models.sensor_heads import (
    SensorBatch,
    SensorOutput,
    build_heads,
    check_severity_range,
    normalise_severity,
    severity_outputs,
)
from syndiag.models.spectral_head import SpectralHead
from syndiag.models.timeseries_encoder import TimeSeriesEncoder, check_layout
from syndiag.models.visual_extractor import VisualExtractor

__all__ = ["SensorBatch", "SensorModel", "SensorOutput", "extractor_shape", "layout_mismatch"]

KIND = "syndiag-sensor"


def extractor_shape(extractor: VisualExtractor) -> dict:
    """The constructor arguments of a :class:`VisualExtractor`, read off its layers (recorded in checkpoints)."""
    stem = extractor.cnn[0]
    widths = [stem.out_channels] + [m[0].out_channels for m in extractor.cnn if isinstance(m, nn.Sequential) and m[0].stride[0] == 2]
    grid = extractor.pool.output_size
    return {"hidden_size": extractor.projection.out_features, "widths": widths, "grid": grid if isinstance(grid, int) else grid[0],
            "channels": stem.in_channels, "stem_stride": stem.kernel_size[0]}


def layout_mismatch(expected: list[ChannelSpec], actual: list[ChannelSpec]) -> str | None:
    """None when two layouts are the same channels (name, kind, rate, length, order), else what differs."""
    if [s.model_dump() for s in expected] == [s.model_dump() for s in actual]:
        return None
    mine, theirs = {s.name: s for s in expected}, {s.name: s for s in actual}
    parts = []
    if missing := [n for n in mine if n not in theirs]:
        parts.append(f"missing {missing}")
    if extra := [n for n in theirs if n not in mine]:
        parts.append(f"not in the model {extra}")
    changed = [f"{n}: {mine[n].describe()} vs {theirs[n].describe()}" for n in mine if n in theirs and mine[n] != theirs[n]]
    if changed:
        parts.append("different " + "; ".join(changed))
    if not parts:
        parts.append(f"order {[s.name for s in actual]} instead of {[s.name for s in expected]}")
    return ", ".join(parts)


def reinitialise(lm: nn.Module, seed: int = 0) -> None:
    """The language model's weights drawn again from ``seed`` as its architecture initialises them (normal with the
    config's ``initializer_range`` for linear and embedding weights, zero biases, unit norms): no pretraining left."""
    std = float(getattr(getattr(lm, "config", None), "initializer_range", 0.02))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in lm.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
            elif not list(module.children()) and getattr(module, "weight", None) is not None and module.weight.dim() == 1:
                module.weight.fill_(1.0)


class SensorModel(nn.Module):
    """The sensor model (LLaVA-for-Sensors article, 'frozen large model + lightweight adapter'), heads on the fused token."""

    def __init__(self, config: SensorModelConfig, backbone: Backbone, layout: list[ChannelSpec], class_names: list[str], prompts: list[str],
                 severity_range: tuple[float, float] | None = None, extractor: VisualExtractor | None = None) -> None:
        super().__init__()
        if len(class_names) != len(prompts):
            raise ConfigError(f"{len(class_names)} class names but {len(prompts)} prompts")
        if config.use_spectrogram and extractor is None:
            raise ConfigError("use_spectrogram needs the visual extractor of a Syn-Diag checkpoint (extractor=...); "
                              "or set model.use_spectrogram: false")
        self.config = config
        self.layout = check_layout(layout)
        self.class_names, self.prompts = list(class_names), list(prompts)
        self.severity_range = check_severity_range(severity_range)
        self.backbone_name = backbone.name
        self.is_decoder = backbone.is_decoder
        if config.language_model == "random":
            reinitialise(backbone.model)
        hidden = self.hidden_size = backbone.hidden_size
        embeddings = backbone.word_embeddings()
        self.embed_rms = float(embeddings.weight.detach().pow(2).mean().sqrt())
        self.encoder = TimeSeriesEncoder(config.encoder, self.layout)
        width = self.encoder.out_dim
        self.extractor: VisualExtractor | None = None
        if config.use_spectrogram:
            self.extractor = copy.deepcopy(extractor)
            self.extractor.requires_grad_(config.train_extractor)
        self.image_encoder: VisualExtractor | None = None
        if config.use_images:
            images = config.image_encoder
            self.image_encoder = VisualExtractor(width, images.widths, images.grid, 3, images.stem)
        self.adapter = FusionAdapter(
            config.adapter, width, hidden,
            d_spectrogram=self.extractor.projection.out_features if self.extractor else None,
            n_spectrogram=self.extractor.n_tokens if self.extractor else 0,
            d_image=width if self.image_encoder else None, n_image=self.image_encoder.n_tokens if self.image_encoder else 0,
        )
        self.text_bank = ClassTextBank(backbone.tokenizer, embeddings, prompts)
        claim_backbone(backbone)
        self.learned_prompts = DeepPrompts(hidden, config.input_prompts, config.deep_prompts, config.deep_prompt_layers(backbone.n_layers), self.embed_rms)
        self.fusion_token = nn.Parameter(torch.randn(hidden) * self.embed_rms)
        self.lm = backbone.model
        if config.lora_r > 0:
            from peft import LoraConfig, get_peft_model  # defers peft: only a model with LoRA adapters needs it

            targets = config.lora_targets or list(backbone.lora_targets)
            self.lm = get_peft_model(backbone.model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                                                lora_dropout=config.lora_dropout, target_modules=targets))
        self.learned_prompts.attach(backbone.layers())
        self.spectral = SpectralHead(self.layout, len(class_names), config.spectral_segment) if config.spectral_path else None
        self.heads = build_heads(hidden, len(class_names), config.severity, self.spectral.width if self.spectral else 0)
        self.register_buffer("severity_sigma_scale", torch.tensor(1.0))

    @property
    def channel_names(self) -> list[str]:
        return [spec.name for spec in self.layout]

    @property
    def fusion_position(self) -> int:
        return -1 if self.is_decoder else self.learned_prompts.n_slots + self.learned_prompts.n_input

    def normalise_severity(self, values):
        """Severity in its unit -> [0, 1] over the model's ``severity_range`` (numpy or torch; NaN stays NaN)."""
        return normalise_severity(values, self.severity_range)

    def calibrate_severity(self, sigma_scale: float) -> None:
        """Multiply every reported severity sigma by ``sigma_scale`` (fitted on held-out windows); saved with the model."""
        if not sigma_scale > 0:
            raise ConfigError(f"sigma_scale must be positive, got {sigma_scale}")
        self.severity_sigma_scale.fill_(float(sigma_scale))

    def check_layout(self, layout: list[ChannelSpec], source: str = "the data") -> None:
        """ConfigError naming the channels when ``layout`` is not the model's."""
        problem = layout_mismatch(self.layout, check_layout(layout))
        if problem:
            mine = ", ".join(s.describe() for s in self.layout)
            raise ConfigError(f"{source} has another channel layout than the sensor model ({mine}): {problem}")

    def _modality(self, module: nn.Module | None, images: torch.Tensor | None, present: torch.Tensor | None, frozen: bool):
        if module is None or images is None:
            return None, None
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            tokens = module(images)
        return tokens, present

    def soft_tokens(self, batch: SensorBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The adapter's soft tokens (B, Q, hidden), its attention (B, heads, Q, T), the keys' mask, channel, time and frequency."""
        device = self.fusion_token.device
        series, mask, channel, time_s = self.encoder(batch.signals, batch.present.to(device))
        spectrogram, spectrogram_mask = self._modality(self.extractor, batch.spectrograms, batch.spectrogram_present, not self.config.train_extractor)
        images, image_mask = self._modality(self.image_encoder, batch.images, batch.image_present, False)
        soft, key_mask, attention = self.adapter(series, mask, spectrogram, spectrogram_mask, images, image_mask)
        channels, times, freqs = [channel], [time_s], [self.encoder.token_freq_hz]
        for tokens, code in ((spectrogram, SPECTROGRAM_CHANNEL), (images, IMAGE_CHANNEL)):
            if tokens is not None:
                channels.append(torch.full((tokens.shape[1],), code, dtype=torch.long, device=device))
                times.append(torch.full((tokens.shape[1],), float("nan"), device=device))
                freqs.append(times[-1])
        return soft, attention, key_mask, torch.cat(channels), torch.cat(times), torch.cat(freqs)

    def sequence(self, soft: torch.Tensor) -> torch.Tensor:
        batch = soft.shape[0]
        slots = soft.new_zeros(batch, self.learned_prompts.n_slots, soft.shape[-1])
        p_in = self.learned_prompts.input.expand(batch, -1, -1)
        tokens = rms_to(soft, self.embed_rms)
        fusion = rms_to(self.fusion_token, self.embed_rms).expand(batch, 1, -1)
        parts = [slots, p_in, tokens, fusion] if self.is_decoder else [slots, p_in, fusion, tokens]
        return torch.cat(parts, dim=1)

    def fuse(self, soft: torch.Tensor) -> torch.Tensor:
        """h: the LM's final hidden state at the fusion position, (B, hidden); without a language model, the soft tokens' mean."""
        if self.config.language_model == "none":
            return rms_to(soft, self.embed_rms).mean(1)
        embeds = self.sequence(soft)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        with autocast(self):
            hidden = self.lm(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return hidden.float()[:, self.fusion_position]

    def forward(self, batch: SensorBatch) -> SensorOutput:
        """Fault logits and severity from every present channel, spectrogram and image of the batch."""
        soft, attention, key_mask, channel, time_s, freq_hz = self.soft_tokens(batch)
        fused = self.fuse(soft)
        if self.spectral is None:
            head_logits = logits = self.heads["fault"](fused)
        else:
            z = self.spectral(batch.signals, batch.present)
            head_logits = self.heads["fault"](torch.cat([fused, z.to(fused.dtype)], dim=-1))
            logits = self.spectral.combine(head_logits, z)
        mean = std = raw = None
        if "severity" in self.heads:
            raw = self.heads["severity"](fused)
            mean, std = severity_outputs(raw, self.severity_range, self.severity_sigma_scale)
        return SensorOutput(logits=logits, head_logits=head_logits, severity_mean=mean, severity_std=std, severity_raw=raw, fused=fused, pooled=soft.mean(1),
                            attention=attention, token_channel=channel, token_time_s=time_s, token_freq_hz=freq_hz,
                            key_mask=key_mask)

    def parameter_counts(self) -> dict[str, int]:
        """``adapter_and_heads``: every trained parameter (encoder, adapter, prompts, LoRA, heads); ``frozen_lm``: the
        language model's own; ``frozen_extractor``: the spectrogram extractor's when it stays frozen."""
        trained = sum(p.numel() for p in self.parameters() if p.requires_grad)
        frozen_lm = sum(p.numel() for n, p in self.lm.named_parameters() if "lora_" not in n)
        frozen_extractor = 0 if self.extractor is None or self.config.train_extractor else sum(p.numel() for p in self.extractor.parameters())
        return {"adapter_and_heads": trained, "frozen_lm": frozen_lm, "frozen_extractor": frozen_extractor}

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Everything but the language model's own weights (LoRA included; the spectrogram extractor too, frozen or not)."""
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("lm.") or "lora_" in k}
        return {k: v.detach().contiguous().clone() for k, v in state.items()}

    def description(self) -> dict:
        """What the model records of itself (config, layout, classes, prompts, severity range, extractor shape, backbone):
        the body of its config.json, and of the description of its Predictor in memory."""
        return {"model": KIND, "config": self.config.model_dump(mode="json"), "layout": [s.model_dump(mode="json") for s in self.layout],
                "class_names": list(self.class_names), "prompts": list(self.prompts), "severity_range": list(self.severity_range),
                "extractor": extractor_shape(self.extractor) if self.extractor is not None else None, "backbone": self.backbone_name}

    def save_pretrained(self, folder: str | Path, extra: dict | None = None) -> Path:
        """config.json (its :meth:`description` and ``extra``) + safetensors of the trained parts."""
        return write_checkpoint(folder, self.trainable_state(), KIND, {**self.description(), **(extra or {})})

    @classmethod
    def from_pretrained(cls, folder: str | Path, backbone: Backbone | None = None, layout: list[ChannelSpec] | None = None,
                        meta: dict | None = None) -> SensorModel:
        """Load a saved sensor model; ``layout`` (the data's channels), when given, must be the checkpoint's (ConfigError naming them)."""
        folder = Path(folder)
        meta = read_checkpoint_meta(folder, KIND, meta)
        source = str(folder / CONFIG)
        saved_config = dict(meta["config"])
        encoder = dict(saved_config.get("encoder") or {})
        encoder.setdefault("spectrum_tokens", 0)  # saved before frequency tokens existed: the model had none
        saved_config["encoder"] = encoder
        config = SensorModelConfig.from_dict(saved_config, source=source)
        saved = [ChannelSpec.from_dict(spec, source=source) for spec in meta.get("layout") or []]
        if layout is not None and (problem := layout_mismatch(saved, check_layout(layout))):
            raise ConfigError(f"{folder}: the checkpoint's channels are {', '.join(s.describe() for s in saved)}; "
                              f"the data's differ: {problem}")
        backbone = backbone or load_backbone(config.backbone, config.allow_download, config.num_layers)
        extractor = None
        if meta.get("extractor"):
            shape = meta["extractor"]
            extractor = VisualExtractor(shape["hidden_size"], shape["widths"], shape["grid"], shape["channels"], shape["stem_stride"])
        model = cls(config, backbone, saved, meta["class_names"], meta["prompts"], tuple(meta["severity_range"]), extractor)
        load_trained(model, folder, meta)
        model.checkpoint_meta = meta
        return model
