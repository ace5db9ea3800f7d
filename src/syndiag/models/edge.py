"""Syn-Diag edge student: the teacher's frozen extractor and gate behind reverse adapters, a small LM, the shared head (§3.4.1, eq. 9-10)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from syndiag.config.models import CloudConfig, EdgeConfig
from syndiag.models.backbones import Backbone, load_backbone
from syndiag.models.checkpoint import (
    CONFIG,
    WEIGHTS,
    load_trained,
    read_checkpoint_meta,
    verify_checkpoint,
    write_checkpoint,
)
from syndiag.models.cloud import SynDiagCloud, claim_backbone, rms_to
from syndiag.models.deep_prompts import DeepPrompts, keep_checkpoint_name
from syndiag.models.device import autocast
from syndiag.models.prompt_fusion import ClassTextBank, GatedFusionUnit, fusion_weights
from syndiag.models.visual_extractor import VisualExtractor


@dataclass
class TeacherParts:
    """What the student reuses of the teacher: frozen extractor and gate, the shared head, the temperature."""

    extractor: VisualExtractor
    gfu: GatedFusionUnit
    head: nn.Linear
    temperature: float
    class_names: list[str]
    prompts: list[str]

    @classmethod
    def of(cls, teacher: SynDiagCloud) -> "TeacherParts":
        return cls(teacher.extractor, teacher.fusion.gfu, teacher.head, float(teacher.temperature.detach()), teacher.class_names, teacher.prompts)

    @classmethod
    def from_checkpoint(cls, folder: str | Path) -> "TeacherParts":
        """Build the parts from a cloud checkpoint's tensors without loading the teacher's language model."""
        folder = Path(folder)
        meta = read_checkpoint_meta(folder, "syndiag-cloud")
        config = CloudConfig.from_dict(meta["config"], source=str(folder / CONFIG))
        verify_checkpoint(folder)
        state = load_file(str(folder / WEIGHTS))
        hidden = state["extractor.projection.weight"].shape[0]
        extractor = VisualExtractor(hidden, config.extractor_widths, config.visual_grid, config.image_channels, config.extractor_stem)
        gfu = GatedFusionUnit(hidden)
        head = nn.Linear(hidden, len(meta["class_names"]))
        for prefix, module in (("extractor.", extractor), ("fusion.gfu.", gfu), ("head.", head)):
            module.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        temperature = float(1.0 / state["logit_scale"].exp().clamp(max=100.0))
        return cls(extractor, gfu, head, temperature, meta["class_names"], meta["prompts"])


class SynDiagEdge(nn.Module):
    """Student with hidden size D_S reusing the teacher (D_T): only adapters, prompts and LoRA learn.

    ``head`` is the teacher's own ``nn.Linear`` object (one set of weights for both models), so a head
    trained on the edge is the cloud's head.
    """

    def __init__(self, config: EdgeConfig, teacher: SynDiagCloud | TeacherParts, backbone: Backbone) -> None:
        super().__init__()
        claim_backbone(backbone)
        parts = teacher if isinstance(teacher, TeacherParts) else TeacherParts.of(teacher)
        self.config = config
        self.backbone_name = backbone.name
        self.is_decoder = backbone.is_decoder
        self.class_names, self.prompts = parts.class_names, parts.prompts
        teacher_dim, student_dim = parts.head.in_features, backbone.hidden_size
        self.teacher_parts = nn.ModuleDict({"extractor": parts.extractor, "gfu": parts.gfu})
        self.teacher_parts.requires_grad_(False)
        self.head = parts.head
        self.teacher_temperature = parts.temperature
        embeddings = backbone.word_embeddings()
        self.embed_rms = float(embeddings.weight.detach().pow(2).mean().sqrt())
        self.bank = ClassTextBank(backbone.tokenizer, embeddings, self.prompts)
        self.visual_adapter = nn.Linear(teacher_dim, student_dim)
        self.gate_in_visual = nn.Linear(student_dim, teacher_dim)
        self.gate_in_text = nn.Linear(student_dim, teacher_dim)
        self.gate_out = nn.Linear(teacher_dim, student_dim)
        self.main_adapter = nn.Linear(student_dim, teacher_dim)
        layers = config.deep_prompt_layers(backbone.n_layers)
        self.learned_prompts = DeepPrompts(student_dim, config.input_prompts, config.deep_prompts, layers, self.embed_rms)
        keep_checkpoint_name(self)  # checkpoints name these tensors prompts_module.*
        self.lm = backbone.model
        if config.lora_r > 0:
            # defers peft (and its transformers stack): only a student with LoRA adapters needs it
            from peft import LoraConfig, get_peft_model

            self.lm = get_peft_model(
                backbone.model,
                LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=list(backbone.lora_targets)),
            )
        self.learned_prompts.attach(backbone.layers())

    @property
    def fusion_position(self) -> int:
        return -1 if self.is_decoder else self.learned_prompts.n_slots + self.learned_prompts.n_input

    @torch.no_grad()
    def teacher_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """V_T from the teacher's frozen extractor (cacheable: it never changes during distillation)."""
        return self.teacher_parts["extractor"](images)

    def features_from_tokens(self, v_teacher: torch.Tensor) -> torch.Tensor:
        """h'_S = A_main(h_S), the student's fused feature in the teacher's space, from V_T."""
        v_student = self.visual_adapter(v_teacher)
        v_global = v_student.mean(1)
        weights = fusion_weights(v_global, self.bank.global_features(), self.teacher_temperature)
        t_mix = weights @ self.bank.mean_features()
        h_fused = self.gate_out(self.teacher_parts["gfu"](self.gate_in_visual(v_global), self.gate_in_text(t_mix)))
        batch = v_teacher.shape[0]
        slots = v_student.new_zeros(batch, self.learned_prompts.n_slots, v_student.shape[-1])
        p_in = self.learned_prompts.input.expand(batch, -1, -1)
        visual = rms_to(v_student, self.embed_rms)
        fused = rms_to(h_fused, self.embed_rms)[:, None]
        parts = [slots, p_in, visual, fused] if self.is_decoder else [slots, p_in, fused, visual]
        embeds = torch.cat(parts, dim=1)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        with autocast(self):
            hidden = self.lm(inputs_embeds=embeds, attention_mask=mask).last_hidden_state[:, self.fusion_position]
        hidden = hidden.float()
        return self.main_adapter(hidden)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_from_tokens(self.teacher_tokens(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Adapters, prompts, LoRA and the head; never the teacher's parts or either frozen backbone."""
        state = {}
        for name, tensor in self.state_dict().items():
            if name.startswith("teacher_parts.") or (name.startswith("lm.") and "lora_" not in name):
                continue
            state[name] = tensor.detach().contiguous().clone()
        return state

    def save_pretrained(self, folder: str | Path, teacher_checkpoint: str | Path, extra: dict | None = None) -> Path:
        """JSON config + safetensors; the teacher is referenced by its checkpoint folder. Written atomically."""
        meta = {"config": self.config.model_dump(), "teacher_checkpoint": str(Path(teacher_checkpoint).resolve()),
                "class_names": self.class_names, "prompts": self.prompts, **(extra or {})}
        return write_checkpoint(folder, self.trainable_state(), "syndiag-edge", meta)

    @classmethod
    def from_pretrained(cls, folder: str | Path, teacher: SynDiagCloud | TeacherParts | None = None, backbone: Backbone | None = None,
                        meta: dict | None = None) -> "SynDiagEdge":
        """The edge model alone: the teacher's extractor, gate and head come from its checkpoint's tensors, never its LM."""
        folder = Path(folder)
        meta = read_checkpoint_meta(folder, "syndiag-edge", meta)
        config = EdgeConfig.from_dict(meta["config"], source=str(folder / CONFIG))
        teacher = teacher or TeacherParts.from_checkpoint(meta["teacher_checkpoint"])
        backbone = backbone or load_backbone(config.backbone, config.allow_download, config.num_layers)
        model = cls(config, teacher, backbone)
        load_trained(model, folder, meta)
        model.checkpoint_meta = meta
        return model
