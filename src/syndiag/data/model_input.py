"""The one reader of a user's recording for a trained model (:func:`read_input`): the file turned into what the model
reads (each channel it needs at that channel's rate), checked before any model loads.

The file must be readable, of a known format, hold the channels the model reads (in the model's order, or as
``--channels`` maps them) and only finite values; its sampling rate comes from ``--fs``, the file's own ``fs`` value
or, for an original CWRU ``.mat``, the CWRU catalogue, and a ``--fs`` that contradicts what the file or the catalogue
says is refused. A model whose channels share one rate (Syn-Diag cloud and edge) reads them by name, column index or
glob, resampled to its rate, or a file of windows as it is; a sensor model's layout is read channel by channel, each at
its own rate, a channel the file lacks listed as missing (:mod:`syndiag.data.channel_input`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.data.channel_input import CWRU_SENSORS, check_fs, file_rate, mat_names, read_layout
from syndiag.data.cwru import catalogue_entry, cwru_numbers, own_number, resample
from syndiag.data.paths import require_file
from syndiag.data.recording import check_signal
from syndiag.data.signal_files import (
    FS_KEY,
    ChannelRef,
    file_format,
    is_pattern,
    pattern_matches,
    read_channels,
    read_csv_table,
    select_csv_columns,
)
from syndiag.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ModelInput:
    """A recording read for a model: each channel it reads (1-D, at that channel's rate, first sample at t = 0), the
    channels the file lacks and notes on how they were read. ``uniform``: the channels stacked (channels, n) when they
    share one rate, or the windows (m, channels, length) of a file of windows (then ``channels`` is empty)."""

    source: str
    channels: dict[str, np.ndarray]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    uniform: np.ndarray | None = None
    recorded_hz: dict[str, float] = field(default_factory=dict)
    """The rate each channel was recorded at (a layout read), before it was brought to the model's."""


def read_input(path: Path, channels: Sequence[Any], fs: float | None = None, select: str | Sequence[Any] | None = None, *,
               layout: bool = False, resample_to: float | None = None) -> ModelInput:
    """The channels a model reads (``channels``: each with its name, kind and rate) from the file ``path``, checked.

    ``layout``: a sensor model's layout, read channel by channel (``--channels`` in layout order, ``-`` for one the file
    lacks, ``NAME@RATE`` for its own rate; ``resample_to``: the rate training resampled other CWRU rates to); else the
    channels share one rate and are read together (``select``: the file's channels to read in their place)."""
    path = require_file(Path(path))
    check_fs(fs)
    if layout:
        found = read_layout(path, channels, fs, select, resample_to)
        return ModelInput(str(path), found.channels, found.missing, found.notes, recorded_hz=found.recorded_hz)
    names = [spec.name for spec in channels]
    signal, _ = read_signal(path, names, fs, float(channels[0].fs), select)
    return ModelInput(str(path), {} if signal.ndim == 3 else dict(zip(names, signal)), uniform=signal)


def read_signal(path: Path, channels: list[str], fs: float | None, target_fs: float,
                select: str | list[ChannelRef] | None = None) -> tuple[np.ndarray, float]:
    """Signal (channels, n) at ``target_fs``, or windows (m, channels, length), from a .mat (an original CWRU file by
    its own variables), .csv, .npy or .npz file; checked (channels, rate, finite values) before any model loads.

    ``channels`` are the model's; ``select`` names the file's channels to read in their place (``--channels``).
    """
    found = read_model_input(path, channels, fs, target_fs, select)
    if found.windows:
        return found.signal, target_fs
    signal = found.signal
    if found.fs != target_fs:
        log.warning("%s: resampling from %g Hz to the model's %g Hz", path, found.fs, target_fs)
        signal = resample(signal, found.fs, target_fs)
    return signal, target_fs


@dataclass(frozen=True)
class FileSignal:
    """A file's channels as read, at the file's rate: a recording (channels, n) at ``fs``, or windows (m, channels, length)."""

    signal: np.ndarray
    fs: float
    names: tuple[str, ...]
    windows: bool = False


def parse_channels(value: str | list[ChannelRef] | tuple[ChannelRef, ...] | None) -> list[ChannelRef] | None:
    """``"DE,FE"`` / ``"0,2"`` / ``["X105_DE_time"]`` -> channel references (digits become column indices)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    refs: list[ChannelRef] = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
            refs.append(int(item) if item.isdigit() else item)
        else:
            refs.append(item)
    if not refs:
        raise DataError(f"--channels {value!r} names no channel")
    return refs


def needs(channels: list[str]) -> str:
    """``"2 channels (DE, FE)"``: what a model was trained on."""
    return f"{len(channels)} channel{'s' if len(channels) != 1 else ''} ({', '.join(map(str, channels))})"


def read_model_input(
    path: Path,
    model_channels: list[str],
    fs: float | None,
    model_fs: float,
    select: str | list[ChannelRef] | None = None,
) -> FileSignal:
    """The channels ``model_channels`` (or those ``select`` names, in the model's order) of ``path``, checked, at the file's rate."""
    path = require_file(Path(path))
    check_fs(fs)
    model_channels = [str(c) for c in model_channels]
    chosen = parse_channels(select)
    wanted: list[ChannelRef] = chosen or list(model_channels)
    if len(wanted) != len(model_channels):
        raise DataError(
            f"{path}: the model needs {needs(model_channels)}; --channels names {len(wanted)} "
            f"({', '.join(map(str, wanted))}). Give one per model channel, in the model's order"
        )
    fmt = file_format(path)
    if fmt == "npy":
        found = _read_npy(path, model_channels, wanted if chosen else None, fs, model_fs)
    elif fmt == "csv":
        found = _read_csv(path, model_channels, wanted, chosen is not None, fs)
    else:
        found = _read_named(path, fmt, model_channels, wanted, chosen is not None, fs)
    if chosen is not None:
        refuse_repeats(str(path), found, model_channels)
    check_signal(found.signal, str(path))
    return found


def refuse_repeats(source: str, found: FileSignal, slots: list[str]) -> None:
    """A file channel that ``--channels`` reads for two model channels (by name, or by identical samples when a glob or
    an index named it) is refused, naming it: the drive-end signal in the fan-end slot would be diagnosed without a word."""
    rows = found.signal.shape[-2] if found.signal.ndim >= 2 else 1
    for j in range(min(rows, len(slots))):
        for i in range(j):
            same = found.names[i] == found.names[j]
            if same or np.array_equal(found.signal[..., i, :], found.signal[..., j, :]):
                what = found.names[i] if same else f"{found.names[i]} and {found.names[j]}, identical samples,"
                raise DataError(f"{source}: --channels reads {what} for both the model's {slots[i]} and {slots[j]} channels (one "
                                f"channel named twice?); give each of the model's {needs(slots)} its own channel of the file, in "
                                "the model's order")


def _read_named(path: Path, fmt: str, model_channels: list[str], wanted: list[ChannelRef], chosen: bool, fs: float | None) -> FileSignal:
    number, entry = None, None
    if fmt == "mat":
        names = mat_names(path)
        number = _recording_number(path, names, wanted)
    if number is not None:
        entry = catalogue_entry(path, number)  # by the variables' number, whatever the file is called
        wanted = [f"X{number:03d}_{ref}_time" if ref in CWRU_SENSORS else ref for ref in wanted]
        absent = [str(ref) for ref in wanted if isinstance(ref, str) and not is_pattern(ref) and ":" not in ref and ref not in names]
        if absent:
            what = entry.describe() if entry else f"CWRU recording {number}"
            raise DataError(
                f"{path}: the model needs {needs(model_channels)}{_as_read(wanted, model_channels)}; this file ({what}) "
                f"holds {', '.join(names)}: no {', '.join(absent)}. {_hint(chosen)}"
            )
    try:
        data = read_channels(path, fmt, wanted)
    except DataError as exc:
        raise DataError(f"{path}: the model needs {needs(model_channels)}{_as_read(wanted, model_channels)}; "
                        f"{_strip(str(exc), path)}. {_hint(chosen)}") from None
    known: list[tuple[float, str]] = []
    if data.fs is not None:
        known.append((data.fs, f"the file's own '{FS_KEY}' value"))
        if entry is not None and not math.isclose(data.fs, entry.fs_hz, rel_tol=1e-6):
            log.warning("%s: the file's own fs %g Hz differs from the CWRU catalogue's %g Hz for %s; the file's is used",
                        path, data.fs, entry.fs_hz, entry.describe())
    elif entry is not None:
        known.append((entry.fs_hz, f"the CWRU catalogue ({entry.describe()})"))
    return FileSignal(data.signal, _rate(path, fs, known), data.names)


def _recording_number(path: Path, names: list[str], wanted: list[ChannelRef]) -> int | None:
    """The CWRU recording a file's variables belong to: its own number when channels are asked for as DE/FE/BA
    (several numbers and no file-name match: an error), else the number of the variables named explicitly."""
    if not cwru_numbers(names):
        return None
    if any(ref in CWRU_SENSORS for ref in wanted):
        return own_number(path, names)
    refs = [ref for ref in wanted if isinstance(ref, str)]
    resolved = [hit[0] if is_pattern(ref) and len(hit := pattern_matches(ref, names)) == 1 else ref for ref in refs]
    explicit = cwru_numbers(resolved)
    if len(explicit) == 1:
        return explicit[0]
    try:
        return own_number(path, names)
    except DataError:
        return None


def _read_csv(path: Path, model_channels: list[str], wanted: list[ChannelRef], chosen: bool, fs: float | None) -> FileSignal:
    header, table = read_csv_table(path)
    if not chosen and not (header and all(c in header for c in model_channels)):
        if table.shape[1] != len(model_channels):
            columns = ", ".join(header) if header else f"{table.shape[1]} unnamed columns (0..{table.shape[1] - 1})"
            raise DataError(
                f"{path}: the model needs {needs(model_channels)}; the file has {columns}. {_hint(True)} "
                "(column names or indices)"
            )
        wanted = list(range(table.shape[1]))
    try:
        columns = select_csv_columns(path, header, table, wanted)
    except DataError as exc:
        raise DataError(f"{path}: the model needs {needs(model_channels)}; {_strip(str(exc), path)}. {_hint(chosen)}") from None
    signal = np.stack([column for _, column in columns])
    return FileSignal(signal, _rate(path, fs, []), tuple(name for name, _ in columns))


def _read_npy(path: Path, model_channels: list[str], chosen: list[ChannelRef] | None, fs: float | None, model_fs: float) -> FileSignal:
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except Exception as exc:  # numpy raises many types for a damaged file
        raise DataError(f"{path}: not a readable .npy file: {exc}") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path}: is an .npz archive, not an .npy array; rename it to .npz")
    if array.dtype.kind not in "iuf":
        raise DataError(f"{path}: holds {array.dtype} values, not real numbers")
    if array.ndim == 3:  # windows, cut at the model's rate
        if fs is not None and not math.isclose(fs, model_fs, rel_tol=1e-6):
            raise DataError(f"{path}: windows at {fs:g} Hz, the model was trained at {model_fs:g} Hz; "
                            "windows cannot be resampled: cut them from a recording at that rate")
        rows = [r if isinstance(r, int) else -1 for r in chosen] if chosen else list(range(array.shape[1]))
        if len(rows) != len(model_channels) or not all(0 <= r < array.shape[1] for r in rows):
            raise DataError(
                f"{path}: windows of shape {array.shape} hold {array.shape[1]} channel(s) (axis 1); the model needs "
                f"{needs(model_channels)}{'' if chosen is None else '; --channels takes indices 0..' + str(array.shape[1] - 1)}"
            )
        return FileSignal(np.asarray(array[:, rows], dtype=np.float64), model_fs, tuple(f"col{r}" for r in rows), windows=True)
    if array.ndim not in (1, 2):
        raise DataError(f"{path}: an array of shape {array.shape}; a recording (channels, n) or windows (m, channels, length) is needed")
    if fs is None:
        raise DataError(
            f"{path}: a .npy array records no sampling rate; pass --fs (the model was trained at {model_fs:g} Hz, "
            "a recording at another rate is resampled), or save it as .npz with an 'fs' value"
        )
    count = 1 if array.ndim == 1 else min(array.shape)
    if chosen is None and count != len(model_channels):
        raise DataError(
            f"{path}: an array of shape {array.shape} holds {count} channel(s); the model needs "
            f"{needs(model_channels)}. {_hint(True)} (column indices 0..{count - 1})"
        )
    data = read_channels(path, "npy", chosen or list(range(count)))
    return FileSignal(data.signal, fs, data.names)


def _rate(path: Path, fs: float | None, known: list[tuple[float, str]]) -> float:
    rate, _ = file_rate(path, fs, known)
    if rate is None:
        raise DataError(f"{path}: sampling rate unknown (the file does not say); pass --fs")
    return rate


def _as_read(wanted: list[Any], model_channels: list[str]) -> str:
    shown = [str(w) for w in wanted]
    return "" if shown == model_channels else f", read as {', '.join(shown)}"


def _hint(chosen: bool) -> str:
    if chosen:
        return "Choose the file's channels with --channels, one per model channel, in the model's order"
    return "Name the file's channels with --channels, one per model channel, in the model's order"


def _strip(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
