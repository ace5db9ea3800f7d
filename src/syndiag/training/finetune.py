"""Stage 2: few-shot end-to-end fine-tuning with cross-entropy on the fusion-token head (§3.3, §4.2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from syndiag.config.training import FinetuneConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.noise import noise_augmented
from syndiag.data.prepare import PreparedDataset
from syndiag.models.cloud import SynDiagCloud
from syndiag.training.common import batches, image_batch, seed_everything
from syndiag.training.engine import train_epochs

Progress = Callable[[int, int, float], None]


@dataclass
class FinetuneResult:
    seconds: float
    steps: int
    losses: list[float] = field(default_factory=list)
    windows: int = 0

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


@torch.no_grad()
def imprint_head(model: SynDiagCloud, dataset: PreparedDataset, indices, batch_size: int = 32) -> None:
    """Start the head at the support set's class prototypes of the fused feature (weight imprinting).

    Before any step the head then classifies by the nearest class mean (cosine, centred), so a few
    optimizer steps refine a sensible decision rule instead of having to find one from random weights.
    """
    was_training = model.training
    model.eval()
    features = torch.cat([model.features(image_batch(dataset, chunk)) for chunk in batches(indices, batch_size)])
    labels = torch.from_numpy(dataset.labels[indices]).to(features.device)
    centre = features.mean(0)
    prototypes = torch.stack([(features[labels == c] - centre).mean(0) for c in range(model.head.out_features)])
    scale = 10.0 / (features - centre).norm(dim=1).mean().clamp_min(1e-6)
    weight = F.normalize(prototypes, dim=1) * scale
    model.head.weight.copy_(weight)
    model.head.bias.copy_(-(weight @ centre))
    model.train(was_training)


def parameter_groups(model: SynDiagCloud, stage: FinetuneConfig) -> list[dict]:
    """Every trainable parameter; the pretrained extractor at ``lr * extractor_lr_scale``."""
    extractor = [p for p in model.extractor.parameters() if p.requires_grad]
    ids = {id(p) for p in extractor}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [{"params": extractor, "lr": stage.lr * stage.extractor_lr_scale}, {"params": rest, "lr": stage.lr}]


def finetune(
    model: SynDiagCloud, dataset: PreparedDataset, task: FewShotTask, stage: FinetuneConfig, seed: int, progress: Progress | None = None
) -> FinetuneResult:
    """Jointly train extractor, fusion, prompts, LoRA and head (every parameter not frozen) on the K-shot set."""
    if stage.noise_snr_db is not None:
        dataset = noise_augmented(dataset, task.train, stage.noise_snr_db, seed)
        task = replace(task, train=np.arange(len(dataset)))
    generator = seed_everything(seed)
    if stage.head_init == "prototypes":
        imprint_head(model, dataset, task.train)
    labels_all = torch.from_numpy(dataset.labels)
    shift = generator if stage.time_shift else None

    def loss_of(batch: np.ndarray, step: int, total: int) -> torch.Tensor:
        logits = model(image_batch(dataset, batch, shift))
        return F.cross_entropy(logits, labels_all[batch].to(logits.device))

    result = FinetuneResult(seconds=0.0, steps=0, windows=len(task.train))
    started = time.perf_counter()
    model.train()
    result.losses, result.steps = train_epochs(
        parameter_groups(model, stage), task.train, loss_of, epochs=stage.epochs_for(len(task.train)), batch_size=stage.batch_size,
        lr=stage.lr, weight_decay=stage.weight_decay, generator=generator, progress=progress,
    )
    result.seconds = time.perf_counter() - started
    model.eval()
    return result
