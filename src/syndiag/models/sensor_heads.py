"""Sensor-model inputs, outputs and heads (LLaVA-for-Sensors article, 'Output: fault type classification, severity assessment').

The heads read one shared fused representation ``h`` (the LM's final hidden state at the fusion position), so
later heads (remaining useful life, anomaly score) join the same ``ModuleDict``. The severity head is Gaussian on
the severity normalised to [0, 1] by the model's ``severity_range``: a mean and a log-variance, trained with
:func:`severity_nll`, reported in the original unit, its sigma multiplied by a calibration scale fitted later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from syndiag.errors import ConfigError

LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 4.0
"""Bounds on the severity head's log-variance (normalised unit): sigma from 0.0025 to 7.4."""


@dataclass
class SensorBatch:
    """One batch for the sensor model (LLaVA-for-Sensors article, 'Input'): every channel's samples and what is present.

    ``signals``: channel name -> (B, length) samples at the channel's own rate (a channel absent from every window
    may be left out); ``present`` (B, n_channels) bool in the model's layout order; ``spectrograms`` / ``images``
    (B, H, W, 3) uint8; ``spectrogram_present`` / ``image_present`` (B,) bool (None: present in every window).
    """

    signals: dict[str, torch.Tensor]
    present: torch.Tensor
    spectrograms: torch.Tensor | None = None
    images: torch.Tensor | None = None
    spectrogram_present: torch.Tensor | None = None
    image_present: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.present.shape[0])


@dataclass
class SensorOutput:
    """What the sensor model returns (LLaVA-for-Sensors article, 'Output'): fault logits, severity, the fused and pooled features.

    ``logits`` is the model's answer (log-probabilities where the spectrum path's prototypes vote with the head);
    ``head_logits`` the trained fault head's own, which training reads.

    ``severity_mean`` / ``severity_std`` (B,) are in the severity's own unit (None without a severity head);
    ``severity_raw`` (B, 2) is the head's normalised mean and log-variance, for :func:`severity_nll`; ``fused`` (B, hidden)
    is ``h``; ``pooled`` (B, hidden) the mean of the adapter's soft tokens before the LM (for alignment);
    ``attention`` (B, heads, Q, T) the adapter's last cross-attention over the keys described by ``token_channel``
    (T,) (channel index; -1 spectrogram, -2 image), ``token_time_s`` (T,) (NaN but for time patches),
    ``token_freq_hz`` (T,) (a frequency token's centre frequency, NaN for every other key) and
    ``key_mask`` (B, T) (True: the key was attended to).
    """

    logits: torch.Tensor
    head_logits: torch.Tensor
    severity_mean: torch.Tensor | None
    severity_std: torch.Tensor | None
    severity_raw: torch.Tensor | None
    fused: torch.Tensor
    pooled: torch.Tensor
    attention: torch.Tensor
    token_channel: torch.Tensor
    token_time_s: torch.Tensor
    token_freq_hz: torch.Tensor
    key_mask: torch.Tensor

    @property
    def pooled_tokens(self) -> torch.Tensor:
        """The contract's name for :attr:`pooled`."""
        return self.pooled


def build_heads(hidden: int, n_classes: int, severity: bool, spectral: int = 0) -> nn.ModuleDict:
    """``fault`` (hidden + ``spectral`` -> C: the fused token and the spectrum path's features) and, with ``severity``,
    ``severity`` (hidden -> 2: normalised mean, log-variance)."""
    heads = nn.ModuleDict({"fault": nn.Linear(hidden + spectral, n_classes)})
    if severity:
        heads["severity"] = nn.Linear(hidden, 2)
        nn.init.zeros_(heads["severity"].weight)
        nn.init.constant_(heads["severity"].bias, 0.5)  # start at the middle of the range with sigma ~ 1.3
    return heads


def check_severity_range(severity_range: tuple[float, float] | list[float] | None) -> tuple[float, float]:
    """(low, high) with low < high, both finite; None is (0, 1) (severity already normalised)."""
    if severity_range is None:
        return (0.0, 1.0)
    try:
        low, high = (float(v) for v in severity_range)
    except (TypeError, ValueError):
        raise ConfigError(f"severity_range must be (low, high), got {severity_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"severity_range must be finite with low < high, got ({low}, {high})")
    return low, high


def normalise_severity(values, severity_range: tuple[float, float]):
    """Severity in its unit -> [0, 1] over ``severity_range`` (numpy or torch in, same out; NaN stays NaN)."""
    low, high = severity_range
    if isinstance(values, torch.Tensor):
        return (values - low) / (high - low)
    return (np.asarray(values, dtype=np.float64) - low) / (high - low)


def severity_outputs(raw: torch.Tensor, severity_range: tuple[float, float], sigma_scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Head output (B, 2) -> mean (clipped to the range) and calibrated standard deviation, both in the severity's unit."""
    low, high = severity_range
    log_var = raw[:, 1].clamp(LOG_VAR_MIN, LOG_VAR_MAX)
    mean = (low + raw[:, 0] * (high - low)).clamp(low, high)
    std = torch.exp(0.5 * log_var) * sigma_scale * (high - low)
    return mean, std


def severity_nll(output_raw: torch.Tensor, target_normalised: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood (without 0.5 log 2 pi) of normalised severities under the head's (mean, log-variance).

    ``output_raw`` (B, 2), ``target_normalised`` (B,); NaN targets (severity unknown) are skipped; a batch with none
    known gives 0 (still connected to the graph).
    """
    mean, log_var = output_raw[:, 0], output_raw[:, 1].clamp(LOG_VAR_MIN, LOG_VAR_MAX)
    target = target_normalised.to(device=mean.device, dtype=mean.dtype)
    known = torch.isfinite(target)
    if not bool(known.any()):
        return output_raw.sum() * 0.0
    target = torch.where(known, target, mean.detach())
    nll = 0.5 * (log_var + (target - mean).pow(2) * torch.exp(-log_var))
    return nll[known].mean()
