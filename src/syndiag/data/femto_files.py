"""Fast reading of the FEMTO PRONOSTIA CSV files (``acc_NNNNN.csv``, ``temp_NNNNN.csv``) and their clock columns.

The files have no header, ``,`` or ``;`` separators and a fixed column count (6 for acceleration: hour, minute,
second, microsecond, horizontal, vertical; 5 for temperature: hour, minute, second, tenth of second, °C). A file is
read once as bytes, its column count checked per line with numpy, and parsed by ``np.fromstring`` (about 3x faster
than ``np.loadtxt`` here). Times are seconds of the day; :func:`unwrap_days` makes them monotonic across midnight.

A vibration snapshot has a faster path, :func:`read_acc` (issue 32: a full-rate folder of 2,500 snapshots in seconds):
the two acceleration columns are plain decimals (``-0.025``, ``0``), parsed from the bytes by :func:`parse_decimals` as
one integer over a power of ten (the same float as ``strtod``); the clock is read on the first and last rows only (the
snapshot's start, its rate and its direction: a step back inside a file that leaves both ends in order is not seen on
this path). A file with anything else in its acceleration columns (an exponent, a space, ``nan``) is read by
:func:`read_table`, with its checks.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from syndiag.data.recording import check_rate
from syndiag.errors import DataError

ACC_COLUMNS = 6
TEMP_COLUMNS = 5
DAY_S = 86400.0
FILE_NAME = re.compile(r"^(acc|temp)_(\d+)\.csv$")
_POW10 = 10.0 ** np.arange(18)
_MAX_DIGITS = 15
"""Digits of a decimal parsed exactly: the integer of its digits stays below 2**53."""


def _normalised(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if b";" in data and b"," in data:
        line = data[: max(data.find(b";"), data.find(b","))].count(b"\n") + 1
        raise DataError(f"{path}: mixes ',' and ';' separators (both by line {line}); a file uses one of them")
    data = data.replace(b"\r", b"").replace(b";", b",").strip()
    if not data:
        raise DataError(f"{path}: the file is empty")
    return data


def _field_ends(path: Path, raw: np.ndarray, n_columns: int) -> np.ndarray:
    """(rows, n_columns) byte offsets where each field ends (its comma or newline); a line with another count is named."""
    line_ends = np.append(np.flatnonzero(raw == 10), raw.size)
    commas = np.flatnonzero(raw == 44)
    per_line = np.diff(np.searchsorted(commas, line_ends), prepend=0) + 1
    bad = np.flatnonzero(per_line != n_columns)
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"{path}: line {first + 1} has {int(per_line[first])} columns, {n_columns} expected "
            f"({bad.size} such line(s) of {per_line.size})"
        )
    ends = np.empty((line_ends.size, n_columns), dtype=np.int64)
    ends[:, :-1] = commas.reshape(line_ends.size, n_columns - 1)
    ends[:, -1] = line_ends
    return ends


def parse_decimals(raw: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """The fields ``raw[starts[i]:ends[i]]`` as float64 when each is a plain decimal (``-?digits[.digits]``, at most 15
    digits); None otherwise. Each value is its digits' integer divided by a power of ten: correctly rounded, as ``strtod``.
    Read from the right, one character position of every field at a time (one file at a time: its arrays stay in cache)."""
    lengths = ends - starts
    if lengths.size == 0 or lengths.min() < 1 or lengths.max() > _MAX_DIGITS + 2:
        return None
    whole = np.zeros(lengths.size)
    digits = np.zeros(lengths.size, dtype=np.int64)
    fraction = np.zeros(lengths.size, dtype=np.int64)
    dots = np.zeros(lengths.size, dtype=bool)
    negative = np.zeros(lengths.size, dtype=bool)
    for k in range(1, int(lengths.max()) + 1):
        inside = lengths >= k
        value = raw[ends - k] - np.uint8(48)  # a position before the first byte wraps around: outside every field
        digit = inside & (value < 10)
        other = inside & ~digit
        dot = other & (value == 254)  # '.'
        minus = other & (value == 253)  # '-'
        if (other & ~(dot | minus)).any() or (dot & dots).any() or (minus & (lengths != k)).any():
            return None
        whole += np.where(digit, value, 0) * _POW10[digits]
        fraction += dot * digits
        digits += digit
        dots |= dot
        negative |= minus
    if digits.min() < 1 or digits.max() > _MAX_DIGITS:
        return None
    parsed = whole / _POW10[fraction]
    return np.where(negative, -parsed, parsed)


def read_acc(path: Path, fs: float) -> tuple[float, np.ndarray, np.ndarray]:
    """One vibration snapshot: its start (seconds of the day), horizontal and vertical (g); the clock checked for steps
    back and for the rate ``fs``. The fast path of the module docstring, else :func:`read_table`."""
    data = _normalised(path)
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = _field_ends(path, raw, ACC_COLUMNS)
    starts = np.empty_like(ends)
    starts[:, 0] = np.append(0, ends[:-1, -1] + 1)
    starts[:, 1:] = ends[:, :-1] + 1
    acc = parse_decimals(raw, starts[:, 4:].T.ravel(), ends[:, 4:].T.ravel())
    if acc is None:
        table = read_table(path, ACC_COLUMNS)
        times = unwrap_days(clock_seconds(table, 1e-6), str(path))
        check_rate(times, fs, "acceleration (horizontal, vertical)", str(path))
        return float(times[0]), np.ascontiguousarray(table[:, 4]), np.ascontiguousarray(table[:, 5])
    start = _edge_clock(path, data, ends.shape[0], fs)
    horizontal, vertical = acc.reshape(2, -1)
    return start, horizontal, vertical


def _edge_clock(path: Path, data: bytes, rows: int, fs: float) -> float:
    """The start (seconds of the day) from a normalised file's first row, its rate ``fs`` checked against its last row."""
    first, last = data[: data.find(b"\n") % (len(data) + 1)], data[data.rfind(b"\n") + 1:]
    try:
        edge = np.array([[float(v) for v in line.split(b",")] for line in (first, last)], dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: holds a value that is not a number (line 1 or {rows})") from None
    times = unwrap_days(clock_seconds(edge, 1e-6), str(path))
    check_rate(np.linspace(times[0], times[-1], rows), fs, "acceleration (horizontal, vertical)", str(path))
    return float(times[0])


def read_table(path: Path, n_columns: int) -> np.ndarray:
    """The numbers of a headerless ``,``/``;``-separated file, shape (rows, n_columns), float64.

    A line with another column count, a non-numeric or non-finite value, a file mixing both separators, or an empty
    file is a :class:`DataError` naming the file (and the line).
    """
    data = _normalised(path)
    rows = _field_ends(path, np.frombuffer(data, dtype=np.uint8), n_columns).shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(data.replace(b"\n", b","), sep=",")
        except (ValueError, DeprecationWarning):
            values = np.empty(0)
    if values.size != rows * n_columns:
        raise DataError(f"{path}: holds a value that is not a number (read {values.size} of {rows * n_columns})")
    table = values.reshape(rows, n_columns)
    bad_rows = np.flatnonzero(~np.isfinite(table).all(axis=1))
    if bad_rows.size:
        raise DataError(f"{path}: line {int(bad_rows[0]) + 1} holds NaN or Inf ({bad_rows.size} such line(s))")
    return table


def clock_seconds(table: np.ndarray, fraction_scale: float) -> np.ndarray:
    """Seconds of the day from the hour, minute, second and fraction columns (``fraction_scale``: 1e-6 or 0.1)."""
    return table[:, 0] * 3600.0 + table[:, 1] * 60.0 + table[:, 2] + table[:, 3] * fraction_scale


def signed_steps(seconds: np.ndarray) -> np.ndarray:
    """Steps between consecutive seconds of the day, taken modulo 24 h into (-12 h, +12 h]: across midnight a step
    from 23:59:59 to 00:00:09 is +10 s."""
    return -((-np.diff(seconds) + DAY_S / 2) % DAY_S - DAY_S / 2)


def unwrap_days(seconds: np.ndarray, where: str) -> np.ndarray:
    """Seconds of the day made monotonic across midnight roll-overs (steps read modulo 24 h, see :func:`signed_steps`).

    A step back in time is a :class:`DataError` (``where`` names the series), and so, necessarily, is a gap of more
    than 12 h between consecutive samples.
    """
    seconds = np.asarray(seconds, dtype=np.float64)
    if seconds.size < 2:
        return seconds.copy()
    step = signed_steps(seconds)
    backwards = np.flatnonzero(step < 0)
    if backwards.size:
        i = int(backwards[0])
        raise DataError(f"{where}: time goes back by {-step[i]:.6g} s at sample {i + 1} ({backwards.size} such step(s))")
    return seconds[0] + np.concatenate([[0.0], np.cumsum(step)])


def repair_isolated(seconds: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Seconds of the day with isolated out-of-order values replaced, and the indices replaced.

    Value ``i`` is isolated when it steps back from ``i - 1`` while ``i + 1`` steps forward from ``i - 1``; it is
    replaced by interpolation between its neighbours by file number (FEMTO Bearing1_1 acc_02121.csv carries the
    clock time 09:38:46 between 15:31:19 and 15:34:39). Anything else out of order is left for :func:`unwrap_days`.
    """
    seconds = np.asarray(seconds, dtype=np.float64).copy()
    numbers = np.asarray(numbers, dtype=np.float64)
    fixed = []
    for i in range(1, seconds.size - 1):
        back = signed_steps(seconds[i - 1 : i + 1])[0] < 0
        if back:
            span = signed_steps(seconds[[i - 1, i + 1]])[0]
            if span > 0:
                share = (numbers[i] - numbers[i - 1]) / (numbers[i + 1] - numbers[i - 1])
                seconds[i] = (seconds[i - 1] + share * span) % DAY_S
                fixed.append(i)
    return seconds, fixed


def near_day(seconds: np.ndarray, anchor: float) -> np.ndarray:
    """``seconds`` shifted by whole days so that its first value lies within 12 h of ``anchor``."""
    if seconds.size == 0:
        return seconds
    shift = np.round((anchor - seconds[0]) / DAY_S) * DAY_S
    return seconds + shift


def numbered_files(folder: Path, kind: str) -> list[tuple[int, Path]]:
    """The ``<kind>_NNNNN.csv`` files of ``folder``, sorted by number (gaps allowed: the set may be thinned)."""
    found = []
    for path in folder.iterdir():
        match = FILE_NAME.match(path.name)
        if match and match.group(1) == kind and path.is_file():
            found.append((int(match.group(2)), path))
    found.sort()
    numbers = [n for n, _ in found]
    if len(set(numbers)) != len(numbers):
        twice = sorted({n for n in numbers if numbers.count(n) > 1})
        raise DataError(f"{folder}: {kind} file number(s) {twice} appear twice (e.g. acc_1.csv and acc_00001.csv)")
    return found
