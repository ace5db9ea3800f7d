"""Sensor-model training (LLaVA-for-Sensors article, "two-stage training"): (a) modality alignment of the sensor
tokens against the class descriptions, (b) task fine-tuning of the fault and severity heads; modality dropout in both."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from syndiag.config.sensor_run import SensorAlignConfig, SensorFinetuneConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.prepare import PreparedDataset
from syndiag.data.sensor_windows import SensorWindows
from syndiag.data.spectrogram import stacked_tokens_present
from syndiag.errors import ConfigError
from syndiag.models.sensor import SensorBatch, SensorModel
from syndiag.models.sensor_heads import severity_nll
from syndiag.training.common import batches, seed_everything
from syndiag.training.engine import train_epochs
from syndiag.training.losses import global_contrastive_loss, margin_schedule

Progress = Callable[[int, int, float], None]
ALIGNMENT_SCALE = 1.0 / 0.07


@dataclass
class SensorInputs:
    """What the sensor model reads per window: every channel's samples, which channels are present, the spectrogram."""

    windows: SensorWindows
    spectrograms: PreparedDataset | None = None
    token_grid: int | None = None

    def __len__(self) -> int:
        return len(self.windows.labels)

    def batch(self, indices: np.ndarray, present: np.ndarray | None = None) -> SensorBatch:
        indices = np.asarray(indices)
        signals = {name: torch.from_numpy(np.asarray(values[indices], dtype=np.float32)) for name, values in self.windows.signals.items()}
        mask = self.windows.present[indices] if present is None else present
        images = torch.from_numpy(self.spectrograms.rgb(indices)) if self.spectrograms is not None else None
        tokens = torch.from_numpy(self.spectrogram_tokens_present(mask)) if images is not None and self.token_grid else None
        frames = self.windows.images
        photos = None if frames is None else torch.from_numpy(np.ascontiguousarray(frames[indices]))
        seen = None if frames is None or self.windows.image_present is None else torch.from_numpy(self.windows.image_present[indices])
        return SensorBatch(signals=signals, present=torch.from_numpy(np.ascontiguousarray(mask)), spectrograms=images, images=photos,
                           spectrogram_present=tokens, image_present=seen)

    def spectrogram_tokens_present(self, present: np.ndarray) -> np.ndarray:
        """(B, grid * grid): a spectrogram token is seen only when every channel whose image band it covers is present.

        The spectrogram stacks its channels top to bottom in equal bands; tokens are the extractor's grid, row-major.
        """
        names = [spec.name for spec in self.windows.layout]
        stacked = [names.index(c) for c in self.spectrograms.meta["channels"] if c in names]
        return stacked_tokens_present(present, stacked, self.token_grid)


def modality_dropout(present: np.ndarray, kinds: list[str], probability: float, rng: np.random.Generator) -> np.ndarray:
    """Drop each present channel with ``probability``; every window keeps at least one vibration channel (or one channel)."""
    if probability <= 0:
        return present
    keep = present & (rng.random(present.shape) >= probability)
    vibration = np.array([kind == "vibration" for kind in kinds])
    anchors = vibration if vibration.any() else np.ones(len(kinds), bool)
    for row in np.flatnonzero(~(keep & anchors).any(axis=1)):
        candidates = np.flatnonzero(present[row] & anchors)
        if candidates.size:
            keep[row, rng.choice(candidates)] = True
    return keep


@dataclass
class SensorTrainResult:
    seconds: float = 0.0
    steps: int = 0
    windows: int = 0
    losses: list[float] = field(default_factory=list)
    spectral: dict | None = None
    """What fitting the spectrum path's prototypes and mix measured (None without one)."""

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


def trainable(model: SensorModel) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def align(model: SensorModel, inputs: SensorInputs, pool: np.ndarray, stage: SensorAlignConfig, seed: int,
          progress: Progress | None = None) -> SensorTrainResult:
    """Stage (a): the adapter's pooled soft tokens against the class descriptions' word embeddings (Syn-Diag eq. 2-3, reused)."""
    generator = seed_everything(seed)
    rng = np.random.default_rng([seed, 515])
    kinds = [spec.kind for spec in inputs.windows.layout]
    bank = model.text_bank
    labels_all = torch.from_numpy(inputs.windows.labels)

    def loss_of(batch: np.ndarray, step: int, total: int) -> torch.Tensor:
        present = modality_dropout(inputs.windows.present[batch], kinds, stage.modality_dropout, rng)
        output = model(inputs.batch(batch, present))
        labels = labels_all[batch].to(output.pooled.device)
        margin = margin_schedule(step / max(total - 1, 1), stage.margin_start, stage.margin_end)
        scale = torch.tensor(ALIGNMENT_SCALE, device=output.pooled.device)
        return global_contrastive_loss(output.pooled, bank.mean_features()[labels], labels, scale, margin)

    return _train(model, pool, loss_of, stage.epochs, stage.batch_size, stage.lr, generator, progress)


def finetune_sensor(model: SensorModel, inputs: SensorInputs, task: FewShotTask, stage: SensorFinetuneConfig, seed: int,
                    progress: Progress | None = None) -> SensorTrainResult:
    """Stage (b): cross-entropy on the fault head plus the severity head's Gaussian NLL, on the K-shot set; the severity of
    windows at ``stage.severity_holdout`` levels is hidden (their class still trains)."""
    generator = seed_everything(seed)
    rng = np.random.default_rng([seed, 616])
    kinds = [spec.kind for spec in inputs.windows.layout]
    labels_all = torch.from_numpy(inputs.windows.labels)
    severity = np.asarray(inputs.windows.severity, dtype=np.float64).copy()
    for level in stage.severity_holdout:
        severity[np.isclose(severity, level)] = np.nan
    severity_all = torch.from_numpy(np.asarray(model.normalise_severity(severity), dtype=np.float32))

    def loss_of(batch: np.ndarray, step: int, total: int) -> torch.Tensor:
        present = modality_dropout(inputs.windows.present[batch], kinds, stage.modality_dropout, rng)
        output = model(inputs.batch(batch, present))
        loss = F.cross_entropy(output.head_logits, labels_all[batch].to(output.logits.device))
        if stage.severity_weight > 0 and output.severity_raw is not None:
            loss = loss + stage.severity_weight * severity_nll(output.severity_raw, severity_all[batch].to(output.logits.device))
        return loss

    epochs = stage.epochs_for(len(task.train))
    return _train(model, task.train, loss_of, epochs, stage.batch_size, stage.lr, generator, progress)


def _train(model: SensorModel, items: np.ndarray, loss_of, epochs: int, batch_size: int, lr: float, generator: torch.Generator,
           progress: Progress | None) -> SensorTrainResult:
    result = SensorTrainResult(windows=len(items))
    started = time.perf_counter()
    model.train()
    result.losses, result.steps = train_epochs(trainable(model), items, loss_of, epochs=epochs, batch_size=batch_size, lr=lr,
                                               weight_decay=0.01, generator=generator, progress=progress)
    result.seconds = time.perf_counter() - started
    model.eval()
    return result


@dataclass
class SensorPrediction:
    probabilities: np.ndarray
    severity_mean: np.ndarray
    severity_std: np.ndarray
    seconds: float

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(1)


@torch.inference_mode()
def predict_sensor(model: SensorModel, inputs: SensorInputs, indices: np.ndarray, batch_size: int = 64,
                   drop: list[str] | None = None) -> SensorPrediction:
    """Class probabilities and severity (mean, std in the severity's unit) of the windows at ``indices``; ``drop`` removes channels."""
    model.eval()
    names = [spec.name for spec in inputs.windows.layout]
    unknown = sorted(set(drop or []) - set(names))
    if unknown:
        raise ConfigError(f"cannot drop {unknown}: the model's channels are {names}")
    started = time.perf_counter()
    probabilities, means, stds = [], [], []
    for chunk in batches(np.asarray(indices), batch_size):
        present = inputs.windows.present[chunk].copy()
        for name in drop or []:
            present[:, names.index(name)] = False
        output = model(inputs.batch(chunk, present))
        probabilities.append(torch.softmax(output.logits.float(), dim=-1).cpu())
        if output.severity_mean is not None:
            means.append(output.severity_mean.float().cpu())
            stds.append(output.severity_std.float().cpu())
    probs = torch.cat(probabilities).numpy()
    mean = torch.cat(means).numpy() if means else np.full(len(probs), np.nan)
    std = torch.cat(stds).numpy() if stds else np.full(len(probs), np.nan)
    return SensorPrediction(probs, mean, std, time.perf_counter() - started)
