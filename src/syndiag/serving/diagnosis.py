"""Diagnose a recording or a window file with a trained model: predicted fault, its description, top-k probabilities."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syndiag.config.data import WindowConfig
from syndiag.data.cwru import resample
from syndiag.data.model_input import read_model_input
from syndiag.data.recording import check_signal
from syndiag.errors import ConfigError, DataError
from syndiag.serving.predictor import Classifier, Predictor, SpectrogramPredictor, WindowBatch, check_finite, load_predictor
from syndiag.serving.stream import WindowStream
from syndiag.serving.summary import Segment, majority_of, segments_of, window_rows

log = logging.getLogger(__name__)

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


def read_signal(path: Path, channels: list[str], fs: float | None, target_fs: float,
                select: str | list[str | int] | None = None) -> tuple[np.ndarray, float]:
    """Signal (channels, n) at ``target_fs``, or windows (m, channels, length), from a .mat (an original CWRU file by
    its own variables), .csv, .npy or .npz file; checked (channels, rate, finite values) before any model loads.

    ``channels`` are the model's; ``select`` names the file's channels to read in their place (``--channels``).
    """
    found = read_model_input(path, channels, fs, target_fs, select)
    if found.windows:
        return found.signal, target_fs
    signal = found.signal
    if found.fs != target_fs:
        log.warning("%s: resampling from %g Hz to the model's %g Hz", path, found.fs, target_fs)
        signal = resample(signal, found.fs, target_fs)
    return signal, target_fs


def window_array(signal: np.ndarray, window: WindowConfig, source: str) -> np.ndarray:
    """(channels, n) -> windows (m, channels, length) every ``window.step`` samples, as the model's data were cut;
    (m, channels, length) unchanged."""
    check_signal(signal, source)
    if signal.ndim == 3:
        if signal.shape[-1] != window.length:
            raise DataError(f"{source}: windows of {signal.shape[-1]} samples, the model expects {window.length}")
        return signal.astype(np.float32)
    if signal.shape[-1] < window.length:
        raise DataError(f"{source}: {signal.shape[-1]} samples, shorter than one window of {window.length}")
    starts = np.arange(0, signal.shape[-1] - window.length + 1, window.step)
    return np.stack([signal[:, s : s + window.length] for s in starts]).astype(np.float32)


def load_model(folder: str | Path, device: str = "cpu", dtype: str = "float32"):
    """A cloud or an edge model from its checkpoint folder, by the kind its description names, on ``device``."""
    from syndiag.models.meta import read_meta
    from syndiag.serving.predictor import load_torch_model

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


def diagnose(predictor: Predictor, windows: np.ndarray | WindowStream, source: str, top_k: int = 3, batch_size: int = 64, *,
             block_size: int = BLOCK_SIZE, progress: Callable[[int, int], None] | None = None) -> Diagnosis:
    """Average the class probabilities of every window; report the top ``top_k`` classes, segments and majority.

    ``windows`` (an array (m, channels, length) or a :class:`WindowStream`) are cut ``block_size`` at a time and
    predicted ``batch_size`` at a time, so memory does not grow with the recording; ``progress(done, total)`` follows
    each block. Non-finite probabilities (a model with NaN/Inf weights) are refused, naming the model."""
    if not isinstance(windows, WindowStream):
        array = np.asarray(windows)
        windows = WindowStream(source, lambda a, b: array[a:b], array.shape[0], array.shape[1], array.shape[2], None, None, array.dtype)
    names = predictor.meta.channels
    blocks = ((first, WindowBatch.of_array(block, names)) for first, block in windows.blocks(block_size))
    found = accumulate(predictor, blocks, windows.count, batch_size, progress, source)
    return summarise(found, predictor.meta, source, top_k, windows.start_seconds(np.arange(windows.count)), windows.window_seconds)
