"""The user's own recordings (.mat, .csv, .npy, .npz), described by a YAML dataset spec."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from syndiag.config.base import StrictModel, read_yaml
from syndiag.config.sensor import ChannelKind
from syndiag.data.paths import fixed_folder, is_folder, require_file, require_folder
from syndiag.data.recording import FaultClass, Recording, RecordingSet
from syndiag.data.signal_files import (
    ChannelRef,
    FileFormat,
    file_format,
    pattern_error,
    read_channels,
)
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


def load_custom(spec_path: Path) -> RecordingSet:
    """Every recording a YAML dataset spec lists, checked against its classes."""
    return load_custom_entries(spec_path)[0]


def load_custom_entries(spec_path: Path) -> tuple[RecordingSet, list[RecordingSpec]]:
    """The recordings of a YAML dataset spec and, for each, the spec entry it comes from."""
    spec_path = Path(spec_path).expanduser()
    spec = DatasetSpec.from_dict(read_yaml(spec_path), source=str(spec_path))
    class_names = [c.name for c in spec.classes]
    base = spec_path.parent
    first_entry: dict[Path, int] = {}
    recordings: list[Recording] = []
    entries: list[RecordingSpec] = []
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
            recordings.append(_load_entry_file(path, entry, spec.fs, f"{where} ({path})"))
            entries.append(entry)
        if entry.condition not in conditions:
            conditions.append(entry.condition)
    missing = [
        f"{c.name} ({c.prompt}) at {condition}: no recording"
        for condition in conditions
        for c in spec.classes
        if not any(r.label == c.name and r.condition == condition for r in recordings)
    ]
    recording_set = RecordingSet(
        name=spec.name,
        classes=[FaultClass(c.name, c.prompt) for c in spec.classes],
        conditions=conditions,
        recordings=recordings,
        missing=missing,
    )
    return recording_set, entries


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
        return Recording(
            signal=data.signal,
            fs=float(fs),
            label=entry.label,
            condition=entry.condition,
            channels=data.names,
            source=str(path),
            notes=notes,
        )
    except DataError as exc:
        raise DataError(f"{where}: {_without_prefix(str(exc), path)}") from exc


def _without_prefix(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


