"""Diagnose a recording with a sensor-model checkpoint: fault type, its probability, top-k, segments, severity with an interval.

The recording's channels are read for the checkpoint's layout (:mod:`syndiag.data.sensor_input`) and cut as training cut
them: window ``k`` ends at ``(k * step + length) / fs`` on the clock of the data config (``data.window``, the checkpoint's
``fs``), every channel's window ends at that instant (:func:`syndiag.data.windowing.take_ending`), and the
spectrogram stacks the ``data.cwru.channels`` windows as the prepared dataset does. A channel the file lacks is marked
absent (and its spectrogram band hidden) when the checkpoint was trained with modality dropout, else refused.

Severity is aggregated over the windows whose own most probable class is the predicted one (all windows if none is):
each window gives a Gaussian (mean, std in the severity's unit), and the report is the mixture of those Gaussians: its
mean, its standard deviation (law of total variance: mean within-window variance plus the variance of the window means)
and the 90 % interval mean ± 1.645 std, clipped to the checkpoint's severity range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syndiag.data.sensor_input import SensorInput, read_sensor_input
from syndiag.data.windowing import take_ending
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import DataError
from syndiag.models.meta import read_meta
from syndiag.serving.diagnosis import BLOCK_SIZE, Diagnosis, accumulate, summarise
from syndiag.serving.predictor import SensorPredictor, WindowBatch, load_torch_model
from syndiag.serving.sensor_plan import SENSOR_KIND, SensorCheckpoint, is_sensor_checkpoint, read_sensor_checkpoint  # noqa: F401
from syndiag.serving.summary import majority_of, segments_of

Z_90 = 1.645
"""Half-width of a two-sided 90 % Gaussian interval, in standard deviations."""


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


def window_ends(found: SensorInput, plan: SensorCheckpoint) -> np.ndarray:
    """End instants (s) of the windows, every ``data.window.step`` samples on the clock at the checkpoint's rate."""
    window = plan.data.window
    kinds = {spec.name: spec for spec in plan.layout}
    timed = [name for name in found.channels if kinds[name].kind == "vibration"] or list(found.channels)
    seconds = max(found.channels[name].size / float(kinds[name].fs) for name in timed)
    samples = math.floor(seconds * plan.fs + 1e-6)
    if samples < window.length:
        raise DataError(f"{found.source}: {seconds:.4g} s of samples, shorter than one window of {window.length} samples at {plan.fs:g} Hz")
    count = (samples - window.length) // window.step + 1
    return (np.arange(count) * window.step + window.length) / plan.fs


def cut_block(found: SensorInput, plan: SensorCheckpoint, ends: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """Every layout channel's window ending at each of ``ends``, the present mask (m, channels) and the RGB spectrograms."""
    signals, present = {}, np.zeros((ends.size, len(plan.layout)), dtype=bool)
    for column, spec in enumerate(plan.layout):
        if spec.name in found.channels:
            signals[spec.name], present[:, column], _ = take_ending(found.channels[spec.name], float(spec.fs), 0.0, ends, spec.length)
        else:
            signals[spec.name] = np.zeros((ends.size, spec.length), dtype=np.float32)
    if plan.grid is None:
        return signals, present, None
    length = plan.data.window.length
    bands = {name: take_ending(found.channels[name], plan.fs, 0.0, ends, length)[0] for name in plan.stacked if name in found.channels}
    # a missing channel's band repeats a present one (so the image's scaling is that of real data); its tokens are hidden
    stand_in = next(iter(bands.values()), np.zeros((ends.size, length), dtype=np.float32))
    stacked = np.stack([bands.get(name, stand_in) for name in plan.stacked], axis=1)
    spectrogram = plan.data.spectrogram
    return signals, present, to_rgb(spectrogram_images(stacked, spectrogram), spectrogram.colormap)


def diagnose_sensor(file: Path, checkpoint: Path, fs: float | None = None, top_k: int = 3, device: str = "cpu", dtype: str = "float32",
                    channels: str | list[str] | None = None, *, progress: Callable[[int, int], None] | None = None,
                    block_size: int = BLOCK_SIZE, batch_size: int = 64, predictor: SensorPredictor | None = None) -> SensorDiagnosis:
    """Diagnose ``file`` with the sensor checkpoint ``checkpoint``: read and checked before the model loads, then run
    ``block_size`` windows at a time (``batch_size`` per forward pass), so memory stays bounded."""
    meta = predictor.meta if predictor is not None else read_meta(checkpoint)
    plan = predictor.plan if predictor is not None else read_sensor_checkpoint(checkpoint, meta.to_dict())
    found = read_sensor_input(file, plan.layout, fs, channels, plan.data.cwru.target_fs if plan.data.dataset == "cwru" else None)
    if found.missing and plan.dropout <= 0:
        raise DataError(f"{file}: lacks channel(s) {', '.join(found.missing)} of the sensor model's layout "
                        f"({', '.join(s.describe() for s in plan.layout)}); {checkpoint} was trained without modality dropout, "
                        "so it cannot diagnose without them. Give a recording with every channel, or name them with --channels")
    ends = window_ends(found, plan)
    predictor = predictor or SensorPredictor(meta, plan, load_torch_model(Path(checkpoint), meta, device, dtype))
    step = max(1, block_size)
    blocks = ((first, WindowBatch(*cut_block(found, plan, ends[first : first + step]))) for first in range(0, ends.size, step))
    windows = accumulate(predictor, blocks, ends.size, batch_size, progress, str(file))
    best = int(np.argsort(-windows.mean, kind="stable")[0])
    window = plan.data.window
    return summarise(windows, meta, str(file), top_k, np.arange(ends.size) * (window.step / plan.fs), window.length / plan.fs,
                     SensorDiagnosis, severity=aggregate_severity(windows.severity_mean, windows.severity_std, windows.classes, best, plan),
                     channels=plan.names, missing_channels=list(found.missing), notes=list(found.notes))


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
