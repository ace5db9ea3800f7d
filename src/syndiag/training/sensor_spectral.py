"""Fitting the sensor model's spectrum path: the discriminant on the alignment pool (after stage a), the prototypes on
the support set and the mix of prototypes and fault head on the pool's windows outside the support set (after stage b)."""

from __future__ import annotations

import numpy as np
import torch

from syndiag.config.spectral import SpectralPathConfig
from syndiag.data.noise import add_white_noise
from syndiag.data.sensor_windows import SensorWindows
from syndiag.errors import ConfigError
from syndiag.models.sensor import SensorModel
from syndiag.models.spectral_head import SpectralHead
from syndiag.training.common import batches
from syndiag.training.spectral import fit_discriminant, fit_support

MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The weights of the fault head against the prototypes that the validation chooses from."""
CHUNK = 256


def noisy_signals(windows: SensorWindows, names: list[str], indices: np.ndarray, snr_db: np.ndarray | None,
                  rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each named channel's samples at ``indices``, with white noise at ``snr_db`` (per window) when given."""
    signals = {}
    for name in names:
        values = np.asarray(windows.signals[name][indices], dtype=np.float32)
        signals[name] = values if snr_db is None else add_white_noise(values[:, None, :], snr_db, rng)[:, 0]
    return signals


class SensorSpectra:
    """The spectrum features of sensor windows through the model's own :class:`SpectralHead` (a ``SpectrumSource``)."""

    def __init__(self, head: SpectralHead, windows: SensorWindows) -> None:
        self.head, self.windows = head, windows
        self.grid, self.channels = head.grid, len(head.channels)

    @torch.inference_mode()
    def features(self, indices: np.ndarray, snr_db: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        signals = noisy_signals(self.windows, self.head.channels, np.asarray(indices), snr_db, rng)
        present = torch.from_numpy(np.ascontiguousarray(self.windows.present[indices]))
        device = self.head.mean.device
        parts = [self.head.spectra({k: torch.from_numpy(v[rows]).to(device) for k, v in signals.items()}, present[rows]).cpu()
                 for rows in batches(np.arange(len(present)), CHUNK)]
        return torch.cat(parts).double().numpy()


def require_path(model: SensorModel) -> SpectralHead:
    if model.spectral is None:
        raise ConfigError("the sensor model has no spectrum path (model.spectral_path: false)")
    return model.spectral


def fit_spectral_head(model: SensorModel, windows: SensorWindows, pool: np.ndarray, config: SpectralPathConfig, seed: int) -> dict:
    """The discriminant of the model's spectrum path, fitted on the alignment pool; returns what the choice measured."""
    head = require_path(model)
    pool = np.asarray(pool)
    discriminant, components, scores = fit_discriminant(SensorSpectra(head, windows), pool, windows.labels[pool], windows.conditions[pool],
                                                        len(model.class_names), config, seed)
    head.set_discriminant(discriminant)
    return {"components": components, "validation": {str(k): round(v, 4) for k, v in scores.items()}}


@torch.inference_mode()
def head_and_features(model: SensorModel, inputs, indices: np.ndarray, signals: dict[str, np.ndarray] | None, batch_size: int):
    """The fault head's log-probabilities and the spectrum features of the windows at ``indices`` (signals replaced when given)."""
    model.eval()
    heads, features = [], []
    for rows in batches(np.arange(len(indices)), batch_size):
        batch = inputs.batch(indices[rows])
        if signals is not None:
            batch.signals.update({k: torch.from_numpy(v[rows]) for k, v in signals.items()})
        output = model(batch)
        heads.append(torch.log_softmax(output.head_logits.float(), -1).cpu())
        features.append(model.spectral(batch.signals, batch.present).float().cpu())
    return torch.cat(heads), torch.cat(features)


def fit_spectral_support(model: SensorModel, inputs, support: np.ndarray, pool: np.ndarray, config: SpectralPathConfig, seed: int,
                         batch_size: int = 64) -> dict:
    """Prototypes of the support windows (and their noisy copies); the mix chosen on the pool's windows outside the
    support set, clean and at ``validation_snr_db`` (ties go to the mix nearest one half)."""
    head = require_path(model)
    windows: SensorWindows = inputs.windows
    support = np.asarray(support)
    prototypes = fit_support(head.discriminant(), SensorSpectra(head, windows), support, windows.labels[support], len(model.class_names),
                             config, seed)
    head.set_prototypes(prototypes, 1.0)
    held = np.setdiff1d(np.asarray(pool), support)
    if held.size == 0:
        head.set_prototypes(prototypes, 0.5)
        return {"mix": 0.5, "validation": {}}
    rng = np.random.default_rng([seed, 7373])
    vibration = [spec.name for spec in windows.layout if spec.kind == "vibration"]
    noisy = noisy_signals(windows, vibration, held, np.full(held.size, config.validation_snr_db), rng)
    truth = torch.from_numpy(windows.labels[held])
    scores = {}
    views = [head_and_features(model, inputs, held, None, batch_size), head_and_features(model, inputs, held, noisy, batch_size)]
    for mix in MIXES:
        correct = [(mix * logp + (1 - mix) * torch.log_softmax(head.scores(z), -1)).argmax(-1) == truth for logp, z in views]
        scores[mix] = float(torch.cat(correct).float().mean())
    best = max(scores, key=lambda m: (scores[m], -abs(m - 0.5)))
    head.set_prototypes(prototypes, best)
    return {"mix": best, "validation": {f"{k:g}": round(v, 4) for k, v in scores.items()}}
