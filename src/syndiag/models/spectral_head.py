"""The discriminant spectrum path inside the sensor model: each vibration channel's full-resolution log power spectrum
on one grid in Hz, projected on the discriminant fitted on the labelled pool, and one prototype per class on it;
the model's answer mixes the prototypes with its trained fault head (see ``models/spectral_discriminant.py``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from syndiag.config.sensor import ChannelSpec
from syndiag.errors import ConfigError
from syndiag.models.spectral_discriminant import PrototypeHead, SpectralDiscriminant
from syndiag.models.spectrum_view import LOG_FLOOR, SpectrumGrid, interpolate

PROTOTYPE_TEMPERATURE = 2.0
"""Prototype scores are -||z - p||^2 / 2: a unit-variance Gaussian log-likelihood in the discriminant space."""


def interpolation_matrix(samples: int, fs: float, grid: SpectrumGrid) -> np.ndarray:
    """(FFT bins of ``samples`` samples at ``fs``, grid bins): linear interpolation of that spectrum onto the grid in Hz."""
    source = np.fft.rfftfreq(samples, 1.0 / fs)
    return interpolate(np.eye(len(source)), source, grid.frequencies)


class SpectralHead(nn.Module):
    """z = discriminant(log power spectra of the vibration channels); prototype scores on z; the mixing weight."""

    def __init__(self, layout: list[ChannelSpec], n_classes: int, segment: int | None = None) -> None:
        """``segment``: samples (at the slowest vibration channel's rate) of the Welch segments a long window is averaged
        over, as in :func:`~syndiag.models.spectrum_view.spectrum_view`; None: each channel's whole window."""
        super().__init__()
        vibration = [spec for spec in layout if spec.kind == "vibration"]
        if not vibration:
            raise ConfigError("model.spectral_path needs at least one vibration channel in the layout")
        finest = min(vibration, key=lambda spec: spec.fs / 2)
        if segment is not None and segment > finest.length:
            raise ConfigError(f"model.spectral_segment: {segment} samples is longer than channel {finest.name}'s window of {finest.length}")
        self.grid = SpectrumGrid.for_windows(finest.fs, finest.length, segment=segment)
        for spec in vibration:
            if spec.fs / 2 < self.grid.top_hz * (1 - 1e-9):
                raise ConfigError(f"channel {spec.name} ({spec.fs:g} Hz) cannot reach the spectrum grid's {self.grid.top_hz:g} Hz")
        self.channels = [spec.name for spec in vibration]
        self.positions = [layout.index(spec) for spec in vibration]
        self.segments: dict[str, int] = {}
        for name, spec in zip(self.channels, vibration):
            samples = self.grid.segment(spec.fs)
            if spec.length < samples + samples // 2:  # not two overlapping segments: the whole window, read on the grid
                samples = spec.length
            self.segments[name] = samples
            self.register_buffer(f"interp_{name}", torch.tensor(interpolation_matrix(samples, spec.fs, self.grid), dtype=torch.float32),
                                 persistent=False)
            self.register_buffer(f"hann_{name}", torch.hann_window(samples, periodic=False, dtype=torch.float32), persistent=False)
        d, rank = len(vibration) * self.grid.bins, n_classes - 1
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))
        self.register_buffer("centre", torch.zeros(d))
        self.register_buffer("projection", torch.zeros(d, rank))
        self.register_buffer("prototypes", torch.zeros(n_classes, rank))
        self.register_buffer("mix", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def width(self) -> int:
        return int(self.projection.shape[1])

    def spectra(self, signals: dict[str, torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """(B, channels * bins): each vibration channel's log power minus its mean on the grid; an absent channel reads
        as the pool's mean spectrum, so it moves no discriminant feature."""
        parts = []
        for name, position in zip(self.channels, self.positions):
            samples = self.segments[name]
            values = signals[name].float().unfold(-1, samples, max(1, samples // 2))  # (B, segments, samples); one when whole
            values = values - values.mean(dim=-1, keepdim=True)
            power = torch.log((torch.fft.rfft(values * getattr(self, f"hann_{name}"), dim=-1).abs() ** 2).mean(dim=-2) + LOG_FLOOR)
            on_grid = power @ getattr(self, f"interp_{name}")
            parts.append(on_grid - on_grid.mean(dim=-1, keepdim=True))
        spectra = torch.cat(parts, dim=-1)
        bins = self.grid.bins
        absent = ~present[:, self.positions].to(spectra.device)
        mask = absent.repeat_interleave(bins, dim=1)
        return torch.where(mask, self.mean.expand_as(spectra), spectra)

    def forward(self, signals: dict[str, torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """The discriminant features z (B, n_classes - 1); zeros until the discriminant is fitted."""
        return ((self.spectra(signals, present) - self.mean) / self.scale - self.centre) @ self.projection

    def scores(self, z: torch.Tensor) -> torch.Tensor:
        """(B, classes): -||z - prototype||^2 / temperature."""
        return -torch.cdist(z, self.prototypes).pow(2) / PROTOTYPE_TEMPERATURE

    def combine(self, head_logits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The model's answer: mix * log p(head) + (1 - mix) * log p(prototypes); the head alone until fitted."""
        if not bool(self.fitted):
            return head_logits
        mix = self.mix.to(head_logits.dtype)
        return mix * torch.log_softmax(head_logits, -1) + (1 - mix) * torch.log_softmax(self.scores(z).to(head_logits.dtype), -1)

    def discriminant(self) -> SpectralDiscriminant:
        """The fitted discriminant, read back from the buffers."""
        return SpectralDiscriminant(*(getattr(self, name).detach().cpu().double().numpy() for name in ("mean", "scale", "centre", "projection")))

    def set_discriminant(self, discriminant: SpectralDiscriminant) -> None:
        arrays = discriminant.arrays()
        width = arrays["projection"].shape[1]
        if width > self.width or arrays["mean"].size != self.mean.numel():
            raise ConfigError(f"discriminant of {arrays['mean'].size} inputs and {width} outputs does not fit the head "
                              f"({self.mean.numel()} inputs, {self.width} outputs)")
        projection = np.zeros((arrays["mean"].size, self.width))
        projection[:, :width] = arrays["projection"]
        for name, value in (("mean", arrays["mean"]), ("scale", arrays["scale"]), ("centre", arrays["centre"]), ("projection", projection)):
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))
        self.fitted.fill_(False)

    def set_prototypes(self, head: PrototypeHead, mix: float) -> None:
        self.prototypes.copy_(torch.as_tensor(head.prototypes, dtype=torch.float32))
        self.mix.fill_(float(mix))
        self.fitted.fill_(True)
