"""Training-stage configurations: alignment pretraining (§3.1.2), fine-tuning (§3.3), distillation (§3.4.2), online updates (§3.5)
and the image baselines (§5.2)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from syndiag.config.base import StrictModel
from syndiag.config.data import SnrRange


def epochs_with_min_steps(epochs: int, min_steps: int, n_items: int, batch_size: int) -> int:
    """``epochs``, raised until ``n_items`` in batches of ``batch_size`` give at least ``min_steps`` optimizer steps."""
    return max(epochs, math.ceil(min_steps / math.ceil(n_items / batch_size)))


class PretrainConfig(StrictModel):
    """Stage 1, cross-modal alignment of the visual extractor against frozen word embeddings (§3.1.2, §4.2)."""

    shots: int = Field(7, ge=1, description="labelled train-pool windows per class and condition (§5.1)")
    epochs: int = Field(600, ge=1)
    lr: float = Field(1e-2, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(32, ge=2)
    alpha: float = Field(0.5, ge=0, description="weight of the local loss (eq. 5); the paper does not give it")
    margin_start: float = 0.1
    margin_end: float = 0.7
    time_shift: bool = Field(False, description="roll each image along time by a random offset (not in the paper)")
    tsne_test_per_class: int = Field(20, ge=0, description="test windows per class in the t-SNE figure")


class FinetuneConfig(StrictModel):
    """Stage 2, few-shot end-to-end fine-tuning with prompt fusion, deep prompts and LoRA (§3.3, §4.2)."""

    shots: int = Field(5, ge=1)
    source: str | None = Field(None, description="condition of the K-shot set (default: the last condition)")
    target: str | None = Field(None, description="condition of the test set (default: the source)")
    epochs: int = Field(20, ge=1)
    min_steps: int = Field(0, ge=0, description="train for more epochs when epochs would give fewer optimizer steps (not in the paper)")
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(4, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    head_init: Literal["random", "prototypes"] = Field("random", description="prototypes: start the head at the K-shot class means (not in the paper)")
    extractor_lr_scale: float = Field(1.0, gt=0, description="learning rate of the pretrained extractor relative to lr (not in the paper)")
    time_shift: bool = Field(False, description="roll each image along time by a random offset (not in the paper)")
    noise_snr_db: SnrRange | None = Field(
        None, description="also train on one noisy copy of each K-shot window, SNR drawn uniformly from this range in dB (not in the paper)")

    def epochs_for(self, n_items: int) -> int:
        return epochs_with_min_steps(self.epochs, self.min_steps, n_items, self.batch_size)


class DistillConfig(StrictModel):
    """Which windows the student learns from and how long (paper: 40 epochs, lr 3e-4, batch 4)."""

    unlabelled_per_class: int = Field(20, ge=0, description="extra train-pool windows per class of the source condition (no labels used)")
    epochs: int = Field(40, ge=1)
    lr: float = Field(3e-4, gt=0)
    batch_size: int = Field(4, ge=1)


class UpdateConfig(StrictModel):
    """Paper §4.2: 30 cycles, 3 new samples per class, head only, 10 epochs, lr 1e-4, batch 16."""

    cycles: int = Field(30, ge=1)
    new_per_class: int = Field(3, ge=1)
    epochs: int = Field(10, ge=1)
    lr: float = Field(1e-4, gt=0)
    batch_size: int = Field(16, ge=1)
    validation_per_class: int = Field(10, ge=1, description="cloud-side held-out buffer, never used for updates")
    tolerance: float = Field(0.01, ge=0, description="largest validation-accuracy drop the cloud accepts")
    require_signed: bool = Field(True, description="the cloud imports only head packages signed by a trusted edge key (syndiag head trust)")


class BaselineTrainConfig(StrictModel):
    """Both stages of an image baseline: cross-entropy on the pretraining pool, then on the K-shot support set."""

    pretrain_epochs: int = Field(30, ge=0, description="epochs on the multi-condition pool (0: no pretraining)")
    finetune_epochs: int = Field(20, ge=1, description="epochs on the K-shot support set")
    min_steps: int = Field(0, ge=0, description="fine-tune for more epochs when finetune_epochs would give fewer optimizer steps")
    lr: float = Field(1e-3, gt=0, description="learning rate of pretraining")
    finetune_lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(16, ge=1, description="pretraining batch size")
    finetune_batch_size: int = Field(4, ge=1)
    time_shift: bool = Field(True, description="roll each image along time by a random offset")
    eval_batch_size: int = Field(64, ge=1)

    def finetune_epochs_for(self, n_items: int) -> int:
        return epochs_with_min_steps(self.finetune_epochs, self.min_steps, n_items, self.finetune_batch_size)


