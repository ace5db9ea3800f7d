"""Syn-Diag cloud model: visual tokens + prompt fusion + deep prompts through a LoRA-adapted frozen LM, head on the fusion token (§3.1-3.3, eq. 8)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from syndiag.config.models import CloudConfig
from syndiag.errors import ConfigError
from syndiag.models.backbones import Backbone, load_backbone
from syndiag.models.checkpoint import (
    CONFIG,
    load_trained,
    read_checkpoint_meta,
    write_checkpoint,
)
from syndiag.models.deep_prompts import DeepPrompts, keep_checkpoint_name
from syndiag.models.device import autocast
from syndiag.models.prompt_fusion import ClassTextBank, PromptFusion
from syndiag.models.visual_extractor import VisualExtractor


def rms_to(x: torch.Tensor, target: float) -> torch.Tensor:
    """Scale each token to the RMS of the backbone's word embeddings, so new tokens enter at its usual scale."""
    return x * (target / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt())


class SynDiagCloud(nn.Module):
    """The cloud model. Input order [slots for P_l; P_in; h_fused; V_proj] (paper) for an encoder.

    A causal decoder lets a position attend only to earlier ones, so with the paper's order the fusion token
    would never see the visual tokens; there it goes last, [slots; P_in; V_proj; h_fused], and its final
    hidden state still reads every visual token and prompt.
    """

    def __init__(self, config: CloudConfig, backbone: Backbone, class_names: list[str], prompts: list[str]) -> None:
        super().__init__()
        if len(class_names) != len(prompts):
            raise ConfigError(f"{len(class_names)} class names but {len(prompts)} prompts")
        claim_backbone(backbone)
        self.config = config
        self.class_names, self.prompts = list(class_names), list(prompts)
        self.backbone_name = backbone.name
        self.is_decoder = backbone.is_decoder
        hidden = backbone.hidden_size
        embeddings = backbone.word_embeddings()
        self.embed_rms = float(embeddings.weight.detach().pow(2).mean().sqrt())
        self.extractor = VisualExtractor(hidden, config.extractor_widths, config.visual_grid, config.image_channels, config.extractor_stem)
        self.fusion = PromptFusion(ClassTextBank(backbone.tokenizer, embeddings, prompts), hidden, config.use_prompt_fusion)
        self.logit_scale = nn.Parameter(torch.tensor(float(torch.log(torch.tensor(1 / 0.07)))))
        layers = config.deep_prompt_layers(backbone.n_layers)
        self.learned_prompts = DeepPrompts(hidden, config.input_prompts, config.deep_prompts, layers, self.embed_rms)
        keep_checkpoint_name(self)  # checkpoints name these tensors prompts_module.*
        self.lm = backbone.model
        if config.lora_r > 0:
            # defers peft (and its transformers stack): only a model with LoRA adapters needs it
            from peft import LoraConfig, get_peft_model

            targets = config.lora_targets or list(backbone.lora_targets)
            self.lm = get_peft_model(
                backbone.model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=targets)
            )
        self.learned_prompts.attach(backbone.layers())
        self.head = nn.Linear(hidden, len(class_names))

    @property
    def temperature(self) -> torch.Tensor:
        return 1.0 / self.logit_scale.exp().clamp(max=100.0)

    @property
    def fusion_position(self) -> int:
        return -1 if self.is_decoder else self.learned_prompts.n_slots + self.learned_prompts.n_input

    def visual_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """V_proj, (B, N_v, D)."""
        return self.extractor(images)

    def fused_token(self, v_proj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h_fused from the global visual feature and the class-weighted text mixture, and the weights w."""
        temperature = self.config.fusion_temperature if self.config.fusion_temperature is not None else self.temperature
        return self.fusion(v_proj.mean(1), temperature)

    def sequence(self, v_proj: torch.Tensor) -> torch.Tensor:
        batch = v_proj.shape[0]
        h_fused, _ = self.fused_token(v_proj)
        slots = v_proj.new_zeros(batch, self.learned_prompts.n_slots, v_proj.shape[-1])
        p_in = self.learned_prompts.input.expand(batch, -1, -1)
        visual = rms_to(v_proj, self.embed_rms)
        fused = rms_to(h_fused, self.embed_rms)[:, None]
        parts = [slots, p_in, visual, fused] if self.is_decoder else [slots, p_in, fused, visual]
        return torch.cat(parts, dim=1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """h_fusion_out: the fusion token's final hidden state (the teacher feature h_T of §3.4.2), (B, D)."""
        return self.head_input(self.visual_tokens(images))

    def head_input(self, v_proj: torch.Tensor) -> torch.Tensor:
        """h_fusion_out from visual tokens V_proj."""
        embeds = self.sequence(v_proj)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        with autocast(self):
            hidden = self.lm(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        return hidden[:, self.fusion_position]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits = W_cls h_fusion_out + b_cls (eq. 8), (B, C)."""
        return self.head(self.features(images))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trained parts only: extractor, fusion, temperature, prompts, LoRA, head (never the backbone)."""
        state = {}
        for name, tensor in self.state_dict().items():
            if name.startswith("lm."):
                if "lora_" in name:
                    state[name] = tensor
                continue
            state[name] = tensor
        return {k: v.detach().contiguous().clone() for k, v in state.items()}

    def save_pretrained(self, folder: str | Path, extra: dict | None = None) -> Path:
        """JSON config + safetensors of the trained parts; the backbone is referenced by name. Written atomically."""
        meta = {"config": self.config.model_dump(), "class_names": self.class_names, "prompts": self.prompts, **(extra or {})}
        return write_checkpoint(folder, self.trainable_state(), "syndiag-cloud", meta)

    @classmethod
    def from_pretrained(cls, folder: str | Path, backbone: Backbone | None = None, meta: dict | None = None) -> "SynDiagCloud":
        folder = Path(folder)
        meta = read_checkpoint_meta(folder, "syndiag-cloud", meta)
        config = CloudConfig.from_dict(meta["config"], source=str(folder / CONFIG))
        backbone = backbone or load_backbone(config.backbone, config.allow_download, config.num_layers)
        model = cls(config, backbone, meta["class_names"], meta["prompts"])
        load_trained(model, folder, meta)
        model.checkpoint_meta = meta
        return model


def claim_backbone(backbone: Backbone) -> None:
    """A backbone serves one model: LoRA layers and prompt hooks are injected into it in place."""
    if getattr(backbone.model, "_syndiag_claimed", False):
        raise ConfigError(f"backbone {backbone.name!r} already serves another model; load it again for a second model")
    backbone.model._syndiag_claimed = True
