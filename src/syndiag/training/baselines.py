"""Supervised image baselines (§5.2): pretrained on the multi-condition 7-shot pool, then fine-tuned on the K-shot set."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from syndiag.config.training import BaselineTrainConfig
from syndiag.data.prepare import PreparedDataset
from syndiag.errors import DataError
from syndiag.training.common import batches, image_batch, seed_everything
from syndiag.training.engine import train_epochs

Progress = Callable[[int, int, float], None]


@dataclass
class BaselineTrainResult:
    pretrain_seconds: float = 0.0
    finetune_seconds: float = 0.0
    pretrain_losses: list[float] = field(default_factory=list)
    finetune_losses: list[float] = field(default_factory=list)
    finetune_steps: int = 0
    steps: int = 0


def train_image_baseline(
    model: nn.Module,
    dataset: PreparedDataset,
    pool_indices: np.ndarray,
    support_indices: np.ndarray,
    config: BaselineTrainConfig,
    seed: int,
    progress: Progress | None = None,
) -> BaselineTrainResult:
    """Train every parameter of ``model`` (uint8 images -> logits) with cross-entropy: pool, then support set.

    An empty pool skips pretraining and an empty support set skips fine-tuning, so the pool stage, which does
    not depend on K, can be trained once and kept. ``progress(step, total, loss)`` counts both stages' steps.
    """
    pool_indices, support_indices = np.asarray(pool_indices), np.asarray(support_indices)
    if len(support_indices) == 0 and len(pool_indices) == 0:
        raise DataError("nothing to train on: the pretraining pool and the K-shot support set are both empty")
    generator = seed_everything(seed)
    labels = torch.as_tensor(np.asarray(dataset.labels), dtype=torch.long)
    shift = generator if config.time_shift else None
    pretrain_epochs = config.pretrain_epochs if len(pool_indices) else 0
    finetune_epochs = config.finetune_epochs_for(len(support_indices)) if len(support_indices) else 0
    pretrain_total = pretrain_epochs * math.ceil(len(pool_indices) / config.batch_size)
    total = pretrain_total + finetune_epochs * math.ceil(len(support_indices) / config.finetune_batch_size)

    def loss_of(batch: np.ndarray, step: int, stage_total: int) -> torch.Tensor:
        logits = model(image_batch(dataset, batch, shift))
        return F.cross_entropy(logits, labels[batch].to(logits.device))

    def reporter(offset: int) -> Progress | None:
        if progress is None:
            return None
        report = progress
        return lambda step, _stage_total, loss: report(offset + step, total, loss)

    result = BaselineTrainResult()
    model.train()
    if pretrain_epochs:
        started = time.perf_counter()
        result.pretrain_losses, pretrain_steps = train_epochs(
            list(model.parameters()), pool_indices, loss_of, epochs=pretrain_epochs, batch_size=config.batch_size,
            lr=config.lr, weight_decay=config.weight_decay, generator=generator, progress=reporter(0),
        )
        result.pretrain_seconds = time.perf_counter() - started
        result.steps = pretrain_steps
    if finetune_epochs:
        started = time.perf_counter()
        result.finetune_losses, result.finetune_steps = train_epochs(
            list(model.parameters()), support_indices, loss_of, epochs=finetune_epochs, batch_size=config.finetune_batch_size,
            lr=config.finetune_lr, weight_decay=config.weight_decay, generator=generator, progress=reporter(result.steps),
        )
        result.finetune_seconds = time.perf_counter() - started
        result.steps += result.finetune_steps
    model.eval()
    return result


@torch.inference_mode()
def predict_images(model: nn.Module, dataset: PreparedDataset, indices: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Predicted class of each window at ``indices`` (argmax of the logits, eval mode)."""
    indices = np.asarray(indices)
    model.eval()
    predictions = [model(image_batch(dataset, chunk)).argmax(-1).cpu() for chunk in batches(indices, batch_size)]
    return torch.cat(predictions).numpy() if predictions else np.empty(0, dtype=np.int64)
