"""The own-data spec's sensor channels (``sensors:``, ``severity:``, ``images:``) as a sensor set matching the prepared custom dataset.

Each file of a ``dataset: custom`` spec becomes one :class:`~syndiag.data.sensors.SensorRecording` with the same source, label
and condition as the recording :func:`~syndiag.data.custom.load_custom` makes of it (so
:func:`~syndiag.data.sensor_windows.sensor_windows_for` pairs them): its spectrogram channels (``vibration`` at the entry's
rate, unless a ``sensors`` entry of the same name gives their kind) plus every declared sensor at its own rate, from the same
file or a sibling file (``{stem}_temp.csv``). A channel without time stamps starts at 0 s and must span the recording
(count = rate x duration, :func:`~syndiag.data.sensors.check_count`); one with a ``time`` column starts at its first stamp,
its stamps must rise at its rate and overlap the recording. Frames come from a CSV index (time_s, file) of PNG images.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.data.custom import (
    ImagesSpec,
    RecordingSpec,
    SensorSpec,
    load_custom_entries,
)
from syndiag.data.recording import Recording
from syndiag.data.sensors import (
    SensorChannel,
    SensorRecording,
    SensorSet,
    check_count,
    check_rate,
)
from syndiag.data.signal_files import file_format, read_channels
from syndiag.data.sources import custom_spec_path
from syndiag.data.thermal import read_image
from syndiag.errors import ConfigError, DataError


def custom_sensor_set(data: DataConfig) -> SensorSet:
    """Every file of the custom spec as a sensor recording: its spectrogram channels and its declared sensors at their rates."""
    if data.dataset != "custom":
        raise ConfigError(f"custom_sensor_set reads dataset: custom, not {data.dataset!r}")
    recording_set, entries = load_custom_entries(custom_spec_path(data))
    recordings = [custom_sensor_recording(rec, entry) for rec, entry in zip(recording_set.recordings, entries)]
    return SensorSet(name=recording_set.name, classes=recording_set.classes, recordings=recordings,
                     conditions=recording_set.conditions, missing=recording_set.missing, notes=list(recording_set.notes))


def custom_sensor_recording(rec: Recording, entry: RecordingSpec) -> SensorRecording:
    """One file's sensor recording: the spectrogram channels as read for the prepared dataset, plus the declared sensors."""
    path = Path(rec.source)
    duration = rec.n_samples / rec.fs
    channels = {name: rec.signal[i] for i, name in enumerate(rec.channels)}
    specs: dict[str, Any] = {name: SensorChannel(name, "vibration", rec.fs) for name in rec.channels}
    start_s = dict.fromkeys(channels, 0.0)
    for sensor in entry.sensors:
        if sensor.name in channels:
            if sensor.file is not None or sensor.time is not None or sensor.fs != rec.fs:
                raise DataError(f"{path}: channel {sensor.name!r} is a spectrogram channel at {rec.fs:g} Hz from this file: its "
                                "sensors entry may only state its kind (fs equal, no file, no time)")
            specs[sensor.name] = SensorChannel(sensor.name, sensor.kind, rec.fs)
            continue
        channels[sensor.name], start_s[sensor.name] = _read_sensor(path, entry, sensor, duration)
        specs[sensor.name] = SensorChannel(sensor.name, sensor.kind, sensor.fs)
    images = _read_images(path, entry.images) if entry.images is not None else []
    return SensorRecording(channels=channels, specs=specs, start_s=start_s, label=rec.label, condition=rec.condition,
                           source=rec.source, severity=entry.severity, images=images, notes=list(rec.notes), group=rec.source)


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
