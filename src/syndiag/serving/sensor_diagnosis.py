"""Diagnose a recording with a sensor-model checkpoint: fault type, its probability, top-k, segments, severity with an interval.

The recording's channels are read for the checkpoint's layout (:mod:`syndiag.data.sensor_input`) and cut as training cut
them: window ``k`` ends at ``(k * step + length) / fs`` on the clock of the data config (``data.window``, the checkpoint's
``fs``), every channel's window ends at that instant (:func:`syndiag.data.sensor_windows.take_ending`), and the
spectrogram stacks the ``data.cwru.channels`` windows as the prepared dataset does. A channel the file lacks is marked
absent (and its spectrogram band hidden) when the checkpoint was trained with modality dropout, else refused.

Severity is aggregated over the windows whose own most probable class is the predicted one (all windows if none is):
each window gives a Gaussian (mean, std in the severity's unit), and the report is the mixture of those Gaussians: its
mean, its standard deviation (law of total variance: mean within-window variance plus the variance of the window means)
and the 90 % interval mean ± 1.645 std, clipped to the checkpoint's severity range.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.config.sensor import ChannelSpec
from syndiag.data.sensor_input import SensorInput, read_sensor_input
from syndiag.data.sensor_windows import take_ending
from syndiag.data.spectrogram import spectrogram_images, stacked_tokens_present, to_rgb
from syndiag.errors import ConfigError, DataError
from syndiag.serving.diagnosis import BLOCK_SIZE, Diagnosis
from syndiag.serving.summary import majority_of, segments_of

SENSOR_KIND = "syndiag-sensor"
"""``config.json`` "model" of a sensor checkpoint (``syndiag.models.sensor.KIND``; named here so checking it imports no torch)."""
Z_90 = 1.645
"""Half-width of a two-sided 90 % Gaussian interval, in standard deviations."""
SEVERITY_UNITS = {"cwru": "in"}
"""The severity's unit by dataset: the CWRU defect diameter in inches."""


def is_sensor_checkpoint(folder: str | Path) -> bool:
    """Whether ``folder``'s config.json names a sensor model (read cheaply; False when unreadable)."""
    try:
        meta = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("model") == SENSOR_KIND


@dataclass(frozen=True)
class SensorCheckpoint:
    """What a sensor checkpoint needs to read a raw recording, checked from its config.json before the model loads."""

    folder: Path
    layout: list[ChannelSpec]
    data: DataConfig
    fs: float
    class_names: list[str]
    prompts: list[str]
    severity_range: tuple[float, float]
    grid: int | None  # side of the spectrogram extractor's token grid; None without spectrogram tokens
    stacked: list[str]  # channels the spectrogram stacks, top first ([] without spectrogram tokens)
    dropout: float  # modality dropout of the stage that trained the checkpoint last
    unit: str | None

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.layout]


def read_sensor_checkpoint(folder: str | Path) -> SensorCheckpoint:
    """The checked reading instructions of a sensor checkpoint; a ConfigError names what is missing or inconsistent."""
    folder = Path(folder)
    path = folder / "config.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable checkpoint config ({exc})") from None
    if not isinstance(meta, dict) or meta.get("model") != SENSOR_KIND:
        raise ConfigError(f"{folder}: not a sensor-model checkpoint ({path} names no model {SENSOR_KIND!r})")
    lacking = [k for k in ("layout", "data", "fs", "class_names", "prompts") if not meta.get(k)]
    if lacking:
        raise ConfigError(f"{folder}: the sensor checkpoint lacks {', '.join(lacking)} in {path}; save it with `syndiag sensor "
                          "finetune` (which records how its data were read) to diagnose recordings with it")
    if (meta.get("config") or {}).get("use_images"):
        raise ConfigError(f"{folder}: this sensor model reads camera / thermal frames, and diagnosing a recording file reads no frames "
                          "yet; evaluate it with `syndiag sensor evaluate` on data that carries them")
    layout = [ChannelSpec.from_dict(spec, source=f"{path} layout") for spec in meta["layout"]]
    data = DataConfig.from_dict(meta["data"], source=f"{path} data")
    fs = _positive(meta["fs"], f"{path}: fs")
    names = [spec.name for spec in layout]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: duplicate channel names in the layout {names}")
    if len(meta["class_names"]) != len(meta["prompts"]):
        raise ConfigError(f"{path}: {len(meta['class_names'])} class names but {len(meta['prompts'])} prompts")
    extractor = meta.get("extractor")
    grid, stacked = None, []
    if extractor:
        grid, stacked = int(extractor["grid"]), list(data.cwru.channels)
        for name in stacked:
            spec = next((s for s in layout if s.name == name), None)
            if spec is None or not math.isclose(float(spec.fs), fs, rel_tol=1e-9):
                what = "lacks it" if spec is None else f"has it at {spec.fs:g} Hz"
                raise ConfigError(f"{folder}: its spectrogram stacks channel {name!r} at {fs:g} Hz (data.cwru.channels), but its "
                                  f"layout {what}: a checkpoint of another layout than its data")
    dropout = meta.get("modality_dropout") or {}
    stage = "finetune" if "task" in meta or meta.get("stage") == "finetuned" else "align"
    return SensorCheckpoint(folder, layout, data, fs, list(meta["class_names"]), list(meta["prompts"]),
                            _severity_range(meta.get("severity_range"), path), grid, stacked,
                            float(dropout.get(stage, 0.0) or 0.0) if isinstance(dropout, dict) else 0.0,
                            SEVERITY_UNITS.get(data.dataset))


def _positive(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a positive number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return number


def _severity_range(value, path: Path) -> tuple[float, float]:
    if value is None:
        return (0.0, 1.0)
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: severity_range must be [low, high], got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{path}: severity_range must be finite with low < high, got {value!r}")
    return low, high


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


def load_sensor_model(folder: str | Path, device: str = "cpu", dtype: str = "float32"):
    """A sensor model from its checkpoint folder on ``device``, in evaluation mode."""
    from syndiag.models.device import place
    from syndiag.models.sensor import SensorModel

    model = place(SensorModel.from_pretrained(Path(folder)), device, dtype)
    model.eval()
    return model


def diagnose_sensor(file: Path, checkpoint: Path, fs: float | None = None, top_k: int = 3, device: str = "cpu", dtype: str = "float32",
                    channels: str | list[str] | None = None, *, progress: Callable[[int, int], None] | None = None,
                    block_size: int = BLOCK_SIZE, batch_size: int = 64) -> SensorDiagnosis:
    """Diagnose ``file`` with the sensor checkpoint ``checkpoint``: read and checked before the model loads, then run
    ``block_size`` windows at a time (``batch_size`` per forward pass), so memory stays bounded."""
    import torch

    plan = read_sensor_checkpoint(checkpoint)
    found = read_sensor_input(file, plan.layout, fs, channels, plan.data.cwru.target_fs if plan.data.dataset == "cwru" else None)
    if found.missing and plan.dropout <= 0:
        raise DataError(f"{file}: lacks channel(s) {', '.join(found.missing)} of the sensor model's layout "
                        f"({', '.join(s.describe() for s in plan.layout)}); {checkpoint} was trained without modality dropout, "
                        "so it cannot diagnose without them. Give a recording with every channel, or name them with --channels")
    ends = window_ends(found, plan)
    model = load_sensor_model(checkpoint, device, dtype)
    count, n_classes = ends.size, len(plan.class_names)
    total = np.zeros(n_classes, dtype=np.float64)
    classes = np.empty(count, dtype=np.int64)
    confidence = np.empty(count, dtype=np.float32)
    severity_mean, severity_std = np.full(count, np.nan), np.full(count, np.nan)
    stacked = [plan.names.index(name) for name in plan.stacked]
    for first in range(0, count, max(1, block_size)):
        signals, present, images = cut_block(found, plan, ends[first : first + block_size])
        for offset in range(0, present.shape[0], batch_size):
            rows = slice(offset, offset + batch_size)
            mask = present[rows]
            batch = _batch(signals, mask, images, rows, stacked, plan.grid)
            with torch.inference_mode():
                output = model(batch)
            probs = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
            start = first + offset
            _check(probs, len(mask), n_classes, start, str(file), str(checkpoint))
            total += probs.sum(0, dtype=np.float64)
            best = probs.argmax(1)
            classes[start : start + len(mask)] = best
            confidence[start : start + len(mask)] = probs[np.arange(len(mask)), best]
            if output.severity_mean is not None:
                severity_mean[start : start + len(mask)] = output.severity_mean.float().cpu().numpy()
                severity_std[start : start + len(mask)] = output.severity_std.float().cpu().numpy()
        if progress is not None:
            progress(min(first + block_size, count), count)
    mean = total / count
    order = np.argsort(-mean, kind="stable")[: max(1, top_k)]
    best = int(order[0])
    window = plan.data.window
    starts = np.arange(count) * (window.step / plan.fs)
    seconds = window.length / plan.fs
    return SensorDiagnosis(
        source=str(file), windows=count, label=plan.class_names[best], description=plan.prompts[best], probability=float(mean[best]),
        top=[(plan.class_names[i], plan.prompts[i], float(mean[i])) for i in order], class_names=list(plan.class_names),
        window_classes=classes, window_confidence=confidence, window_starts=starts, window_seconds=seconds,
        segments=segments_of(classes, confidence, plan.class_names, starts, seconds), majority=majority_of(classes, plan.class_names),
        severity=aggregate_severity(severity_mean, severity_std, classes, best, plan), channels=plan.names,
        missing_channels=list(found.missing), notes=list(found.notes),
    )


def _batch(signals: dict[str, np.ndarray], present: np.ndarray, images: np.ndarray | None, rows: slice, stacked: list[int],
           grid: int | None):
    """A :class:`~syndiag.models.sensor_heads.SensorBatch` of rows ``rows`` of a cut block, as training builds one."""
    import torch

    from syndiag.models.sensor_heads import SensorBatch

    tokens = None
    if images is not None and grid:
        tokens = torch.from_numpy(stacked_tokens_present(present, stacked, grid))
    samples = {name: torch.from_numpy(np.ascontiguousarray(values[rows], dtype=np.float32)) for name, values in signals.items()}
    return SensorBatch(signals=samples, present=torch.from_numpy(np.ascontiguousarray(present)),
                       spectrograms=None if images is None else torch.from_numpy(np.ascontiguousarray(images[rows])),
                       spectrogram_present=tokens)


def _check(probs: np.ndarray, n: int, n_classes: int, start: int, source: str, model: str) -> None:
    """Refuse class probabilities of the wrong shape or with NaN/Inf (never let them reach a result)."""
    if probs.shape != (n, n_classes):
        raise ConfigError(f"{model}: gave outputs of shape {probs.shape} for {n} windows of {n_classes} classes")
    finite = np.isfinite(probs).all(axis=1)
    if not finite.all():
        raise DataError(f"{model}: non-finite output (NaN/Inf class probabilities) for {int((~finite).sum())} of {n} windows, the "
                        f"first window {start + int(np.argmin(finite))} of {source}; its weights hold NaN/Inf: nothing was diagnosed")


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
