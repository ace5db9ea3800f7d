"""The user's own recordings (.mat, .csv, .npy, .npz), described by a YAML dataset spec.

Each file is one :class:`~syndiag.data.recording.Recording`: its spectrogram channels (``vibration`` at the entry's rate,
unless a ``sensors`` entry of the same name gives their kind) and, read with ``sensors=True`` for the sensor model, every
declared sensor at its own rate, from the same file or a sibling file (``{stem}_temp.csv``). A sensor without time stamps
starts at 0 s and must span the recording (count = rate x duration, :func:`~syndiag.data.recording.check_count`); one with a
``time`` column starts at its first stamp, its stamps must rise at its rate and overlap the recording. Frames come from a
CSV index (time_s, file) of PNG images.
"""

from __future__ import annotations

import csv
import glob
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from syndiag.config.base import StrictModel, read_yaml
from syndiag.config.data import DataConfig
from syndiag.config.sensor import ChannelKind
from syndiag.data.paths import fixed_folder, is_folder, require_file, require_folder
from syndiag.data.recording import Channel, FaultClass, Recording, RecordingSet, check_count, check_rate
from syndiag.data.signal_files import (
    ChannelRef,
    FileFormat,
    file_format,
    pattern_error,
    read_channels,
)
from syndiag.data.thermal import read_image
from syndiag.errors import ConfigError, DataError

_GLOB_CHARS = frozenset("*?[")


def _as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int) else value


class ClassSpec(StrictModel):
    """One health state: its name and the fault description given to the language model."""

    name: str = Field(min_length=1)
    prompt: str = Field(min_length=1)

    _name_text = field_validator("name", mode="before")(_as_text)


def _sibling_pattern(value: str | None) -> str | None:
    """A sibling file's name pattern: relative, with ``{stem}`` (the recording file's stem) as its only placeholder."""
    if value is None:
        return None
    try:
        name = value.format(stem="x")
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"{value!r}: the only placeholder allowed is {{stem}} (the recording file's name without suffix)") from None
    if Path(name).is_absolute() or ".." in Path(name).parts or not name.strip():
        raise ValueError(f"{value!r}: must name a file beside the recording (relative, no '..')")
    return value


class SensorSpec(StrictModel):
    """A sensor channel of the sensor model: its kind and own rate, read from the recording's file or a sibling file."""

    name: str = Field(min_length=1)
    kind: ChannelKind
    fs: float = Field(gt=0, allow_inf_nan=False, description="sampling rate in Hz")
    ref: ChannelRef = Field(description="column, variable or key holding the samples, like a channel ref")
    file: str | None = Field(None, description="sibling file pattern, e.g. '{stem}_temp.csv' (default: the recording's file)")
    time: ChannelRef | None = Field(None, description="column or key of sample times in s on the recording's clock (default: from 0 s)")

    _name_text = field_validator("name", mode="before")(_as_text)
    _file_pattern = field_validator("file")(_sibling_pattern)


class ImagesSpec(StrictModel):
    """Camera frames of a recording: a CSV index (time_s, file) of PNG images, beside the recording."""

    file: str = Field(description="index file pattern, e.g. '{stem}_frames.csv'; image paths are relative to it")

    _file_pattern = field_validator("file")(_sibling_pattern)


class RecordingSpec(StrictModel):
    """Files of one class at one condition, and which channels to read from them."""

    files: list[str] = Field(min_length=1, description="paths or globs, relative to the spec's folder")
    label: str = Field(min_length=1)
    condition: str = Field(min_length=1)
    channels: list[ChannelRef] | None = Field(None, min_length=1, description="default: the first channel")
    fs: float | None = Field(None, gt=0)
    format: FileFormat = "auto"
    sensors: list[SensorSpec] = Field(default_factory=list, description="sensor-model channels at their own rates")
    severity: float | None = Field(None, allow_inf_nan=False, description="fault severity of these recordings (sensor model)")
    images: ImagesSpec | None = None

    _files_list = field_validator("files", mode="before")(_as_list)
    _channels_list = field_validator("channels", mode="before")(_as_list)
    _label_text = field_validator("label", "condition", mode="before")(_as_text)

    @field_validator("channels")
    @classmethod
    def _distinct_channels(cls, value: list[ChannelRef] | None) -> list[ChannelRef] | None:
        if value is not None and len({str(v) for v in value}) != len(value):
            raise ValueError(f"a channel is listed twice in {value}")
        for ref in value or []:
            problem = pattern_error(ref) if isinstance(ref, str) else None
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("sensors")
    @classmethod
    def _distinct_sensors(cls, value: list[SensorSpec]) -> list[SensorSpec]:
        names = [s.name for s in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"sensor name(s) listed twice: {', '.join(repeated)}")
        return value


class DatasetSpec(StrictModel):
    """A custom dataset: ordered classes with their prompts, and the recordings of each."""

    name: str = Field(min_length=1)
    fs: float | None = Field(None, gt=0, description="default sampling rate of every entry")
    classes: list[ClassSpec] = Field(min_length=1)
    recordings: list[RecordingSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_classes(self) -> "DatasetSpec":
        names = [c.name for c in self.classes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"class name(s) listed twice: {', '.join(repeated)}")
        return self


def custom_spec_path(config: DataConfig) -> Path:
    """The YAML dataset spec of ``dataset: custom``: as given, else relative to the data root; it must exist."""
    root = config.resolved_data_root()
    spec = Path(config.spec).expanduser()
    if not spec.is_absolute() and root is not None and not os.path.exists(spec):
        spec = root / spec
    return require_file(spec, "dataset spec")


def custom_sensor_set(data: DataConfig) -> RecordingSet:
    """The recordings of ``dataset: custom`` with their declared sensors and frames (:func:`load_custom` with ``sensors``)."""
    if data.dataset != "custom":
        raise ConfigError(f"custom_sensor_set reads dataset: custom, not {data.dataset!r}")
    return load_custom(custom_spec_path(data), sensors=True)


def load_custom(spec_path: Path, sensors: bool = False) -> RecordingSet:
    """Every recording a YAML dataset spec lists, checked against its classes; with ``sensors``, each also holds the
    sensors and frames its entry declares (see the module docstring)."""
    spec_path = Path(spec_path).expanduser()
    spec = DatasetSpec.from_dict(read_yaml(spec_path), source=str(spec_path))
    class_names = [c.name for c in spec.classes]
    base = spec_path.parent
    first_entry: dict[Path, int] = {}
    recordings: list[Recording] = []
    conditions: list[str] = []
    for index, entry in enumerate(spec.recordings):
        where = f"{spec_path}: recordings[{index}]"
        if entry.label not in class_names:
            raise ConfigError(f"{where}: unknown label {entry.label!r}; the classes are {', '.join(class_names)}")
        for path in resolve_files(entry.files, base, where):
            key = path.resolve()
            if key in first_entry:
                raise ConfigError(
                    f"{where}: {path} is listed twice (also in recordings[{first_entry[key]}]); "
                    "each file may be one recording only"
                )
            first_entry[key] = index
            recording = _load_entry_file(path, entry, spec.fs, f"{where} ({path})")
            recordings.append(_with_sensors(recording, entry) if sensors else recording)
        if entry.condition not in conditions:
            conditions.append(entry.condition)
    missing = [
        f"{c.name} ({c.prompt}) at {condition}: no recording"
        for condition in conditions
        for c in spec.classes
        if not any(r.label == c.name and r.condition == condition for r in recordings)
    ]
    return RecordingSet(
        name=spec.name,
        classes=[FaultClass(c.name, c.prompt) for c in spec.classes],
        conditions=conditions,
        recordings=recordings,
        missing=missing,
    )


def resolve_files(patterns: list[str], base: Path, where: str) -> list[Path]:
    """The files that paths or globs name, relative to ``base`` unless absolute, in a stable order.

    A path that names an existing file is that file, even when its name holds glob characters (``a[1].csv``).
    """
    paths: list[Path] = []
    for pattern in patterns:
        try:
            given = Path(pattern).expanduser()
        except RuntimeError:  # "~name" of an unknown user: taken literally
            given = Path(pattern)
        full = given if given.is_absolute() else base / given
        if os.path.isfile(full):
            paths.append(full)
        elif _GLOB_CHARS & set(pattern):
            anchor = "" if given.is_absolute() else glob.escape(str(base)) + "/"
            try:
                found = glob.glob(anchor + str(given), recursive=True)
            except (OSError, ValueError, RecursionError) as exc:
                raise DataError(f"{where}: the pattern {pattern!r} cannot be searched ({exc})") from None
            matches = sorted(Path(p) for p in found if os.path.isfile(p))
            if not matches:
                start = fixed_folder(full)
                if _in(where, is_folder, start):
                    _in(where, require_folder, start, "folder")
                raise DataError(f"{where}: the pattern {pattern!r} matches no file (looked in {start})")
            paths.extend(matches)
        else:
            _in(where, require_file, full)
    return paths


def _in(where: str, check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def _load_entry_file(path: Path, entry: RecordingSpec, default_fs: float | None, where: str) -> Recording:
    try:
        data = read_channels(path, file_format(path, entry.format), entry.channels)
    except DataError as exc:
        raise DataError(f"{where}: {_without_prefix(str(exc), path)}") from exc
    fs = entry.fs or default_fs or data.fs
    if fs is None:
        raise ConfigError(f"{where}: no sampling rate: set 'fs' in the entry or at the top of the spec")
    notes: tuple[str, ...] = ()
    if data.fs is not None and data.fs != fs:
        notes = (f"the file records fs={data.fs:g} Hz; the spec's {fs:g} Hz is used",)
    try:
        return Recording.from_signal(data.signal, float(fs), data.names, label=entry.label, condition=entry.condition,
                                     source=str(path), notes=notes, severity=entry.severity, group=str(path))
    except DataError as exc:
        raise DataError(f"{where}: {_without_prefix(str(exc), path)}") from exc


def _without_prefix(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message




def _with_sensors(rec: Recording, entry: RecordingSpec) -> Recording:
    """One file's recording with its declared sensors at their rates (or the kind of a spectrogram channel) and frames."""
    path = Path(rec.source)
    kinds, added = {}, {}
    for sensor in entry.sensors:
        if sensor.name in rec.channels:
            if sensor.file is not None or sensor.time is not None or sensor.fs != rec.fs:
                raise DataError(f"{path}: channel {sensor.name!r} is a spectrogram channel at {rec.fs:g} Hz from this file: its "
                                "sensors entry may only state its kind (fs equal, no file, no time)")
            kinds[sensor.name] = sensor.kind
            continue
        samples, start = _read_sensor(path, entry, sensor, rec.seconds)
        added[sensor.name] = (samples, Channel(sensor.name, sensor.kind, sensor.fs), start)
    specs = {name: Channel(name, kinds.get(name, spec.kind), spec.fs) for name, spec in rec.specs.items()}
    images = _read_images(path, entry.images) if entry.images is not None else []
    return rec.with_channels(added, specs={**specs, **{name: spec for name, (_, spec, _) in added.items()}}, images=images)


def sibling(path: Path, pattern: str) -> Path:
    """The file a ``{stem}`` pattern names beside ``path``."""
    return path.parent / pattern.format(stem=path.stem)


def _read_sensor(path: Path, entry: RecordingSpec, sensor: SensorSpec, duration: float) -> tuple[np.ndarray, float]:
    """A declared sensor's samples and the time of its first one, checked against its rate and the recording's span."""
    source = path if sensor.file is None else sibling(path, sensor.file)
    where = f"{source}: channel {sensor.name!r}"
    if sensor.file is not None and not source.is_file():
        raise DataError(f"{where}: the file {sensor.file!r} names for {path.name} does not exist")
    refs = [sensor.ref] if sensor.time is None else [sensor.ref, sensor.time]
    try:
        data = read_channels(source, file_format(source, entry.format if sensor.file is None else "auto"), refs)
    except DataError as exc:
        raise DataError(f"{where} (ref {sensor.ref!r}{'' if sensor.time is None else f', time {sensor.time!r}'}): {exc}") from None
    values = data.signal[0]
    if sensor.time is None:
        check_count(values.size, sensor.fs, duration, sensor.name, str(source))
        return values, 0.0
    times = data.signal[1]
    if times.size > 1 and not bool(np.all(np.diff(times) > 0)):
        raise DataError(f"{where}: its time stamps ({sensor.time!r}) do not rise")
    check_rate(times, sensor.fs, sensor.name, str(source))
    first, end = float(times[0]), float(times[0]) + values.size / sensor.fs
    if not (first < duration and end > 0.0):
        raise DataError(f"{where}: its samples span {first:.6g} s to {end:.6g} s, no time in common with the recording "
                        f"{path.name} (0 s to {duration:.6g} s)")
    return values, first


def _read_images(path: Path, images: ImagesSpec) -> list[tuple[float, np.ndarray]]:
    """The frames a CSV index (time_s, file; ``#`` lines are comments) lists, in time order; files relative to the index."""
    index = sibling(path, images.file)
    if not index.is_file():
        raise DataError(f"{index}: the image index {images.file!r} names for {path.name} does not exist")
    lines = [line for line in index.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    frames = []
    for i, row in enumerate(csv.DictReader(lines), start=2):
        try:
            time_s, name = float(row["time_s"]), row["file"]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{index}: row {i} needs a numeric time_s and a file, got {dict(row)}") from None
        if not math.isfinite(time_s) or not name:
            raise DataError(f"{index}: row {i}: time {row['time_s']!r} or file {name!r} is not valid")
        try:
            frames.append((time_s, read_image(index.parent / name)))
        except DataError as exc:
            raise DataError(f"{index}: row {i}: image {name!r}: {exc}") from None
    if not frames:
        raise DataError(f"{index}: lists no image (columns time_s, file)")
    return sorted(frames, key=lambda item: item[0])
