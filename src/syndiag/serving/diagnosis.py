"""The one window loop: a recording's windows (:mod:`syndiag.serving.stream`) through any :class:`Predictor`, summarised as
the predicted fault, its description, top-k probabilities, segments and majority; a sensor model adds the severity.

Severity is aggregated over the windows whose own most probable class is the predicted one (all windows if none is):
each window gives a Gaussian (mean, std in the severity's unit), and the report is the mixture of those Gaussians: its
mean, its standard deviation (law of total variance: mean within-window variance plus the variance of the window means)
and the 90 % interval mean ± 1.645 std, clipped to the checkpoint's severity range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syndiag.errors import ConfigError, DataError
from syndiag.models.meta import read_meta
from syndiag.serving.predictor import (
    Classifier,
    Predictor,
    SensorPredictor,
    SpectrogramPredictor,
    WindowBatch,
    check_finite,
    load_predictor,
    load_torch_model,
)
from syndiag.serving.sensor_plan import SENSOR_KIND, SensorCheckpoint
from syndiag.serving.stream import EndingWindows, WindowStream
from syndiag.serving.summary import Segment, majority_of, segments_of, window_rows

Z_90 = 1.645
"""Half-width of a two-sided 90 % Gaussian interval, in standard deviations."""

BLOCK_SIZE = 256
"""Windows cut from a recording at once by :func:`diagnose` (their spectrograms are made ``batch_size`` at a time)."""


@dataclass
class Diagnosis:
    """A recording's diagnosis: the class of highest mean probability over its windows, the top-k classes, the class
    over time as segments and the majority class; the class and probability of every window, kept compactly."""

    source: str
    windows: int
    label: str
    description: str
    probability: float
    top: list[tuple[str, str, float]]
    class_names: list[str]
    window_classes: np.ndarray  # (windows,) index of each window's most probable class
    window_confidence: np.ndarray  # (windows,) its probability
    window_starts: np.ndarray | None = None  # (windows,) start of each window in seconds; None for a window file
    window_seconds: float | None = None
    segments: list[Segment] = field(default_factory=list)
    majority: tuple[str, int, float] = ("", 0, 0.0)  # class, windows, share
    unknown: dict | None = None  # the open-set verdict when the checkpoint holds a threshold (OpenSetThreshold.verdict)

    @property
    def window_labels(self) -> list[str]:
        return [self.class_names[i] for i in self.window_classes.tolist()]

    def window_rows(self) -> Iterator[dict]:
        """One row per window: index, start_s, end_s, class, probability."""
        return window_rows(self.window_classes, self.window_confidence, self.class_names, self.window_starts, self.window_seconds)

    def to_dict(self, per_window: bool = False) -> dict:
        """The summary and segments; every window's row too with ``per_window``."""
        found = {
            "source": self.source,
            "windows": self.windows,
            "prediction": self.label,
            "description": self.description,
            "probability": round(self.probability, 4),
            "top": [{"class": c, "description": d, "probability": round(p, 4)} for c, d, p in self.top],
            "majority": {"class": self.majority[0], "windows": self.majority[1], "share": round(self.majority[2], 4)},
            "window_seconds": self.window_seconds,
            "segments": [segment.to_dict() for segment in self.segments],
        }
        if self.unknown is not None:
            found["unknown"] = self.unknown
        if per_window:
            found["per_window"] = list(self.window_rows())
        return found


@dataclass(frozen=True)
class Severity:
    """The severity of the predicted class: mixture mean and std over its windows, the 90 % interval, the unit."""

    mean: float
    std: float
    low: float
    high: float
    unit: str | None
    windows: int
    label: str

    def describe(self) -> str:
        """``0.0141 in (90 % interval 0.0102 to 0.0180)``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.mean:.4f}{unit} (90 % interval {self.low:.4f} to {self.high:.4f}{unit})"

    def to_dict(self) -> dict:
        return {"mean": round(self.mean, 6), "std": round(self.std, 6), "interval_90": [round(self.low, 6), round(self.high, 6)],
                "unit": self.unit, "class": self.label, "windows": self.windows}


@dataclass
class SensorDiagnosis(Diagnosis):
    """A recording's diagnosis by a sensor model: a :class:`Diagnosis` with severity and the layout channels the file lacked."""

    severity: Severity | None = None
    channels: list[str] = field(default_factory=list)
    missing_channels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self, per_window: bool = False) -> dict:
        found = super().to_dict(per_window)
        found.update({"model": SENSOR_KIND, "severity": self.severity.to_dict() if self.severity else None,
                      "channels": self.channels, "missing_channels": self.missing_channels, "notes": self.notes})
        return found


def load_model(folder: str | Path, device: str = "cpu", dtype: str = "float32"):
    """A cloud or an edge model from its checkpoint folder, by the kind its description names, on ``device``."""
    return load_torch_model(Path(folder), read_meta(folder), device, dtype)


def load_classifier(folder: str | Path, device: str = "cpu", dtype: str = "float32") -> tuple[Classifier, dict]:
    """A :data:`Classifier` and its checkpoint config from an ONNX export, or an edge or cloud checkpoint folder run on ``device``."""
    predictor = load_predictor(folder, device, dtype)
    if not isinstance(predictor, SpectrogramPredictor):
        raise ConfigError(f"{folder}: a {predictor.meta.model} model reads several sensors, not spectrograms alone")
    return predictor.classify, predictor.meta.to_dict()


@dataclass
class Accumulated:
    """What the window loop gathers: the mean class probabilities and each window's class, confidence and severity."""

    mean: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    severity_mean: np.ndarray
    severity_std: np.ndarray


def accumulate(predictor: Predictor, blocks: Iterable[tuple[int, WindowBatch]], count: int, batch_size: int = 64,
               progress: Callable[[int, int], None] | None = None, source: str = "") -> Accumulated:
    """Every window through ``predictor``, ``batch_size`` at a time, block by block (memory bounded by a block)."""
    n_classes = len(predictor.meta.class_names)
    total = np.zeros(n_classes, dtype=np.float64)
    classes, confidence = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.float32)
    severity_mean, severity_std = np.full(count, np.nan), np.full(count, np.nan)
    for first, block in blocks:
        for offset in range(0, len(block), batch_size):
            rows = slice(offset, offset + batch_size)
            batch = WindowBatch({k: v[rows] for k, v in block.signals.items()}, block.present[rows],
                                None if block.images is None else block.images[rows])
            found = predictor.predict(batch)
            start, end = first + offset, first + offset + len(batch)
            check_finite(found.probabilities, start, source, str(predictor.folder or "the model"))
            total += found.probabilities.sum(0, dtype=np.float64)
            best = found.probabilities.argmax(1)
            classes[start:end], confidence[start:end] = best, found.probabilities[np.arange(len(batch)), best]
            if found.severity_mean is not None:
                severity_mean[start:end], severity_std[start:end] = found.severity_mean, found.severity_std
        if progress is not None:
            progress(first + len(block), count)
    return Accumulated(total / max(1, count), classes, confidence, severity_mean, severity_std)


def summarise(found: Accumulated, meta, source: str, top_k: int, starts: np.ndarray | None, seconds: float | None,
              kind: type[Diagnosis] = Diagnosis, **extra) -> Diagnosis:
    """The recording's :class:`Diagnosis` (or ``kind``) from the accumulated windows: top-k classes, segments, majority."""
    names, prompts = meta.class_names, meta.prompts
    order = np.argsort(-found.mean, kind="stable")[: max(1, top_k)]
    best = int(order[0])
    return kind(source=source, windows=found.classes.size, label=names[best], description=prompts[best], probability=float(found.mean[best]),
                top=[(names[i], prompts[i], float(found.mean[i])) for i in order], class_names=list(names),
                window_classes=found.classes, window_confidence=found.confidence, window_starts=starts, window_seconds=seconds,
                segments=segments_of(found.classes, found.confidence, names, starts, seconds), majority=majority_of(found.classes, names),
                **extra)


def diagnose(predictor: Predictor, windows: np.ndarray | WindowStream | EndingWindows, source: str, top_k: int = 3,
             batch_size: int = 64, *, block_size: int = BLOCK_SIZE, progress: Callable[[int, int], None] | None = None) -> Diagnosis:
    """Average the class probabilities of every window; report the top ``top_k`` classes, segments and majority (and, for
    a sensor model, the severity and the channels the recording lacked).

    ``windows`` (an array (m, channels, length), or the windows :func:`syndiag.serving.stream.open_input` opened) are cut
    ``block_size`` at a time and predicted ``batch_size`` at a time, so memory does not grow with the recording;
    ``progress(done, total)`` follows each block. Non-finite probabilities (a model with NaN/Inf weights) are refused,
    naming the model."""
    if isinstance(windows, np.ndarray):
        array = windows
        windows = WindowStream(source, lambda a, b: array[a:b], array.shape[0], array.shape[1], array.shape[2], None, None, array.dtype)
    found = accumulate(predictor, windows.batches(block_size, predictor.needs.names), windows.count, batch_size, progress, source)
    starts, seconds = windows.start_seconds(np.arange(windows.count)), windows.window_seconds
    if not isinstance(predictor, SensorPredictor):
        return summarise(found, predictor.meta, source, top_k, starts, seconds)
    best = int(np.argsort(-found.mean, kind="stable")[0])
    read = windows.found if isinstance(windows, EndingWindows) else None
    return summarise(found, predictor.meta, source, top_k, starts, seconds, SensorDiagnosis,
                     severity=aggregate_severity(found.severity_mean, found.severity_std, found.classes, best, predictor.plan),
                     channels=predictor.plan.names, missing_channels=list(read.missing) if read else [],
                     notes=list(read.notes) if read else [])


def aggregate_severity(means: np.ndarray, stds: np.ndarray, classes: np.ndarray, best: int, plan: SensorCheckpoint) -> Severity | None:
    """The mixture of the per-window severity Gaussians over the windows of class ``best`` (all windows if none is); None
    without a severity head. Interval: mean ± 1.645 std, clipped to the checkpoint's severity range."""
    if not np.isfinite(means).any():
        return None
    chosen = classes == best
    if not chosen.any():
        chosen = np.ones_like(chosen)
    chosen &= np.isfinite(means) & np.isfinite(stds)
    if not chosen.any():
        raise DataError(f"{plan.folder}: non-finite severity output for every window: nothing was diagnosed")
    mean = float(means[chosen].mean())
    std = float(math.sqrt(float((stds[chosen] ** 2).mean() + means[chosen].var())))
    low, high = plan.severity_range
    return Severity(mean, std, max(low, mean - Z_90 * std), min(high, mean + Z_90 * std), plan.unit, int(chosen.sum()),
                    plan.class_names[best])
