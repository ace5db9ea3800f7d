"""Diagnose a recording or a window file with a trained model: predicted fault, its description, top-k probabilities."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syndiag.config.data import SpectrogramConfig, WindowConfig
from syndiag.data.cwru import resample
from syndiag.data.model_input import read_model_input
from syndiag.data.recording import check_signal
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import ConfigError, DataError
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


def input_meta(checkpoint: str | Path) -> dict | None:
    """The channels, rate and data config a checkpoint or ONNX export needs, read cheaply from its config.json
    (no model is built); ``None`` when that file is missing, unreadable or lacks them."""
    import json

    try:
        meta = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not all(k in meta for k in ("channels", "fs", "data")):
        return None
    return meta


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


Classifier = Callable[[np.ndarray], np.ndarray]
"""uint8 RGB spectrograms (B, H, W, 3) -> class probabilities (B, C)."""


def torch_classifier(model) -> Classifier:
    """A cloud or edge ``nn.Module`` as a :data:`Classifier`."""
    import torch

    model.eval()

    @torch.inference_mode()
    def classify(images: np.ndarray) -> np.ndarray:
        return torch.softmax(model(torch.from_numpy(images)).float(), dim=-1).cpu().numpy()

    return classify


def load_model(folder: str | Path, device: str = "cpu", dtype: str = "float32"):
    """A cloud or an edge model from its checkpoint folder, by the kind its config names, on ``device``."""
    import json

    from syndiag.models.checkpoint import CONFIG, verify_checkpoint
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.models.device import place
    from syndiag.models.edge import SynDiagEdge

    folder = Path(folder)
    try:
        meta = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        kind = meta.get("model")
    except (OSError, json.JSONDecodeError, AttributeError):
        meta, kind = {}, None
    if kind == "syndiag-edge":
        if meta.get("teacher_checkpoint"):  # the teacher's extractor, gate and head serve the edge model too
            verify_checkpoint(meta["teacher_checkpoint"])
        model = SynDiagEdge.from_pretrained(folder)
    else:
        model = SynDiagCloud.from_pretrained(folder)
    return place(model, device, dtype)


def load_classifier(folder: str | Path, device: str = "cpu", dtype: str = "float32") -> tuple[Classifier, dict]:
    """A :data:`Classifier` and its checkpoint config from an ONNX export, or an edge or cloud checkpoint folder run on ``device``."""
    from syndiag.serving.onnx_runtime import OnnxClassifier, is_onnx_folder

    if is_onnx_folder(folder):
        onnx = OnnxClassifier(folder)
        return onnx, onnx.meta
    model = load_model(folder, device, dtype)
    return torch_classifier(model), model.checkpoint_meta


def diagnose(classify: Classifier, windows: np.ndarray | WindowStream, spectrogram: SpectrogramConfig, class_names: list[str],
             prompts: list[str], source: str, top_k: int = 3, batch_size: int = 64, *, block_size: int = BLOCK_SIZE,
             progress: Callable[[int, int], None] | None = None, model: str = "the model") -> Diagnosis:
    """Average the class probabilities of every window; report the top ``top_k`` classes, segments and majority.

    ``windows`` (an array or a :class:`WindowStream`) are cut ``block_size`` at a time, their spectrograms made and
    classified ``batch_size`` at a time, so memory does not grow with the recording; ``progress(done, total)``
    follows each block. Non-finite probabilities (a model with NaN/Inf weights) are refused, naming ``model``.
    """
    if not isinstance(windows, WindowStream):
        array = np.asarray(windows)
        windows = WindowStream(source, lambda a, b: array[a:b], array.shape[0], array.shape[1], array.shape[2], None, None, array.dtype)
    count, n_classes = windows.count, len(class_names)
    total = np.zeros(n_classes, dtype=np.float64)
    classes = np.empty(count, dtype=np.int64)
    confidence = np.empty(count, dtype=np.float32)
    for first, block in windows.blocks(block_size):
        for offset in range(0, len(block), batch_size):
            batch = block[offset : offset + batch_size]
            probs = np.asarray(classify(to_rgb(spectrogram_images(batch, spectrogram), spectrogram.colormap)))
            start = first + offset
            _check_output(probs, len(batch), n_classes, start, source, model)
            total += probs.sum(0, dtype=np.float64)
            best = probs.argmax(1)
            classes[start : start + len(batch)] = best
            confidence[start : start + len(batch)] = probs[np.arange(len(batch)), best]
        if progress is not None:
            progress(first + len(block), count)
    mean = total / max(1, count)
    order = np.argsort(-mean, kind="stable")[: max(1, top_k)]
    best = int(order[0])
    starts = windows.start_seconds(np.arange(count))
    return Diagnosis(
        source=source,
        windows=count,
        label=class_names[best],
        description=prompts[best],
        probability=float(mean[best]),
        top=[(class_names[i], prompts[i], float(mean[i])) for i in order],
        class_names=list(class_names),
        window_classes=classes,
        window_confidence=confidence,
        window_starts=starts,
        window_seconds=windows.window_seconds,
        segments=segments_of(classes, confidence, class_names, starts, windows.window_seconds),
        majority=majority_of(classes, class_names),
    )


def _check_output(probs: np.ndarray, n: int, n_classes: int, start: int, source: str, model: str) -> None:
    """Refuse class probabilities of the wrong shape or with NaN/Inf (never let them reach a result)."""
    if probs.shape != (n, n_classes):
        raise ConfigError(f"{model}: gave outputs of shape {probs.shape} for {n} windows of {n_classes} classes")
    finite = np.isfinite(probs).all(axis=1)
    if not finite.all():
        raise DataError(
            f"{model}: non-finite output (NaN/Inf class probabilities) for {int((~finite).sum())} of {n} windows, the first "
            f"window {start + int(np.argmin(finite))} of {source}; its weights hold NaN/Inf or overflow: nothing was diagnosed"
        )
