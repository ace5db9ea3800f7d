"""Signals from files in the formats recordings come in (.mat, .csv, .npy, .npz): the channels asked for and the rate the file records."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from syndiag.data.seu import parse_numeric_rows
from syndiag.errors import DataError

FileFormat = Literal["auto", "mat", "csv", "npy", "npz"]
ChannelRef = str | int
Columns = list[tuple[str, np.ndarray]]

SUFFIX_FORMATS: dict[str, str] = {
    ".mat": "mat",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".npy": "npy",
    ".npz": "npz",
}
REGEX_PREFIX = "re:"  # a channel given as a regular expression over the variable names, e.g. re:^X\d+_DE_time$
FS_KEY = "fs"  # a scalar sampling rate stored beside the signals in an .npz or .mat file


@dataclass(frozen=True)
class ChannelData:
    """The samples of the selected channels of one file, and the sampling rate the file itself records."""

    names: tuple[str, ...]
    signal: np.ndarray
    fs: float | None = None


def file_format(path: Path, requested: str = "auto") -> str:
    """The reader for ``path``: the requested one, or the one its suffix implies."""
    if requested != "auto":
        return requested
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(SUFFIX_FORMATS))} "
            "or set 'format' in the spec entry"
        )
    return fmt


def read_channels(path: Path, fmt: str, channels: list[ChannelRef] | None) -> ChannelData:
    """The selected channels of one file as (channels, samples) float64, with the file's own fs if any.

    In a 2-D array the longer axis is time and the shorter one indexes columns, so both (n, k) and
    channels-first (k, n) arrays read the same way.
    """
    readers = {"mat": _read_mat, "csv": _read_csv, "npy": _read_npy, "npz": _read_npz}
    if fmt not in readers:
        raise DataError(f"{path}: unknown format {fmt!r}; use one of {', '.join(readers)}")
    columns, fs = readers[fmt](path, channels)
    lengths = {name: column.size for name, column in columns}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise DataError(f"{path}: the channels differ in length ({listing}); a recording needs equal lengths")
    return ChannelData(
        names=tuple(name for name, _ in columns),
        signal=np.stack([column for _, column in columns]).astype(np.float64, copy=False),
        fs=fs,
    )


def _read_mat(path: Path, channels: list[ChannelRef] | None) -> tuple[Columns, float | None]:
    from scipy.io import loadmat  # defers scipy.io: read only for .mat files

    try:
        contents = loadmat(str(path))
    except NotImplementedError:
        raise DataError(
            f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it in MATLAB with save(..., '-v7')"
        ) from None
    except Exception as exc:
        raise DataError(f"{path}: not a readable MATLAB .mat file: {exc}") from exc
    variables = {name: value for name, value in contents.items() if not name.startswith("__")}
    return _select_named(path, variables, channels, "variable"), _scalar_fs(path, variables)


def _read_npz(path: Path, channels: list[ChannelRef] | None) -> tuple[Columns, float | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz archive: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        raise DataError(f"{path}: holds a single .npy array, not an .npz archive; use format: npy")
    try:
        with loaded as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz archive: {exc}") from exc
    return _select_named(path, arrays, channels, "key"), _scalar_fs(path, arrays)


def _read_npy(path: Path, channels: list[ChannelRef] | None) -> tuple[Columns, float | None]:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npy file: {exc}") from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise DataError(f"{path}: is an .npz archive, not an .npy array; use format: npz")
    columns: Columns = []
    for channel in channels or [0]:
        if not isinstance(channel, int):
            raise DataError(f"{path}: .npy columns are chosen by index (0, 1, ...), not by name {channel!r}")
        columns.append((f"col{channel}", _column(path, "the array", array, channel)))
    return columns, None


def _read_csv(path: Path, channels: list[ChannelRef] | None) -> tuple[Columns, float | None]:
    header, table = read_csv_table(path)
    return select_csv_columns(path, header, table, channels), None


def read_csv_table(path: Path) -> tuple[list[str] | None, np.ndarray]:
    """The header (``None`` if the first row is numbers) and the (rows, columns) numbers of a delimited text file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    head = _head_lines(text, 6)
    if not head:
        raise DataError(f"{path}: holds no rows")
    sample = [line for _, line in head[1:]] or [head[0][1]]
    delimiter = next((d for d in ("\t", ";", ",") if all(d in line for line in sample)), None)
    first_fields = _split_fields(head[0][1], delimiter)
    header = None if all(_is_number(f) for f in first_fields) else first_fields
    if header is None:
        start = head[0][0]
    elif len(head) > 1:
        start = head[1][0]
    else:
        raise DataError(f"{path}: holds a header row but no data rows")
    body = text[start:]
    if '"' in body[:4096]:
        body = body.replace('"', " ")
    if delimiter == ";" and any("," in line for line in sample):
        body = body.replace(",", ".")
    table = parse_numeric_rows(body, str(path), text.count("\n", 0, start) + 1, delimiter or "")
    if header is not None and len(header) != table.shape[1]:
        raise DataError(
            f"{path}: the header names {len(header)} columns ({', '.join(header)}) "
            f"but the rows hold {table.shape[1]} numbers"
        )
    return header, table


def select_csv_columns(path: Path, header: list[str] | None, table: np.ndarray, channels: list[ChannelRef] | None) -> Columns:
    """The columns of a :func:`read_csv_table` result that ``channels`` name (index, header name or pattern)."""
    names = header or [f"col{i}" for i in range(table.shape[1])]
    columns: Columns = []
    for channel in channels or [0]:
        label = None
        if isinstance(channel, str):
            if header is None:
                raise DataError(
                    f"{path}: has no header row, so column {channel!r} cannot be found by name; "
                    f"use an index 0..{table.shape[1] - 1}"
                )
            if channel not in header and is_pattern(channel):
                label, channel = channel, match_one(path, channel, header, "column", ", ".join(header))
            if channel not in header:
                raise DataError(f"{path}: no column {channel!r}; the header names {', '.join(header)}")
            index = header.index(channel)
        else:
            index = channel
        if not 0 <= index < table.shape[1]:
            raise DataError(f"{path}: no column {index}; the file has columns 0..{table.shape[1] - 1}")
        columns.append((label or names[index], table[:, index].copy()))
    return columns


def _select_named(path: Path, arrays: dict[str, Any], channels: list[ChannelRef] | None, kind: str) -> Columns:
    signals = {name: value for name, value in arrays.items() if _is_signal(value)}
    listing = ", ".join(f"{name} {getattr(value, 'shape', type(value).__name__)}" for name, value in arrays.items())
    if channels is None or any(isinstance(c, int) for c in channels):
        if len(signals) != 1:
            how = f"name the {kind}(s) in 'channels'" if channels is None else f"select by {kind} name"
            raise DataError(f"{path}: holds {len(signals)} signal {kind}s ({listing or 'none'}); {how}")
    if channels is None:
        name, value = next(iter(signals.items()))
        wide = value.ndim == 2 and min(value.shape) > 1
        return [(f"{name}:0" if wide else name, _column(path, name, value, 0))]
    columns: Columns = []
    for channel in channels:
        if isinstance(channel, int):
            name, column = next(iter(signals)), channel
            label = f"{name}:{column}"
        elif channel in arrays:
            name, column, label = channel, None, channel
        else:
            name, column = _split_column(channel)
            label = channel
            if name not in arrays and is_pattern(name):
                name = match_one(path, name, list(signals), kind, listing)
        if name not in arrays:
            raise DataError(f"{path}: no {kind} {name!r}; the file holds {listing or 'nothing'}")
        columns.append((label, _column(path, name, arrays[name], column)))
    return columns


def _column(path: Path, name: str, value: Any, column: int | None) -> np.ndarray:
    """One column of a 1-D or 2-D real array; ``None`` asks for the whole of a single-column array."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        dtype = getattr(value, "dtype", type(value).__name__)
        raise DataError(f"{path}: {name} is not a real numeric array (type {dtype})")
    if value.ndim == 0 or value.ndim > 2 or value.size < 2:
        raise DataError(f"{path}: {name} has shape {value.shape}; a 1-D or 2-D array of samples is needed")
    matrix = value.reshape(-1, 1) if value.ndim == 1 else value
    if matrix.shape[0] < matrix.shape[1]:
        matrix = matrix.T
    n_columns = matrix.shape[1]
    if column is None:
        if n_columns > 1:
            raise DataError(
                f"{path}: {name} has shape {value.shape}, {n_columns} columns; "
                f"pick one as '{name}:0' ... '{name}:{n_columns - 1}'"
            )
        column = 0
    if not 0 <= column < n_columns:
        raise DataError(f"{path}: {name} has shape {value.shape}: no column {column} (columns 0..{n_columns - 1})")
    return np.array(matrix[:, column], dtype=np.float64)


def is_pattern(ref: str) -> bool:
    """Whether a channel reference is a glob (``X*_DE_time``) or a regular expression (``re:^X\\d+_DE_time$``)."""
    return ref.startswith(REGEX_PREFIX) or bool(set(ref) & set("*?["))


def pattern_error(ref: str) -> str | None:
    """Why the regular expression of ``ref`` does not compile; ``None`` when it does (or ``ref`` is no regex)."""
    if not ref.startswith(REGEX_PREFIX):
        return None
    try:
        re.compile(ref[len(REGEX_PREFIX) :])
    except (re.error, RecursionError, OverflowError) as exc:
        return f"{ref!r} is not a valid regular expression ({exc})"
    return None


def pattern_matches(pattern: str, names: list[str]) -> list[str]:
    """The names a glob or ``re:`` pattern matches (none for a regular expression that does not compile)."""
    if pattern.startswith(REGEX_PREFIX):
        if pattern_error(pattern):
            return []
        regex = re.compile(pattern[len(REGEX_PREFIX) :])
        return [name for name in names if regex.search(name)]
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def match_one(path: Path, pattern: str, names: list[str], kind: str, listing: str) -> str:
    """The one name of ``names`` that ``pattern`` matches (glob: the whole name; ``re:``: searched, anchor it
    with ``^...$``); a :class:`DataError` naming the matches when there are several, or the names when none."""
    problem = pattern_error(pattern)
    if problem:
        raise DataError(f"{path}: {problem}")
    matches = pattern_matches(pattern, names)
    if not matches:
        raise DataError(f"{path}: the pattern {pattern!r} matches no {kind}; the file holds {listing or 'nothing'}")
    if len(matches) > 1:
        raise DataError(
            f"{path}: the pattern {pattern!r} matches {len(matches)} {kind}s ({', '.join(sorted(matches))}); "
            "it must match exactly one: make it narrower"
        )
    return matches[0]


def _split_column(channel: str) -> tuple[str, int | None]:
    name, sep, column = channel.rpartition(":")
    if sep and name and column.isdigit():
        return name, int(column)
    return channel, None


def _is_signal(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.size > 1


def _scalar_fs(path: Path, arrays: dict[str, Any]) -> float | None:
    value = arrays.get(FS_KEY)
    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf" or value.size != 1:
        raise DataError(f"{path}: '{FS_KEY}' must be a single number (Hz), got {value!r}")
    fs = float(value.reshape(-1)[0])
    if not np.isfinite(fs) or fs <= 0:
        raise DataError(f"{path}: '{FS_KEY}' must be a positive number of Hz, got {fs}")
    return fs


def _head_lines(text: str, count: int) -> list[tuple[int, str]]:
    """Offsets and contents of the first ``count`` lines that are neither blank nor ``#`` comments."""
    lines: list[tuple[int, str]] = []
    offset = 0
    while len(lines) < count and offset < len(text):
        end = text.find("\n", offset)
        end = len(text) if end < 0 else end
        line = text[offset:end].strip()
        if line and not line.startswith("#"):
            lines.append((offset, line))
        offset = end + 1
    return lines


def _split_fields(line: str, delimiter: str | None) -> list[str]:
    fields = [f.strip().strip("\"'").strip() for f in (line.split(delimiter) if delimiter else line.split())]
    while fields and not fields[-1]:
        fields.pop()
    return fields


def _is_number(field: str) -> bool:
    try:
        float(field.replace(",", "."))
    except ValueError:
        return False
    return True
