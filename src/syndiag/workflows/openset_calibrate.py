"""``syndiag openset calibrate``: the open-set threshold of a fine-tuned cloud, distilled edge, sensor-model or ONNX
checkpoint, from held-in windows of its own training condition, stored beside its weights (issue 17)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.data.sensor_windows import sensor_windows_for
from syndiag.data.sources import sensor_recordings
from syndiag.data.windowing import POOL
from syndiag.errors import ConfigError, SyndiagError
from syndiag.models.openset import calibrate_threshold
from syndiag.models.openset_threshold import OpenSetThreshold, save_threshold, weights_digest
from syndiag.models.meta import read_meta
from syndiag.serving.predictor import WindowBatch, load_predictor
from syndiag.training.distill import distillation_windows
from syndiag.training.sensor import SensorInputs, predict_sensor
from syndiag.workflows.session import task_of_checkpoint

HELD_IN_PER_CLASS = 50
"""Held-in windows per class scored at most (a seeded draw)."""


@dataclass
class Calibration:
    path: Path
    threshold: OpenSetThreshold
    classes: int


def held_in_windows(dataset: PreparedDataset, meta: dict, folder: Path, per_class: int = HELD_IN_PER_CLASS) -> np.ndarray:
    """Train-pool windows of the checkpoint's training condition that none of its training stages used: not its support
    set and, for a distilled edge model, not its distillation windows either."""
    task = task_of_checkpoint(dataset, meta, folder)
    used = set(task.train.tolist())
    if meta.get("model") == "syndiag-edge" and "windows" in meta:
        extra = round((int(meta["windows"]) - task.train.size) / len(dataset.class_names))
        used |= set(distillation_windows(dataset, task, max(extra, 0), task.seed).tolist())
    source = dataset.condition_names.index(task.source[0])
    rng = np.random.default_rng([task.seed, 2024])
    chosen = []
    for c, name in enumerate(dataset.class_names):
        pool = np.flatnonzero((dataset.labels == c) & (dataset.conditions == source) & (dataset.split == POOL))
        pool = np.setdiff1d(pool, np.fromiter(used, dtype=np.int64, count=len(used)))
        if pool.size == 0:
            raise SyndiagError(f"{folder}: no held-in window of class {name} at {task.source[0]} (every one was used in training): "
                               "raise data.window.per_class")
        chosen.append(rng.permutation(pool)[:per_class])
    return np.sort(np.concatenate(chosen))


def calibrate_checkpoint(checkpoint: Path, false_alarm: float = 0.01, data_root: Path | None = None, device: str = "cpu",
                         batch_size: int = 64) -> Calibration:
    """Score held-in windows with the checkpoint, store the (1 - false_alarm) threshold in CHECKPOINT/openset.json."""
    if not 0 < false_alarm < 1:
        raise ConfigError(f"--false-alarm must be in (0, 1), got {false_alarm}")
    described = read_meta(checkpoint)
    meta = described.to_dict()
    if "task" not in meta:
        raise SyndiagError(f"{checkpoint}: not a fine-tuned checkpoint (its config.json records no training task, so its "
                           "held-in windows are unknown); calibrate the fine-tuned, distilled or exported model")
    data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
    if data_root is not None:
        data = data.model_copy(update={"data_root": data_root})
    dataset = prepare(data)
    if list(dataset.class_names) != list(meta["class_names"]):
        raise ConfigError(f"{checkpoint}: trained on classes {meta['class_names']}, the prepared data has {dataset.class_names}")
    indices = held_in_windows(dataset, meta, Path(checkpoint))
    if meta.get("model") == "syndiag-sensor":
        confidence = sensor_confidence(Path(checkpoint), data, dataset, indices, device, batch_size)
    else:
        predictor = load_predictor(checkpoint, device)
        present = np.ones((batch_size, len(described.channels)), dtype=bool)
        confidence = np.concatenate([predictor.predict(WindowBatch({}, present[: len(chunk)], dataset.rgb(chunk))).probabilities.max(1)
                                     for chunk in (indices[s : s + batch_size] for s in range(0, indices.size, batch_size))])
    threshold = OpenSetThreshold(threshold=calibrate_threshold(1.0 - confidence, false_alarm), false_alarm=false_alarm,
                                 windows=int(indices.size), weights_sha256=weights_digest(checkpoint))
    return Calibration(save_threshold(checkpoint, threshold), threshold, len(dataset.class_names))


def sensor_confidence(folder: Path, data: DataConfig, dataset: PreparedDataset, indices: np.ndarray, device: str, batch_size: int) -> np.ndarray:
    """The sensor model's top class probability on the windows at ``indices``, every channel of its layout read."""
    # defers matplotlib (the sensor workflow imports evaluation.metrics): only a sensor model's calibration needs it
    from syndiag.workflows.sensor import spectrogram_grid

    model = load_predictor(folder, device).model
    sensor_set = sensor_recordings(data, model.config.use_images)
    windows = sensor_windows_for(dataset, sensor_set, model.layout)
    inputs = SensorInputs(windows, dataset if model.extractor is not None else None, spectrogram_grid(model))
    return predict_sensor(model, inputs, indices, batch_size).probabilities.max(1)
