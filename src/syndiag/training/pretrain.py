"""Stage 1: cross-modal alignment pretraining of the visual extractor on the multi-condition K-shot pool (§3.1, §5.1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from syndiag.config.run import RunConfig
from syndiag.data.fewshot import pretraining_pool
from syndiag.data.prepare import PreparedDataset
from syndiag.models.cloud import SynDiagCloud
from syndiag.training.common import batches, image_batch, seed_everything
from syndiag.training.engine import train_epochs
from syndiag.training.losses import alignment_loss, margin_schedule

Progress = Callable[[int, int, float], None]


@dataclass
class PretrainResult:
    pool: np.ndarray
    seconds: float
    losses: list[float] = field(default_factory=list)


@torch.inference_mode()
def global_visual_features(model: SynDiagCloud, dataset: PreparedDataset, indices: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """v_g, the average-pooled projected visual tokens, for the windows at ``indices`` (n, D)."""
    was_training = model.training
    model.eval()
    parts = [model.visual_tokens(image_batch(dataset, chunk)).mean(1) for chunk in batches(indices, batch_size)]
    model.train(was_training)
    return torch.cat(parts).cpu().numpy()


def pretrain(model: SynDiagCloud, dataset: PreparedDataset, config: RunConfig, progress: Progress | None = None,
             conditions: list[str] | None = None) -> PretrainResult:
    """Train the extractor (CNN + W_p) and the temperature with L_align; the language model stays frozen.

    The pool is K windows per class of every condition, or of ``conditions`` only."""
    stage = config.pretrain
    generator = seed_everything(config.seed)
    pool = pretraining_pool(dataset, config.seed, k=stage.shots, conditions=conditions)
    bank = model.fusion.bank
    labels_all = torch.from_numpy(dataset.labels)
    shift = generator if stage.time_shift else None

    def loss_of(batch: np.ndarray, step: int, total: int) -> torch.Tensor:
        visual = model.visual_tokens(image_batch(dataset, batch, shift))
        labels = labels_all[batch].to(visual.device)
        margin = margin_schedule(step / max(total - 1, 1), stage.margin_start, stage.margin_end)
        scale = model.logit_scale.exp().clamp(max=100.0)
        return alignment_loss(visual, bank.tokens[labels], bank.mask[labels], labels, scale, margin, stage.alpha)[0]

    result = PretrainResult(pool=pool, seconds=0.0)
    started = time.perf_counter()
    model.train()
    result.losses, _ = train_epochs(
        [*model.extractor.parameters(), model.logit_scale], pool, loss_of, epochs=stage.epochs, batch_size=stage.batch_size,
        lr=stage.lr, weight_decay=stage.weight_decay, generator=generator, progress=progress,
    )
    result.seconds = time.perf_counter() - started
    return result
