"""Stage 1: cross-modal alignment pretraining of the visual extractor on the multi-condition K-shot pool (§3.1, §5.1)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from syndiag.data.fewshot import pretraining_pool
from syndiag.data.prepare import PreparedDataset
from syndiag.models.cloud import SynDiagCloud
from syndiag.training.common import batches, image_batch, seed_everything, shuffled_batches
from syndiag.training.config import RunConfig
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
    return torch.cat(parts).numpy()


def pretrain(model: SynDiagCloud, dataset: PreparedDataset, config: RunConfig, progress: Progress | None = None) -> PretrainResult:
    """Train the extractor (CNN + W_p) and the temperature with L_align; the language model stays frozen."""
    stage = config.pretrain
    generator = seed_everything(config.seed)
    pool = pretraining_pool(dataset, config.seed, k=stage.shots)
    parameters = [*model.extractor.parameters(), model.logit_scale]
    optimizer = torch.optim.AdamW(parameters, lr=stage.lr, weight_decay=stage.weight_decay)
    steps_per_epoch = math.ceil(len(pool) / stage.batch_size)
    total = stage.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    bank = model.fusion.bank
    labels_all = torch.from_numpy(dataset.labels)
    result = PretrainResult(pool=pool, seconds=0.0)
    started = time.perf_counter()
    model.train()
    step = 0
    for _ in range(stage.epochs):
        epoch_loss = 0.0
        for batch in shuffled_batches(pool, stage.batch_size, generator):
            labels = labels_all[batch]
            visual = model.visual_tokens(image_batch(dataset, batch, generator if stage.time_shift else None))
            margin = margin_schedule(step / max(total - 1, 1), stage.margin_start, stage.margin_end)
            loss, _ = alignment_loss(visual, bank.tokens[labels], bank.mask[labels], labels, model.logit_scale.exp().clamp(max=100.0), margin, stage.alpha)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            epoch_loss += loss.item() * len(batch)
            step += 1
            if progress:
                progress(step, total, loss.item())
        result.losses.append(epoch_loss / len(pool))
    result.seconds = time.perf_counter() - started
    return result
