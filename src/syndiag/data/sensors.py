"""Multi-rate sensor recordings (LLaVA-for-Sensors): channels at their own rates on one clock, and a CWRU reader.

A :class:`SensorRecording` holds 1-D channels (vibration at kHz, temperature at 10 Hz, a constant speed...), each
with its spec (name, kind, rate) and the time of its first sample on the recording's clock. A :class:`SensorSet`
groups the recordings of one dataset with its classes and conditions, like :class:`~syndiag.data.recording.RecordingSet`.

:func:`cwru_sensor_set` reads CWRU through :func:`syndiag.data.cwru.load_cwru` (same catalogue, same 48 kHz
handling of 97.mat, same normal-baseline options) and adds a ``speed`` channel and the defect diameter as severity.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import scipy.io
from pydantic import ValidationError

from syndiag.config.data import CWRUOptions, DataConfig
from syndiag.data.cwru import cwru_file_map, find_cwru_files, load_cwru
from syndiag.data.cwru_classes import CWRU_LOADS
from syndiag.data.recording import FaultClass, check_labels, check_signal
from syndiag.data.sensor_images import check_images
from syndiag.data.sources import dataset_folder
from syndiag.errors import ConfigError, DataError

log = logging.getLogger(__name__)

CHANNEL_KINDS = ("vibration", "temperature", "current", "speed", "other")
ChannelKind = Literal["vibration", "temperature", "current", "speed", "other"]
SPEED_FS = 1.0
"""Rate of a speed channel that is constant per file: one sample per second (sample-and-hold between them)."""
RATE_TOLERANCE = 0.01
"""Relative tolerance (plus one sample) between a channel's sample count and its rate times the declared duration."""


class ChannelLike(Protocol):
    name: str
    kind: str
    fs: float


@dataclass(frozen=True)
class SensorChannel:
    """A channel spec: name, kind, rate in Hz; ``length`` = samples per window (only windowing needs it).

    Stands in for ``syndiag.config.sensor.ChannelSpec``; every function here takes any object with these attributes.
    """

    name: str
    kind: str
    fs: float
    length: int = 1


@dataclass(eq=False)
class SensorRecording:
    """Channels at their own rates, on one clock: ``start_s[name]`` is the time of the channel's first sample.

    ``duration_s``, when declared, is checked against every channel: its sample count must be ``duration × fs``
    within 1 % and one sample, so a channel whose true rate differs from its spec is refused.
    ``extra`` holds per-recording numbers (e.g. FEMTO ``time_s``, ``rul_s``, ``life_fraction``); ``group`` the unit
    the recording comes from (a CWRU file number, a FEMTO bearing), for splits by unit. ``images``: ``(time_s, image)``
    frames on the same clock, each an (H, W, 3) uint8 array or an :class:`~syndiag.data.sensor_images.ImageFrame`.
    """

    channels: dict[str, np.ndarray]
    specs: dict[str, Any]
    start_s: dict[str, float]
    label: str
    condition: str
    source: str
    severity: float | None = None
    images: list[tuple[float, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    group: str = ""

    def __post_init__(self) -> None:
        names = list(self.channels)
        if not names:
            raise DataError(f"{self.source}: a sensor recording needs at least one channel")
        if set(self.specs) != set(names) or set(self.start_s) != set(names):
            raise DataError(
                f"{self.source}: channels {sorted(names)}, specs {sorted(self.specs)} and start times "
                f"{sorted(self.start_s)} must name the same channels"
            )
        for name in names:
            self.channels[name] = np.asarray(self.channels[name], dtype=np.float64)
            check_channel(self.channels[name], self.specs[name], name, self.source)
            if not math.isfinite(self.start_s[name]):
                raise DataError(f"{self.source}: channel {name!r}: start time {self.start_s[name]} is not finite")
        check_images(self.images, self.source)
        if self.severity is not None and not math.isfinite(self.severity):
            raise DataError(f"{self.source}: severity {self.severity} is not finite")
        if self.duration_s is not None:
            if not (math.isfinite(self.duration_s) and self.duration_s > 0):
                raise DataError(f"{self.source}: declared duration {self.duration_s} s is not a positive number")
            for name in names:
                check_count(self.channels[name].size, self.specs[name].fs, self.duration_s, name, self.source)

    def n_samples(self, name: str) -> int:
        return int(self.channels[name].size)

    def end_s(self, name: str) -> float:
        """Time just after the channel's last sample (its first sample time + n / fs)."""
        return self.start_s[name] + self.channels[name].size / float(self.specs[name].fs)


def check_channel(x: np.ndarray, spec: ChannelLike, name: str, source: str) -> None:
    """A 1-D, finite, non-empty channel whose spec has the same name, a known kind and a positive rate."""
    where = f"{source}: channel {name!r}"
    if getattr(spec, "name", None) != name:
        raise DataError(f"{where}: its spec is named {getattr(spec, 'name', None)!r}")
    if getattr(spec, "kind", None) not in CHANNEL_KINDS:
        raise DataError(f"{where}: kind {getattr(spec, 'kind', None)!r} is not one of {', '.join(CHANNEL_KINDS)}")
    fs = getattr(spec, "fs", None)
    if not isinstance(fs, (int, float)) or not math.isfinite(fs) or fs <= 0:
        raise DataError(f"{where}: sampling rate must be a positive number of Hz, got {fs!r}")
    if x.ndim != 1:
        raise DataError(f"{where}: samples must be 1-D, got shape {x.shape}")
    check_signal(x, where)


def check_count(n: int, fs: float, duration_s: float, name: str, source: str) -> None:
    """Refuse a channel whose ``n`` samples at ``fs`` do not span ``duration_s`` (within 1 % and one sample)."""
    expected = duration_s * fs
    if abs(n - expected) > 1.0 + RATE_TOLERANCE * expected:
        raise DataError(
            f"{source}: channel {name!r}: {n} samples at the declared {fs:g} Hz span {n / fs:.4g} s, but the recording "
            f"lasts {duration_s:.4g} s (about {n / duration_s:.4g} Hz): the channel's sampling rate disagrees with its spec"
        )


def check_rate(times_s: np.ndarray, fs: float, name: str, source: str, tolerance: float = 0.02) -> None:
    """Refuse a channel whose sample time stamps give a rate other than ``fs`` (relative ``tolerance``)."""
    if times_s.size < 2:
        return
    span = float(times_s[-1] - times_s[0])
    measured = (times_s.size - 1) / span if span > 0 else math.inf
    if not abs(measured - fs) <= tolerance * fs:
        raise DataError(
            f"{source}: channel {name!r}: {times_s.size} samples time-stamped over {span:.6g} s, i.e. {measured:.6g} Hz, "
            f"but the channel is declared at {fs:g} Hz"
        )


@dataclass
class SensorSet:
    """The sensor recordings of one dataset: ordered classes and conditions, and notes on what was missing."""

    name: str
    classes: list[FaultClass]
    recordings: list[SensorRecording]
    conditions: list[str]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_labels(self.name, self.class_names, self.conditions, self.recordings)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def channel_names(self) -> list[str]:
        """Every channel name some recording has, in first-seen order."""
        seen: dict[str, None] = {}
        for rec in self.recordings:
            seen.update(dict.fromkeys(rec.channels))
        return list(seen)

    def cell(self, condition: str, label: str) -> list[SensorRecording]:
        return [r for r in self.recordings if r.condition == condition and r.label == label]


# --- CWRU ---------------------------------------------------------------------------------------------------------


def cwru_rpm(path: Path, number: int) -> float | None:
    """The ``X<NNN>RPM`` value stored in a CWRU file, or None when the file has none."""
    name = f"X{number:03d}RPM"
    try:
        if name not in [v for v, _, _ in scipy.io.whosmat(str(path))]:
            return None
        value = np.asarray(scipy.io.loadmat(str(path), variable_names=[name])[name], dtype=np.float64).ravel()
    except Exception as exc:  # scipy raises many types for corrupt files
        raise DataError(f"{path}: variable {name} unreadable ({type(exc).__name__}: {exc})") from None
    if value.size != 1 or not math.isfinite(value[0]) or value[0] <= 0:
        raise DataError(f"{path}: variable {name} should be one positive rpm value, got {value[:4]}")
    return float(value[0])


def _number_of(source: str, files: dict[int, Path]) -> int:
    """The CWRU number a :func:`load_cwru` source string starts with (a path, maybe followed by ``[a:b]`` or `` (...)``)."""
    matches = [(len(str(p)), n) for n, p in files.items() if source == str(p) or source.startswith((f"{p}[", f"{p} "))]
    if not matches:
        raise DataError(f"{source}: not one of the CWRU files found ({len(files)} files)")
    return max(matches)[1]


def cwru_sensor_set(
    data_root: Path | str | DataConfig,
    loads: list[int] | tuple[int, ...] = (0, 1, 2, 3),
    channels: tuple[str, ...] | list[str] = ("DE", "FE"),
    missing_normal: str = "disjoint_97",
    rpm_tolerance: float = 25.0,
    target_fs: float = 12000.0,
) -> SensorSet:
    """CWRU recordings as sensor recordings: DE and FE vibration at 12 kHz and a ``speed`` channel (rpm, 1 Hz).

    Recordings, classes, conditions and notes are those of :func:`load_cwru` with the same options (so the sources
    match a :class:`~syndiag.data.prepare.PreparedDataset` built from them). The speed is the file's own
    ``X<NNN>RPM`` when present and within ``rpm_tolerance`` of its load's nominal speed, else the nominal speed; each
    fallback is noted (275 has no RPM variable; 279's says 1732 rpm at 1 HP, which the spectrum contradicts).
    Severity is the defect diameter in inches (0.0 for normal).

    ``data_root`` may be a :class:`~syndiag.config.data.DataConfig`: its data root, loads, ``missing_normal`` and
    ``target_fs`` are then used (the channels stay ``channels``), so the set matches the dataset it prepares.
    """
    if isinstance(data_root, DataConfig):
        config, data_root = data_root, data_root.resolved_data_root()
        if data_root is None:
            raise DataError("the CWRU sensor set needs a data root (--data-root or $SYNDIAG_DATA)")
        loads, missing_normal, target_fs = config.cwru.loads, config.cwru.missing_normal, config.cwru.target_fs
    folder = dataset_folder(Path(data_root), "cwru")
    try:
        options = CWRUOptions(channels=list(channels), loads=list(loads), missing_normal=missing_normal, target_fs=target_fs)
    except ValidationError as exc:
        raise ConfigError(f"CWRU sensor set: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    base = load_cwru(folder, options)
    files = find_cwru_files(folder)
    catalogue = cwru_file_map()
    notes = list(base.notes)
    speeds: dict[int, tuple[float, str]] = {}
    for number in sorted({_number_of(r.source, files) for r in base.recordings}):
        entry, stored = catalogue[number], cwru_rpm(files[number], number)
        nominal = float(CWRU_LOADS[entry.load_hp])
        if stored is not None and abs(stored - nominal) <= rpm_tolerance:
            speeds[number] = (stored, f"speed {stored:g} rpm from X{number:03d}RPM")
            continue
        why = "the file has no RPM variable" if stored is None else f"its X{number:03d}RPM = {stored:g} rpm is more than {rpm_tolerance:g} rpm away"
        note = f"{entry.file_name}: speed set to the nominal {nominal:g} rpm of {entry.load_hp} HP ({why})"
        speeds[number] = (nominal, note)
        notes.append(note)
    recordings = []
    for rec in base.recordings:
        number = _number_of(rec.source, files)
        rpm, how = speeds[number]
        duration = rec.n_samples / rec.fs
        data = {name: rec.signal[i] for i, name in enumerate(rec.channels)}
        specs: dict[str, Any] = {name: SensorChannel(name, "vibration", rec.fs) for name in rec.channels}
        data["speed"] = np.full(math.floor(duration * SPEED_FS) + 1, rpm)
        specs["speed"] = SensorChannel("speed", "speed", SPEED_FS)
        recordings.append(
            SensorRecording(
                channels=data,
                specs=specs,
                start_s=dict.fromkeys(data, 0.0),
                label=rec.label,
                condition=rec.condition,
                source=rec.source,
                severity=float(catalogue[number].diameter_in),
                notes=[how, *rec.notes],
                duration_s=duration,
                group=str(number),
            )
        )
    return SensorSet(name="cwru", classes=base.classes, recordings=recordings, conditions=base.conditions, missing=base.missing, notes=notes)
