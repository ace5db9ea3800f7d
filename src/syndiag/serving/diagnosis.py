"""Diagnose a recording or a window file with a trained model: predicted fault, its description, top-k probabilities."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.config.data import SpectrogramConfig, WindowConfig
from syndiag.data.signal_files import file_format, read_channels
from syndiag.data.cwru import cwru_file_map, read_cwru_mat, resample
from syndiag.data.recording import check_signal
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Diagnosis:
    source: str
    windows: int
    label: str
    description: str
    probability: float
    top: list[tuple[str, str, float]]
    window_labels: list[str]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "windows": self.windows,
            "prediction": self.label,
            "description": self.description,
            "probability": round(self.probability, 4),
            "top": [{"class": c, "description": d, "probability": round(p, 4)} for c, d, p in self.top],
            "window_predictions": self.window_labels,
        }


def read_signal(path: Path, channels: list[str], fs: float | None, target_fs: float) -> tuple[np.ndarray, float]:
    """Signal (channels, n) at ``target_fs`` from a CWRU .mat (by its number), .mat/.csv/.npy/.npz."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    table = cwru_file_map()
    if path.suffix.lower() == ".mat" and path.stem.isdigit() and int(path.stem) in table:
        entry = table[int(path.stem)]
        return resample(read_cwru_mat(path, entry.number, channels), entry.fs_hz, target_fs), target_fs
    fmt = file_format(path)
    if fmt == "npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim in (2, 3) and array.shape[-2] == len(channels):
            if fs is not None and fs != target_fs:
                raise DataError(f"{path}: windows at {fs:g} Hz, the model was trained at {target_fs:g} Hz")
            return array, target_fs
    data = read_channels(path, fmt, channels if fmt in ("mat", "npz") else None)
    rate = fs or data.fs
    if rate is None:
        raise DataError(f"{path}: sampling rate unknown; pass --fs")
    signal = data.signal
    if signal.shape[0] != len(channels):
        raise DataError(f"{path}: {signal.shape[0]} channel(s) read, the model expects {len(channels)} ({', '.join(channels)})")
    if rate != target_fs:
        log.warning("%s: resampling from %g Hz to the model's %g Hz", path, rate, target_fs)
        signal = resample(signal, rate, target_fs)
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

    from syndiag.models.checkpoint import CONFIG
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.models.device import place
    from syndiag.models.edge import SynDiagEdge

    folder = Path(folder)
    try:
        kind = json.loads((folder / CONFIG).read_text(encoding="utf-8")).get("model")
    except (OSError, json.JSONDecodeError, AttributeError):
        kind = None
    model = SynDiagEdge.from_pretrained(folder) if kind == "syndiag-edge" else SynDiagCloud.from_pretrained(folder)
    return place(model, device, dtype)


def load_classifier(folder: str | Path, device: str = "cpu", dtype: str = "float32") -> tuple[Classifier, dict]:
    """A :data:`Classifier` and its checkpoint config from an ONNX export, or an edge or cloud checkpoint folder run on ``device``."""
    from syndiag.serving.onnx_runtime import OnnxClassifier, is_onnx_folder

    if is_onnx_folder(folder):
        onnx = OnnxClassifier(folder)
        return onnx, onnx.meta
    model = load_model(folder, device, dtype)
    return torch_classifier(model), model.checkpoint_meta


def diagnose(classify: Classifier, windows: np.ndarray, spectrogram: SpectrogramConfig, class_names: list[str], prompts: list[str], source: str, top_k: int = 3, batch_size: int = 64) -> Diagnosis:
    """Average the class probabilities of every window; report the top ``top_k`` classes."""
    probs = np.concatenate([
        classify(to_rgb(spectrogram_images(windows[start : start + batch_size], spectrogram), spectrogram.colormap))
        for start in range(0, len(windows), batch_size)
    ])
    mean = probs.mean(0)
    order = np.argsort(-mean)[: max(1, top_k)]
    best = int(order[0])
    return Diagnosis(
        source=source,
        windows=len(windows),
        label=class_names[best],
        description=prompts[best],
        probability=float(mean[best]),
        top=[(class_names[i], prompts[i], float(mean[i])) for i in order],
        window_labels=[class_names[i] for i in probs.argmax(1)],
    )
