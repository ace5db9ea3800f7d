"""One interface for every model that diagnoses windows (like anomalib's inferencers): a :class:`Predictor` has the
checkpoint's typed description (``meta``), what it reads (``needs``: channels with their rates and window lengths) and
``predict(batch) -> Prediction`` (class probabilities, and the severity when the model has a severity head).
:func:`load_predictor` reads a model folder's description once, verifies its weights once, places the model once and
returns the implementation its kind names: the Syn-Diag cloud and edge models in PyTorch or as an ONNX export
(spectrograms of the windows through the classifier), and the sensor model (several sensors at their own rates)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.config.runtime import RuntimeConfig
from syndiag.data.spectrogram import spectrogram_images, stacked_tokens_present, to_rgb
from syndiag.errors import ConfigError, DataError
from syndiag.models.checkpoint import verify_checkpoint
from syndiag.models.meta import CheckpointMeta, Needs, is_onnx, read_meta
from syndiag.serving.onnx_runtime import OnnxClassifier
from syndiag.serving.sensor_plan import SensorCheckpoint, read_sensor_checkpoint

Classifier = Callable[[np.ndarray], np.ndarray]
"""uint8 RGB spectrograms (B, H, W, 3) -> class probabilities (B, C)."""


@dataclass
class WindowBatch:
    """B windows of every channel a predictor needs: ``signals[name]`` (B, that channel's window length) float32,
    ``present`` (B, channels) whether each channel was recorded, ``images`` the spectrograms when made already."""

    signals: dict[str, np.ndarray]
    present: np.ndarray
    images: np.ndarray | None = None

    @classmethod
    def of_array(cls, windows: np.ndarray, names: list[str]) -> WindowBatch:
        """Windows (B, channels, length) of channels ``names`` (all recorded)."""
        return cls({name: windows[:, i] for i, name in enumerate(names)}, np.ones((windows.shape[0], len(names)), dtype=bool))

    def __len__(self) -> int:
        return self.present.shape[0]


@dataclass
class Prediction:
    """Per window: class probabilities (B, C); the severity's Gaussian (mean, std) (B,) when the model has that head; the
    fused representation the heads read (B, hidden) when the model has one (the sensor model's ``h``)."""

    probabilities: np.ndarray
    severity_mean: np.ndarray | None = None
    severity_std: np.ndarray | None = None
    fused: np.ndarray | None = None


class Predictor(Protocol):
    meta: CheckpointMeta
    folder: Path | None

    @property
    def needs(self) -> Needs: ...

    def predict(self, batch: WindowBatch) -> Prediction: ...


def check_shape(probs: np.ndarray, n: int, n_classes: int, model: str) -> np.ndarray:
    """Refuse class probabilities of the wrong shape (a model of other classes or a broken graph)."""
    if probs.shape != (n, n_classes):
        raise ConfigError(f"{model}: gave outputs of shape {probs.shape} for {n} windows of {n_classes} classes")
    return probs


def check_finite(probs: np.ndarray, first: int, source: str, model: str) -> None:
    """Refuse NaN/Inf class probabilities (never let them reach a result), naming the first such window."""
    finite = np.isfinite(probs).all(axis=1)
    if not finite.all():
        raise DataError(f"{model}: non-finite output (NaN/Inf class probabilities) for {int((~finite).sum())} of {len(probs)} windows, "
                        f"the first window {first + int(np.argmin(finite))} of {source}; its weights hold NaN/Inf or overflow: "
                        "nothing was diagnosed")


def check_batch(batch: WindowBatch, needs: Needs, folder: Path | None) -> None:
    """Refuse windows of a channel the model does not know, lacking one it needs, or of another length (DataError naming it)."""
    unknown = sorted(set(batch.signals) - set(needs.names))
    lacking = [c.name for c in needs.channels if c.name not in batch.signals]
    wrong = [f"{c.name} has {batch.signals[c.name].shape[-1]} samples, not {c.length}" for c in needs.channels
             if c.name in batch.signals and batch.signals[c.name].shape[-1] != c.length]
    if unknown or lacking or wrong:
        problems = ([f"unknown channel(s) {', '.join(unknown)}"] if unknown else []) + \
                   ([f"lacks channel(s) {', '.join(lacking)}"] if lacking else []) + wrong
        raise DataError(f"{folder or 'the model'} reads {needs.describe()}: the windows given {'; '.join(problems)}")


class SpectrogramPredictor:
    """Syn-Diag (cloud or edge, PyTorch or ONNX): the windows' CWT spectrograms (§4.1) through a classifier."""

    def __init__(self, meta: CheckpointMeta, classify: Classifier, folder: Path | None = None, model: Any = None) -> None:
        self.meta, self.classify, self.folder, self.model = meta, classify, folder, model
        self.data = DataConfig.from_dict(meta.data, source=f"{folder or 'model'} data")
        self.spectrogram = self.data.spectrogram

    @property
    def needs(self) -> Needs:
        return self.meta.needs

    def images(self, batch: WindowBatch) -> np.ndarray:
        check_batch(batch, self.needs, self.folder)
        stacked = np.stack([batch.signals[name] for name in self.meta.channels], axis=1)
        return to_rgb(spectrogram_images(stacked, self.spectrogram), self.spectrogram.colormap)

    def predict(self, batch: WindowBatch) -> Prediction:
        images = batch.images if batch.images is not None else self.images(batch)
        probs = np.asarray(self.classify(images))
        return Prediction(check_shape(probs, len(batch), len(self.meta.class_names), str(self.folder or "the model")))


class SensorPredictor:
    """LLaVA-for-Sensors: every channel of the layout at its own rate (and the stacked spectrogram) through the sensor model."""

    def __init__(self, meta: CheckpointMeta, plan: SensorCheckpoint, model: Any) -> None:
        self.meta, self.plan, self.model, self.folder = meta, plan, model, plan.folder
        self.stacked = [plan.names.index(name) for name in plan.stacked]

    @property
    def needs(self) -> Needs:
        return self.meta.needs

    def predict(self, batch: WindowBatch) -> Prediction:
        # defers torch: the predictors of ONNX exports run without it
        import torch

        from syndiag.models.sensor_heads import SensorBatch

        check_batch(batch, self.needs, self.folder)
        tokens = None
        if batch.images is not None and self.plan.grid:
            tokens = torch.from_numpy(stacked_tokens_present(batch.present, self.stacked, self.plan.grid))
        samples = {name: torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)) for name, values in batch.signals.items()}
        inputs = SensorBatch(signals=samples, present=torch.from_numpy(np.ascontiguousarray(batch.present)),
                             spectrograms=None if batch.images is None else torch.from_numpy(np.ascontiguousarray(batch.images)),
                             spectrogram_present=tokens)
        with torch.inference_mode():
            output = self.model(inputs)
        probs = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
        check_shape(probs, len(batch), len(self.meta.class_names), str(self.folder))
        fused = output.fused.float().cpu().numpy()
        if output.severity_mean is None:
            return Prediction(probs, fused=fused)
        return Prediction(probs, output.severity_mean.float().cpu().numpy(), output.severity_std.float().cpu().numpy(), fused)


def torch_classifier(model) -> Classifier:
    """A cloud or edge ``nn.Module`` as a :data:`Classifier`."""
    import torch  # defers torch: the predictors of ONNX exports run without it

    model.eval()

    @torch.inference_mode()
    def classify(images: np.ndarray) -> np.ndarray:
        return torch.softmax(model(torch.from_numpy(images)).float(), dim=-1).cpu().numpy()

    return classify


def model_predictor(model, data: dict[str, Any], class_names: list[str], prompts: list[str]) -> SpectrogramPredictor:
    """The Predictor of a cloud or edge model in memory (just trained, not saved), described by the prepared data it
    reads (``data``: a prepared dataset's meta, with its channels, rate and data config)."""
    kind = (getattr(model, "checkpoint_meta", None) or {}).get("model", "syndiag-cloud")
    meta = CheckpointMeta(model=kind, class_names=list(getattr(model, "class_names", class_names)),
                          prompts=list(getattr(model, "prompts", prompts)), fs=float(data["fs"]), channels=list(data["channels"]),
                          data=data["config"])
    return SpectrogramPredictor(meta, torch_classifier(model), None, model)


def sensor_model_predictor(model, data: dict[str, Any]) -> SensorPredictor:
    """The Predictor of a sensor model in memory (just fine-tuned, not saved), described by the prepared data it reads
    (``data``: a prepared dataset's meta, with its rate and data config)."""
    meta = CheckpointMeta.model_validate({**model.description(), "stage": "finetuned", "fs": float(data["fs"]), "data": data["config"]})
    model.eval()
    return SensorPredictor(meta, read_sensor_checkpoint(Path(f"the {model.backbone_name} sensor model in memory"), meta.to_dict()), model)


def runtime_of(device: str | RuntimeConfig = "cpu", dtype: str = "float32") -> RuntimeConfig:
    """The runtime settings a model is placed with: a recipe's, or a device and dtype given on a command line (checked,
    naming the field and the accepted values)."""
    if isinstance(device, RuntimeConfig):
        return device
    return RuntimeConfig.from_dict({"device": device, "dtype": dtype}, source="--device/--dtype")


def load_torch_model(folder: Path, meta: CheckpointMeta, device: str | RuntimeConfig = "cpu", dtype: str = "float32"):
    """The PyTorch model a checkpoint's kind names, from its already-read description, placed once by the runtime settings."""
    # defers torch, which every model module loads: serving an ONNX export imports none of them
    from syndiag.models.device import place

    raw = meta.to_dict()
    if meta.model == "syndiag-sensor":
        from syndiag.models.sensor import SensorModel  # defers torch

        model = SensorModel.from_pretrained(folder, meta=raw)
    elif meta.model == "syndiag-edge":
        from syndiag.models.edge import SynDiagEdge  # defers torch

        if meta.teacher_checkpoint:  # the teacher's extractor, gate and head serve the edge model too
            verify_checkpoint(meta.teacher_checkpoint)
        model = SynDiagEdge.from_pretrained(folder, meta=raw)
    else:
        from syndiag.models.cloud import SynDiagCloud  # defers torch

        model = SynDiagCloud.from_pretrained(folder, meta=raw)
    model = place(model, runtime_of(device, dtype))
    model.eval()
    return model


def load_predictor(folder: str | Path, device: str | RuntimeConfig = "cpu", dtype: str = "float32",
                   meta: CheckpointMeta | None = None) -> SpectrogramPredictor | SensorPredictor:
    """The :class:`Predictor` of a model folder (checkpoint or ONNX export), its description read and checked once
    (``meta``: already read by the caller), placed by the runtime settings (a recipe's, or a device and dtype)."""
    folder = Path(folder)
    runtime = runtime_of(device, dtype)
    meta = meta or read_meta(folder)
    if is_onnx(folder):
        return SpectrogramPredictor(meta, OnnxClassifier(folder, runtime.threads, meta), folder)
    if meta.model == "syndiag-sensor":
        plan = read_sensor_checkpoint(folder, meta.to_dict())
        return SensorPredictor(meta, plan, load_torch_model(folder, meta, runtime))
    model = load_torch_model(folder, meta, runtime)
    return SpectrogramPredictor(meta, torch_classifier(model), folder, model)
