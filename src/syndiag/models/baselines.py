"""Baselines of the paper (§5.2) and those a practitioner tries first, on the same windows and splits as Syn-Diag."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import hilbert
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from syndiag.config.models import ImageBaselineConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.visual_extractor import VisualExtractor, conv_block

LOG_FLOOR = 1e-8
CHUNK = 512


def log_spectrum(windows: np.ndarray) -> np.ndarray:
    """Log-magnitude spectrum of each channel of windows (n, channels, length), concatenated: (n, channels * bins)."""
    windows = np.asarray(windows, dtype=np.float64)
    windows = windows - windows.mean(axis=-1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(windows * np.hanning(windows.shape[-1]), axis=-1))
    return np.log(spectrum + 1e-8).reshape(len(windows), -1)


class LogSpectrumNearestNeighbour:
    """1-nearest-neighbour on log-magnitude spectra (Euclidean): no training, no language model."""

    def __init__(self, neighbours: int = 1) -> None:
        self.classifier = KNeighborsClassifier(n_neighbors=neighbours)

    def fit(self, windows: np.ndarray, labels: np.ndarray) -> "LogSpectrumNearestNeighbour":
        self.classifier.fit(log_spectrum(windows), labels)
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.classifier.predict(log_spectrum(windows))


def envelope_frequencies(length: int, fs: float, max_hz: float = 1000.0) -> np.ndarray:
    """Frequencies (Hz) of the envelope-spectrum bins that ``envelope_spectrum`` keeps: 0 < f <= max_hz."""
    if max_hz <= 0:
        raise ConfigError(f"max_hz must be positive, got {max_hz}")
    frequencies = np.fft.rfftfreq(length, d=1.0 / fs)
    kept = frequencies[(frequencies > 0) & (frequencies <= max_hz)]
    if kept.size == 0:
        raise ConfigError(f"max_hz={max_hz} is below the first envelope-spectrum bin ({fs / length:.3g} Hz at fs={fs}, length={length})")
    return kept


def envelope_spectrum(windows: np.ndarray, fs: float, max_hz: float = 1000.0, bands: int = 0) -> np.ndarray:
    """Log envelope spectrum of windows (n, channels, length), the classical bearing-fault feature: (n, channels * (bins + bands)).

    Per channel: remove the mean, envelope = |analytic signal| (Hilbert), remove the envelope's mean, Hann-windowed
    magnitude spectrum of the envelope (amplitude units), bins 0 < f <= max_hz, log(1e-8 + |E(f)|). An impact train at
    a fault frequency shows as a peak at that frequency and its harmonics, whatever resonance carries it.

    With ``bands > 0`` the log mean power of the raw spectrum in ``bands`` equal-width bands from 0 to fs/2 is
    appended per channel: where the energy sits, which the envelope alone discards (e.g. fault size at one fault frequency).
    """
    if np.ndim(windows) != 3:
        raise DataError(f"windows must have shape (n, channels, length), got {np.shape(windows)}")
    n, _, length = np.shape(windows)
    kept = len(envelope_frequencies(length, fs, max_hz))
    taper = np.hanning(length)
    features = []
    for start in range(0, n, CHUNK):
        signal = np.asarray(windows[start : start + CHUNK], dtype=np.float64)
        signal = signal - signal.mean(axis=-1, keepdims=True)
        envelope = np.abs(hilbert(signal, axis=-1))
        envelope -= envelope.mean(axis=-1, keepdims=True)
        spectrum = np.abs(np.fft.rfft(envelope * taper, axis=-1)) * (2.0 / taper.sum())
        parts = [np.log(LOG_FLOOR + spectrum[..., 1 : 1 + kept])]
        if bands > 0:
            power = np.abs(np.fft.rfft(signal * taper, axis=-1)) ** 2
            edges = np.linspace(0, power.shape[-1], bands + 1).round().astype(int)
            parts.append(np.log(LOG_FLOOR + np.stack([power[..., a:b].mean(-1) for a, b in zip(edges[:-1], edges[1:])], axis=-1)))
        features.append(np.concatenate(parts, axis=-1).reshape(len(signal), -1))
    return np.concatenate(features) if features else np.empty((0, 0))


class EnvelopeSpectrumClassifier:
    """Standardised log envelope spectra -> k-nearest neighbours or an RBF SVM (C=10, gamma="scale")."""

    def __init__(self, kind: Literal["knn", "svm"] = "knn", fs: float = 12000.0, max_hz: float = 1000.0, neighbours: int = 1, bands: int = 0) -> None:
        if kind == "knn":
            classifier = KNeighborsClassifier(n_neighbors=neighbours)
        elif kind == "svm":
            classifier = SVC(kernel="rbf", C=10.0, gamma="scale")
        else:
            raise ConfigError(f"kind: unknown envelope-spectrum classifier {kind!r}; choose 'knn' or 'svm'")
        if bands < 0:
            raise ConfigError(f"bands must be at least 0, got {bands}")
        self.kind, self.fs, self.max_hz, self.bands = kind, fs, max_hz, bands
        self.pipeline: Pipeline = make_pipeline(StandardScaler(), classifier)

    def features(self, windows: np.ndarray) -> np.ndarray:
        return envelope_spectrum(windows, self.fs, self.max_hz, self.bands)

    def fit(self, windows: np.ndarray, labels: np.ndarray) -> "EnvelopeSpectrumClassifier":
        self.pipeline.fit(self.features(windows), np.asarray(labels))
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.pipeline.predict(self.features(windows))


class SmallCNN(nn.Module):
    """Stride-2 conv-GroupNorm-GELU blocks, global average pool, linear head."""

    def __init__(self, widths: list[int], n_classes: int, channels: int = 3) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(conv_block(c_in, c_out, 2) for c_in, c_out in zip([channels, *widths[:-1]], widths)))
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(pixels).mean(dim=(2, 3)))


class ImageBaseline(nn.Module):
    """uint8 spectrograms (B, H, W, 3) -> logits (B, C), normalised like the Syn-Diag visual extractor."""

    def __init__(self, config: ImageBaselineConfig, n_classes: int) -> None:
        super().__init__()
        if n_classes < 2:
            raise ConfigError(f"n_classes must be at least 2, got {n_classes}")
        self.config, self.n_classes = config, n_classes
        self.network = self._network(config, n_classes)

    @staticmethod
    def _network(config: ImageBaselineConfig, n_classes: int) -> nn.Module:
        if config.name == "cnn":
            return SmallCNN(config.cnn_widths, n_classes)
        if config.name == "resnet50":
            # defers transformers: only the ResNet-50 baseline needs it
            from transformers import ResNetConfig, ResNetForImageClassification

            return ResNetForImageClassification(ResNetConfig(
                layer_type="bottleneck", depths=config.resnet_depths, hidden_sizes=config.resnet_hidden_sizes,
                embedding_size=config.resnet_embedding_size, num_labels=n_classes,
            ))
        if config.name == "vit":
            # defers transformers: only the ViT baseline needs it
            from transformers import ViTConfig, ViTForImageClassification

            return ViTForImageClassification(ViTConfig(
                image_size=config.image_size, patch_size=config.vit_patch_size, hidden_size=config.vit_hidden_size,
                num_hidden_layers=config.vit_layers, num_attention_heads=config.vit_heads,
                intermediate_size=config.vit_intermediate_size, num_labels=n_classes,
            ))
        raise ConfigError(f"name: unknown image baseline {config.name!r}; choose 'cnn', 'resnet50' or 'vit'")

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised float (B, 3, image_size, image_size)."""
        pixels = VisualExtractor.normalise(images.to(next(self.parameters()).device))
        size = self.config.image_size
        if pixels.shape[-2:] != (size, size):
            pixels = F.interpolate(pixels, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return pixels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.pixels(images)
        if isinstance(self.network, SmallCNN):
            return self.network(pixels)
        return self.network(pixel_values=pixels).logits


def build_image_baseline(config: ImageBaselineConfig | dict, n_classes: int) -> ImageBaseline:
    """A randomly initialised image baseline; a dict is validated first (ConfigError naming the field)."""
    if isinstance(config, dict):
        config = ImageBaselineConfig.from_dict(config, source="image baseline")
    return ImageBaseline(config, n_classes)


class VisualPrototypes(nn.Module):
    """Prototypical network on the aligned visual features, no language model: nearest class mean by cosine.

    Feature of an image = mean of its projected visual tokens, L2-normalised; a class prototype = normalised mean
    feature of its support images; logits = temperature * cosine similarity to each prototype.
    """

    prototypes: torch.Tensor | None

    def __init__(self, extractor: VisualExtractor, temperature: float = 10.0, batch_size: int = 64) -> None:
        super().__init__()
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        self.extractor, self.temperature, self.batch_size = extractor, temperature, batch_size
        self.register_buffer("prototypes", None)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Mean projected visual token, L2-normalised: (B, D)."""
        device = next(self.extractor.parameters()).device
        return F.normalize(self.extractor(images.to(device)).mean(dim=1), dim=-1)

    @torch.no_grad()
    def fit(self, images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, n_classes: int | None = None) -> "VisualPrototypes":
        """Store one prototype per class 0 .. n_classes - 1 (default: the largest label + 1); each needs a support image."""
        images = torch.as_tensor(images)
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(images) != len(labels) or len(labels) == 0:
            raise DataError(f"need one label per support image and at least one image, got {len(images)} images and {len(labels)} labels")
        n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
        if labels.min() < 0 or labels.max() >= n_classes:
            raise DataError(f"support labels must lie in 0 .. {n_classes - 1}, got {labels.min().item()} .. {labels.max().item()}")
        missing = [c for c in range(n_classes) if not (labels == c).any()]
        if missing:
            raise DataError(f"no support image for class(es) {missing}; every class needs at least one to have a prototype")
        was_training = self.training
        self.eval()
        features = torch.cat([self.features(images[start : start + self.batch_size]) for start in range(0, len(images), self.batch_size)])
        self.train(was_training)
        labels = labels.to(features.device)
        self.prototypes = F.normalize(torch.stack([features[labels == c].mean(0) for c in range(n_classes)]), dim=-1).clone()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Cosine-similarity logits (B, C) scaled by the temperature."""
        if self.prototypes is None:
            raise RuntimeError("VisualPrototypes has no prototypes yet: call fit(support_images, support_labels) first")
        return self.temperature * self.features(images) @ self.prototypes.T

    @torch.inference_mode()
    def predict(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        was_training = self.training
        self.eval()
        images = torch.as_tensor(images)
        predictions = torch.cat([self(images[start : start + self.batch_size]).argmax(-1) for start in range(0, len(images), self.batch_size)])
        self.train(was_training)
        return predictions.cpu().numpy()
