"""Fast reading of the FEMTO PRONOSTIA CSV files (``acc_NNNNN.csv``, ``temp_NNNNN.csv``) and their clock columns.

The files have no header, ``,`` or ``;`` separators and a fixed column count (6 for acceleration: hour, minute,
second, microsecond, horizontal, vertical; 5 for temperature: hour, minute, second, tenth of second, °C). A file is
read once as bytes, its column count checked per line with numpy, and parsed by ``np.fromstring`` (about 3x faster
than ``np.loadtxt`` here). Times are seconds of the day; :func:`unwrap_days` makes them monotonic across midnight.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from syndiag.errors import DataError

ACC_COLUMNS = 6
TEMP_COLUMNS = 5
DAY_S = 86400.0
FILE_NAME = re.compile(r"^(acc|temp)_(\d+)\.csv$")


def read_table(path: Path, n_columns: int) -> np.ndarray:
    """The numbers of a headerless ``,``/``;``-separated file, shape (rows, n_columns), float64.

    A line with another column count, a non-numeric or non-finite value, a file mixing both separators, or an empty
    file is a :class:`DataError` naming the file (and the line).
    """
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
    raw = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.append(np.flatnonzero(raw == 10), raw.size - 1)
    commas = np.cumsum(raw == 44)[line_ends]
    per_line = np.diff(commas, prepend=0) + 1
    bad = np.flatnonzero(per_line != n_columns)
    if bad.size:
        first = int(bad[0])
        raise DataError(
            f"{path}: line {first + 1} has {int(per_line[first])} columns, {n_columns} expected "
            f"({bad.size} such line(s) of {per_line.size})"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(data.replace(b"\n", b","), sep=",")
        except (ValueError, DeprecationWarning):
            values = np.empty(0)
    if values.size != per_line.size * n_columns:
        raise DataError(f"{path}: holds a value that is not a number (read {values.size} of {per_line.size * n_columns})")
    table = values.reshape(per_line.size, n_columns)
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
