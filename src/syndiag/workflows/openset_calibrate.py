"""``syndiag openset calibrate``: the open-set detector of a fine-tuned cloud, distilled edge, sensor-model or ONNX
checkpoint, from held-in windows of its own training data, stored beside its weights (issues 17 and 30); and its
healthy recalibration on recordings of the machine running healthy in a new condition (``--healthy FILES``).

The default detector of every checkpoint is the discriminant spectrum path's novelty score that validates best on the
checkpoint's training data (``workflows/openset_detector.py``): on the model's channels at its rate, or for a sensor
model on the vibration channels of its layout at their rate (the sensor windows aligned with the prepared dataset;
``--detector msp`` keeps the score 1 - max p)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.data.sensor_windows import sensor_windows_for
from syndiag.data.sources import sensor_recordings
from syndiag.data.windowing import POOL
from syndiag.errors import ConfigError, DataError, SyndiagError
from syndiag.models.openset import calibrate_threshold
from syndiag.models.openset_detector import SpectralDetector, read_detector, save_detector
from syndiag.models.openset_threshold import OpenSetThreshold, read_threshold, save_threshold, weights_digest
from syndiag.models.meta import read_meta
from syndiag.serving.predictor import WindowBatch, load_predictor
from syndiag.serving.sensor_plan import read_sensor_checkpoint
from syndiag.training.distill import distillation_windows
from syndiag.training.sensor import SensorInputs, predict_sensor
from syndiag.workflows.openset_detector import RECALIBRATE, fit_detector, healthy_windows, sensor_channels
from syndiag.workflows.openset_detector import recalibrate as recalibrate_detector
from syndiag.workflows.session import task_of_checkpoint

HELD_IN_PER_CLASS = 50
"""Held-in windows per class scored at most (a seeded draw)."""


Detector = Literal["spectral", "msp"]


@dataclass
class Calibration:
    path: Path
    threshold: OpenSetThreshold
    classes: int


def used_windows(dataset: PreparedDataset, meta: dict, folder: Path) -> tuple[FewShotTask, np.ndarray]:
    """The checkpoint's task and every window its training stages used: its support set and, for a distilled edge model,
    its distillation windows too."""
    task = task_of_checkpoint(dataset, meta, folder)
    used = set(task.train.tolist())
    if meta.get("model") == "syndiag-edge" and "windows" in meta:
        extra = round((int(meta["windows"]) - task.train.size) / len(dataset.class_names))
        used |= set(distillation_windows(dataset, task, max(extra, 0), task.seed).tolist())
    return task, np.fromiter(sorted(used), dtype=np.int64, count=len(used))


def held_in_windows(dataset: PreparedDataset, meta: dict, folder: Path, per_class: int = HELD_IN_PER_CLASS) -> np.ndarray:
    """Train-pool windows of the checkpoint's training condition that none of its training stages used: not its support
    set and, for a distilled edge model, not its distillation windows either."""
    task, used = used_windows(dataset, meta, folder)
    source = dataset.condition_names.index(task.source[0])
    rng = np.random.default_rng([task.seed, 2024])
    chosen = []
    for c, name in enumerate(dataset.class_names):
        pool = np.flatnonzero((dataset.labels == c) & (dataset.conditions == source) & (dataset.split == POOL))
        pool = np.setdiff1d(pool, used)
        if pool.size == 0:
            raise SyndiagError(f"{folder}: no held-in window of class {name} at {task.source[0]} (every one was used in training): "
                               "raise data.window.per_class")
        chosen.append(rng.permutation(pool)[:per_class])
    return np.sort(np.concatenate(chosen))


def calibrate_checkpoint(checkpoint: Path, false_alarm: float = 0.01, data_root: Path | None = None, device: str = "cpu",
                         batch_size: int = 64, detector: Detector = "spectral", healthy: Sequence[Path] = (),
                         recalibrate: str = "threshold") -> Calibration:
    """Fit the checkpoint's open-set detector on its own training data and store its (1 - false_alarm) threshold in
    CHECKPOINT/openset.json (the spectrum path's score in openset-detector.npz beside it); with ``healthy`` recordings,
    recalibrate the stored spectral detector on them instead (fitted first when there is none). Every input is checked
    before anything is written."""
    if not 0 < false_alarm < 1:
        raise ConfigError(f"--false-alarm must be in (0, 1), got {false_alarm}")
    if recalibrate not in RECALIBRATE:
        raise ConfigError(f"--recalibrate must be one of {', '.join(RECALIBRATE)}, got {recalibrate!r}")
    described = read_meta(checkpoint)
    meta = described.to_dict()
    if "task" not in meta:
        raise SyndiagError(f"{checkpoint}: not a fine-tuned checkpoint (its config.json records no training task, so its "
                           "held-in windows are unknown); calibrate the fine-tuned, distilled or exported model")
    sensor = meta.get("model") == "syndiag-sensor"
    if healthy and detector != "spectral":
        raise ConfigError(f"{checkpoint}: the healthy recalibration needs the spectral detector, which --detector msp turns off")
    data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
    if data_root is not None:
        data = data.model_copy(update={"data_root": data_root})
    channels, fs, length = list(described.channels), float(described.fs), data.window.length
    if sensor and detector == "spectral":
        channels, fs, length = sensor_channels(described.layout, str(checkpoint))
    if healthy:
        windows = healthy_windows(healthy, channels, fs, data.window.model_copy(update={"length": length}))
        existing = read_threshold(checkpoint)
        if existing is not None and existing.spectral:
            return _recalibrated(checkpoint, existing, healthy, windows, recalibrate, len(meta["class_names"]))
    dataset = prepare(data)
    if list(dataset.class_names) != list(meta["class_names"]):
        raise ConfigError(f"{checkpoint}: trained on classes {meta['class_names']}, the prepared data has {dataset.class_names}")
    if detector == "spectral":
        task, used = used_windows(dataset, meta, Path(checkpoint))
        read = sensor_vibration(Path(checkpoint), meta, data, dataset, channels) if sensor else None
        fs = fs if sensor else float(dataset.fs)
        fitted = fit_detector(dataset, task.train, task.seed, false_alarm, used, windows=read, fs=fs)
        found = OpenSetThreshold(threshold=fitted.threshold, false_alarm=false_alarm, windows=fitted.calibration_windows,
                                 weights_sha256=weights_digest(checkpoint), method=fitted.detector.score,
                                 detector_sha256="0" * 64, fs=fs, channels=channels, validation=fitted.validation)
        if healthy:
            threshold, recalibrated = recalibrate_detector(fitted.detector, fitted.threshold, windows, fs, recalibrate, false_alarm)
            found = replace(found, threshold=threshold, recalibration=_recalibration(healthy, windows, recalibrate, fitted.threshold))
            return _save(checkpoint, found, recalibrated, len(dataset.class_names))
        return _save(checkpoint, found, fitted.detector, len(dataset.class_names))
    indices = held_in_windows(dataset, meta, Path(checkpoint))
    if sensor:
        confidence = sensor_confidence(Path(checkpoint), data, dataset, indices, device, batch_size)
    else:
        predictor = load_predictor(checkpoint, device)
        present = np.ones((batch_size, len(described.channels)), dtype=bool)
        confidence = np.concatenate([predictor.predict(WindowBatch({}, present[: len(chunk)], dataset.rgb(chunk))).probabilities.max(1)
                                     for chunk in (indices[s : s + batch_size] for s in range(0, indices.size, batch_size))])
    threshold = OpenSetThreshold(threshold=calibrate_threshold(1.0 - confidence, false_alarm), false_alarm=false_alarm,
                                 windows=int(indices.size), weights_sha256=weights_digest(checkpoint))
    return Calibration(save_threshold(checkpoint, threshold), threshold, len(dataset.class_names))


def _recalibration(healthy: Sequence[Path], windows: np.ndarray, how: str, before: float) -> dict:
    return {"how": how, "files": [Path(f).name for f in healthy], "windows": int(len(windows)), "threshold_before": before}


def _recalibrated(checkpoint: Path, existing: OpenSetThreshold, healthy: Sequence[Path], windows: np.ndarray, how: str,
                  classes: int) -> Calibration:
    """The stored spectral detector recalibrated on the healthy windows, from its threshold before any recalibration."""
    remake = f"syndiag openset calibrate --checkpoint {checkpoint}"
    stored = read_detector(checkpoint, str(existing.detector_sha256), remake)
    base = (existing.recalibration or {}).get("threshold_before", existing.threshold)
    stored = SpectralDetector(stored.grid, stored.novelty, stored.score)
    threshold, recalibrated = recalibrate_detector(stored, float(base), windows, float(existing.fs), how, existing.false_alarm)
    found = replace(existing, threshold=threshold, recalibration=_recalibration(healthy, windows, how, float(base)))
    return _save(checkpoint, found, recalibrated, classes)


def _save(checkpoint: Path, found: OpenSetThreshold, detector: SpectralDetector, classes: int) -> Calibration:
    """The detector, then the threshold file that records its digest (the threshold last: a half-written pair is refused)."""
    _, digest = save_detector(checkpoint, detector)
    found = replace(found, detector_sha256=digest)
    return Calibration(save_threshold(checkpoint, found), found, classes)


def sensor_vibration(folder: Path, meta: dict, data: DataConfig, dataset: PreparedDataset, channels: list[str]) -> np.ndarray:
    """The sensor model's vibration ``channels`` (len(dataset), channels, length) at their rate, window ``i`` ending where
    ``dataset.windows[i]`` ends (``sensor_windows_for``): from the prepared windows when they are the dataset's own channels
    at its rate and length, else from the sensor recordings; a window lacking one of them is refused."""
    specs = [spec for spec in read_sensor_checkpoint(folder, meta).layout if spec.name in channels]
    own = all(spec.name in dataset.meta["channels"] and float(spec.fs) == float(dataset.fs) and spec.length == dataset.windows.shape[-1]
              for spec in specs)
    found = sensor_windows_for(dataset, None if own else sensor_recordings(data, False), specs)
    lacking = [spec.name for c, spec in enumerate(specs) if not found.present[:, c].all()]
    if lacking:
        raise DataError(f"{folder}: the training data lacks vibration channel(s) {', '.join(lacking)} in some windows; the spectral "
                        "detector reads every vibration channel of the layout (calibrate with --detector msp)")
    return np.stack([found.signals[name] for name in channels], axis=1)


def sensor_confidence(folder: Path, data: DataConfig, dataset: PreparedDataset, indices: np.ndarray, device: str, batch_size: int) -> np.ndarray:
    """The sensor model's top class probability on the windows at ``indices``, every channel of its layout read."""
    # defers matplotlib (the sensor workflow imports evaluation.metrics): only a sensor model's calibration needs it
    from syndiag.workflows.sensor import spectrogram_grid

    model = load_predictor(folder, device).model
    sensor_set = sensor_recordings(data, model.config.use_images)
    windows = sensor_windows_for(dataset, sensor_set, model.layout)
    inputs = SensorInputs(windows, dataset if model.extractor is not None else None, spectrogram_grid(model))
    return predict_sensor(model, inputs, indices, batch_size).probabilities.max(1)
