"""The open-set detector of a checkpoint (issue 30): the discriminant spectrum path fitted on the checkpoint's own
training data, the best novelty score by validation on that data (each known fault class in turn left out and scored
as the unknown), its threshold at a stated false-alarm rate on held-in windows; and the healthy recalibration on a
user's recordings of the machine running healthy in a new condition. A sensor model's detector reads the vibration
channels of its layout at their one rate (``sensor_channels``), from a recording's layout windows too (``detector_blocks``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.config.data import WindowConfig
from syndiag.config.spectral import SpectralPathConfig
from syndiag.data.fewshot import pretraining_pool
from syndiag.data.model_input import read_model_input
from syndiag.data.prepare import PreparedDataset
from syndiag.data.windowing import POOL
from syndiag.errors import DataError
from syndiag.models.openset import auroc, calibrate_threshold
from syndiag.models.openset_detector import SpectralDetector, layout_windows, read_detector
from syndiag.models.openset_spectral import NOVELTY_SCORES, SpectralNovelty
from syndiag.models.openset_threshold import OpenSetThreshold
from syndiag.models.spectral_discriminant import SpectralDiscriminant
from syndiag.models.spectrum_view import spectrum_view
from syndiag.serving.stream import array_windows
from syndiag.training.spectral import WindowArray, fit_spectral_path, with_noisy_copies

POOL_SHOTS = 7
"""Windows per class and condition of the path's labelled pool (the alignment pool of the Syn-Diag protocol)."""
VALIDATION_PER_CLASS, CALIBRATION_PER_CLASS = 20, 50
"""Held-in windows per class and condition that choose the score, then that set its threshold (disjoint)."""
RECALIBRATE = ("threshold", "recentre")
BLOCK = 256


@dataclass
class FittedDetector:
    detector: SpectralDetector
    threshold: float
    validation: dict[str, float]
    calibration_windows: int


def validate(noisy: np.ndarray, noisy_labels: np.ndarray, views: np.ndarray, labels: np.ndarray, held: np.ndarray,
             held_labels: np.ndarray, components: int, seed: int, healthy: int | None) -> dict[str, float]:
    """Mean AUROC of each score when each known fault class in turn is left out of the fit (pseudo-unknown): the
    discriminant refitted without it (its noisy copies too), the scores fitted on the other classes' clean views, then
    the left-out class's held-in windows scored against the other classes' held-in windows."""
    found = {name: [] for name in NOVELTY_SCORES}
    for left in np.unique(labels):
        if left == healthy:
            continue
        keep, keep_noisy = labels != left, noisy_labels != left
        discriminant = SpectralDiscriminant.fit(noisy[keep_noisy], noisy_labels[keep_noisy], components, seed)
        novelty = SpectralNovelty.fit(discriminant, views[keep], labels[keep], healthy)
        scores = novelty.scores(held)
        for name in NOVELTY_SCORES:
            found[name].append(auroc(scores[name][held_labels != left], scores[name][held_labels == left]))
    return {name: round(float(np.mean(v)), 4) for name, v in found.items()}


def held_in(labels: np.ndarray, conditions: np.ndarray, split: np.ndarray, classes: int, codes: Sequence[int], used: np.ndarray,
            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train-half windows that nothing was fitted on (not in ``used``): per class and condition, up to
    VALIDATION_PER_CLASS (at most half of them) for choosing the score, and the next CALIBRATION_PER_CLASS for the threshold."""
    rng = np.random.default_rng([seed, 3131])
    validation, calibration = [], []
    for c in range(classes):
        for code in codes:
            rows = rng.permutation(np.setdiff1d(np.flatnonzero((labels == c) & (conditions == code) & (split == POOL)), used))
            first = min(VALIDATION_PER_CLASS, rows.size // 2)
            validation.append(rows[:first])
            calibration.append(rows[first:first + CALIBRATION_PER_CLASS])
    return np.concatenate(validation), np.concatenate(calibration)


def fit_detector(dataset: PreparedDataset, support: np.ndarray, seed: int, false_alarm: float, used: np.ndarray | None = None,
                 config: SpectralPathConfig | None = None, windows: np.ndarray | None = None, fs: float | None = None) -> FittedDetector:
    """The detector of a checkpoint trained on ``support`` (indices into ``dataset``): the path fitted on the labelled
    pool of every condition of the data (POOL_SHOTS windows per class and condition, at most half of those there are), the scores on the clean views of the pool and the support, the score chosen by
    validation, the threshold at ``false_alarm`` on held-in windows of every condition (not in ``used`` either).
    ``windows`` (len(dataset), channels, length) at ``fs``: what the detector reads instead of ``dataset.windows`` (a
    sensor model's vibration channels, aligned 1:1 with the dataset's windows)."""
    config = config or SpectralPathConfig()
    source = np.asarray(dataset.windows) if windows is None else np.asarray(windows)
    fs = float(dataset.fs if fs is None else fs)
    if len(source) != len(dataset.labels):
        raise DataError(f"the detector's windows are {len(source)}, the dataset's {len(dataset.labels)}: they must be aligned 1:1")
    labels, conditions, split = (np.asarray(a) for a in (dataset.labels, dataset.conditions, dataset.split))
    classes = len(dataset.class_names)
    fewest = min(int(np.sum((labels == c) & (conditions == k) & (split == POOL))) for c in range(classes)
                 for k in range(len(dataset.condition_names)))
    if fewest < 4:
        raise DataError(f"the spectral open-set detector needs 4 or more train-pool windows of every class at every condition "
                        f"(2 to fit, 2 held in), the data has {fewest}: raise data.window.per_class, or calibrate with --detector msp")
    pool = pretraining_pool(dataset, seed, k=min(POOL_SHOTS, fewest // 2))  # half of a small pool stays held in
    path = fit_spectral_path(source[pool], labels[pool], conditions[pool], fs, config, seed)
    noisy, noisy_labels = with_noisy_copies(WindowArray(source, fs, path.grid), pool, labels[pool], config,
                                            np.random.default_rng([seed, 3030]))
    fit = np.union1d(pool, support)
    exclude = fit if used is None else np.union1d(fit, used)
    validation_rows, calibration_rows = held_in(labels, conditions, split, classes, range(len(dataset.condition_names)), exclude, seed)

    def views(rows: np.ndarray) -> np.ndarray:
        return spectrum_view(source[rows], fs, path.grid)

    healthy = dataset.class_names.index("normal") if "normal" in dataset.class_names else None
    validation = validate(noisy, noisy_labels, views(pool), labels[pool], views(validation_rows), labels[validation_rows],
                          path.components, seed, healthy)
    chosen = max(NOVELTY_SCORES, key=lambda n: (validation[n], -NOVELTY_SCORES.index(n)))
    novelty = SpectralNovelty.fit(path.discriminant, views(fit), labels[fit], healthy)
    threshold = calibrate_threshold(novelty.scores(views(calibration_rows), (chosen,))[chosen], false_alarm)
    return FittedDetector(SpectralDetector(path.grid, novelty, chosen), threshold, validation, int(calibration_rows.size))


def healthy_windows(files: Sequence[Path], channels: list[str], fs: float, window: WindowConfig) -> np.ndarray:
    """The windows (n, channels, length) of the user's healthy recordings, each checked to hold the detector's channels
    at its rate: a recording at another rate or with another channel layout is refused, naming the file and both."""
    if not files:
        raise DataError("the healthy recalibration needs at least one recording of the machine running healthy (--healthy FILE)")
    found = []
    for file in files:
        signal = read_model_input(Path(file), channels, None, fs)
        if not np.isclose(signal.fs, fs):
            raise DataError(f"{file}: recorded at {signal.fs:g} Hz; the detector was fitted on {fs:g} Hz windows. Give healthy "
                            f"recordings at {fs:g} Hz (the checkpoint's rate)")
        shape = signal.signal.shape
        if shape[-2 if signal.windows else 0] != len(channels):
            raise DataError(f"{file}: holds {shape[-2 if signal.windows else 0]} channel(s), the detector reads {len(channels)} "
                            f"({', '.join(channels)})")
        stream = array_windows(signal.signal, window, str(file), fs)  # refuses a recording shorter than one window
        found += [block for _, block in stream.blocks(256)]
    return np.concatenate(found)


def recalibrate(detector: SpectralDetector, threshold: float, windows: np.ndarray, fs: float, how: str,
                false_alarm: float) -> tuple[float, SpectralDetector]:
    """The threshold and detector after the healthy recalibration ``how`` on the healthy ``windows`` of the new condition:
    ``threshold`` keeps the higher of the threshold and the healthy windows' conformal quantile; ``recentre`` moves
    every view by the healthy windows' offset from the training data's healthy class."""
    healthy_views = detector.views(windows, fs, "the healthy recordings")
    if how == "threshold":
        own = calibrate_threshold(detector.novelty.scores(healthy_views, (detector.score,))[detector.score], false_alarm)
        return max(threshold, own), detector
    if how == "recentre":
        return threshold, SpectralDetector(detector.grid, detector.novelty, detector.score, detector.novelty.offset(healthy_views))
    raise DataError(f"unknown recalibration {how!r}; known: {', '.join(RECALIBRATE)}")


def detector_of(checkpoint: Path, threshold: OpenSetThreshold | None) -> SpectralDetector | None:
    """The spectral detector that the checkpoint's threshold names (None for none or the msp score), checked."""
    if threshold is None or not threshold.spectral:
        return None
    return read_detector(checkpoint, str(threshold.detector_sha256), f"syndiag openset calibrate --checkpoint {checkpoint}")


def sensor_channels(layout: Sequence, source: str) -> tuple[list[str], float, int]:
    """The channels a sensor model's detector reads: the layout's vibration channels (what its spectrum view reads), their
    one rate and window length; a layout whose vibration channels differ in rate or length is refused (msp instead)."""
    specs = [spec if isinstance(spec, dict) else spec.model_dump() for spec in layout]
    vibration = [spec for spec in specs if spec.get("kind", "vibration") == "vibration"]
    if not vibration:
        raise DataError(f"{source}: the spectral open-set detector reads vibration channels; the layout has none "
                        "(calibrate with --detector msp)")
    rates = {(float(spec["fs"]), int(spec["length"])) for spec in vibration}
    if len(rates) > 1:
        described = ", ".join(f"{spec['name']} {float(spec['fs']):g} Hz x {spec['length']}" for spec in vibration)
        raise DataError(f"{source}: the spectral open-set detector reads the vibration channels as one array, these differ "
                        f"in rate or window length ({described}); "
                        "calibrate with --detector msp")
    (fs, length), = rates
    return [spec["name"] for spec in vibration], fs, length


def detector_blocks(windows, channels: list[str]):
    """The windows (m, channels, length) the detector reads, block by block, from a recording's windows: a stream with
    ``blocks`` as it stands, a sensor layout's (``EndingWindows``) as its ``channels`` stacked, windows lacking one left out."""
    if hasattr(windows, "blocks"):
        yield from (block for _, block in windows.blocks(BLOCK))
        return
    for _, batch in windows.batches(BLOCK):
        yield layout_windows(batch.signals, batch.present, windows.plan.names, channels)[0]


def spectral_verdict(detector: SpectralDetector, threshold: OpenSetThreshold, windows, fs: float) -> dict | None:
    """The open-set verdict of a recording's windows at the detector's rate (``fs`` for a threshold that records none)
    from the detector's scores; None when no window holds every channel the detector reads (no verdict rather than one
    of a zero-filled channel)."""
    source, rate = str(getattr(windows, "source", "the recording")), float(threshold.fs or fs)
    scores = [detector.scores(block, rate, source) for block in detector_blocks(windows, list(threshold.channels or []))]
    scores = np.concatenate(scores) if scores else np.zeros(0)
    return threshold.verdict_of(scores) if scores.size else None
