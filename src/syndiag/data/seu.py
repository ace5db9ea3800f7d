"""SEU gearbox dataset (Southeast University), gear subset, read from its original CSV files (paper §4.1)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from syndiag.config.data import SEUOptions
from syndiag.data.paths import files_under, require_folder
from syndiag.data.recording import FaultClass, Recording, RecordingSet
from syndiag.errors import DataError

SEU_NAME = "seu-gearset"
SEU_CLASSES: tuple[FaultClass, ...] = (
    FaultClass("Chipped", "Chipped tooth fault"),
    FaultClass("Health", "Healthy working state"),
    FaultClass("Miss", "Missing tooth fault"),
    FaultClass("Root", "Root fault"),
    FaultClass("Surface", "Surface fault"),
)
SEU_CONDITIONS: dict[str, str] = {"20_0": "20Hz-0V", "30_2": "30Hz-2V"}
SEU_COLUMNS: tuple[str, ...] = (
    "motor vibration",
    "planetary gearbox x",
    "planetary gearbox y",
    "planetary gearbox z",
    "motor torque",
    "parallel gearbox x",
    "parallel gearbox y",
    "parallel gearbox z",
)
SEU_GEAR_FOLDER = "gearset"
SEU_BEARING_FOLDER = "bearingset"

_MAX_HEADER_LINES = 200
_FIELD_SPLIT = re.compile(r"[\s,;]+")


def seu_file_name(label: str, condition: str) -> str:
    """The original file name of one class at one condition code, e.g. ``Chipped_20_0.csv``."""
    return f"{label}_{condition}.csv"


def load_seu(root: Path, options: SEUOptions) -> RecordingSet:
    """One recording per gear-subset CSV found under ``root``; absent files are listed in ``missing``."""
    root = Path(root).expanduser()
    wanted = [(fault, code) for code in options.conditions for fault in SEU_CLASSES]
    expected = [seu_file_name(fault.name, code) for fault, code in wanted]
    found = find_seu_files(root, expected)
    if not found:
        raise DataError(
            f"{root}: no SEU gear-subset file found (searched recursively); expected any of {', '.join(expected)}"
        )
    channel = f"col{options.column}"
    recordings: list[Recording] = []
    missing: list[str] = []
    for (fault, code), name in zip(wanted, expected):
        condition = SEU_CONDITIONS[code]
        path = found.get(name.lower())
        if path is None:
            missing.append(f"{name} ({fault.prompt}, {condition})")
            continue
        table = read_seu_csv(path)
        recordings.append(
            Recording.from_signal(np.ascontiguousarray(table[:, options.column], dtype=np.float64)[None, :], options.fs,
                                  (channel,), label=fault.name, condition=condition, source=str(path))
        )
    return RecordingSet(
        name=SEU_NAME,
        classes=list(SEU_CLASSES),
        conditions=[SEU_CONDITIONS[code] for code in options.conditions],
        recordings=recordings,
        missing=missing,
        notes=[
            f"column {options.column} = {SEU_COLUMNS[options.column]}",
            f"sampling rate {options.fs:g} Hz assumed: the dataset does not state it",
        ],
    )


def find_seu_files(root: Path, names: list[str]) -> dict[str, Path]:
    """Map each lower-cased file name of ``names`` found under ``root`` to its path.

    The bearing subset reuses names such as ``health_20_0.csv``: a copy inside a ``gearset`` folder wins,
    one inside a ``bearingset`` folder is ignored, and two remaining candidates are an error.
    """
    require_folder(root, "SEU data folder")
    wanted = {name.lower() for name in names}
    candidates: dict[str, list[Path]] = {}
    for path in files_under(root):
        key = path.name.lower()
        if key in wanted and path.is_file() and SEU_BEARING_FOLDER not in _folders(path, root):
            candidates.setdefault(key, []).append(path)
    found: dict[str, Path] = {}
    for key, paths in candidates.items():
        chosen = [p for p in paths if SEU_GEAR_FOLDER in _folders(p, root)] or paths
        if len(chosen) > 1:
            raise DataError(f"{root}: {key} found more than once: {', '.join(str(p) for p in chosen)}")
        found[key] = chosen[0]
    return found


def _folders(path: Path, root: Path) -> set[str]:
    return {part.lower() for part in path.relative_to(root).parts[:-1]}


def read_seu_csv(path: Path) -> np.ndarray:
    """The numeric table of one SEU CSV after its text header, shape (rows, 8 or more)."""
    text = _read_text(path)
    start, first_line = _data_start(text, path)
    return parse_numeric_rows(text[start:], str(path), first_line, separators="\t,;")


def parse_numeric_rows(text: str, source: str, first_line: int, separators: str) -> np.ndarray:
    """Rows of equally many numbers as a (rows, columns) float64 array.

    Fields are split at any character of ``separators`` and at whitespace; trailing separators are allowed.
    ``first_line`` is the 1-based line number of ``text``'s first line in ``source``, for error messages.
    """
    normalised = text
    for sep in separators:
        normalised = normalised.replace(sep, " ")
    lines = normalised.split("\n")
    first_row = next((line for line in lines if line.strip()), None)
    if first_row is None:
        raise DataError(f"{source}: no data rows after line {first_line - 1}")
    n_columns = len(first_row.split())
    n_rows = sum(1 for line in lines if line.strip())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(normalised, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        values = None
    if values is None or values.size != n_rows * n_columns:
        raise DataError(f"{source}: {_first_bad_row(text, lines, first_line, n_columns)}")
    return values.reshape(n_rows, n_columns)


def _first_bad_row(text: str, normalised_lines: list[str], first_line: int, n_columns: int) -> str:
    for offset, (line, normalised) in enumerate(zip(text.split("\n"), normalised_lines)):
        fields = normalised.split()
        if not fields:
            continue
        where = f"line {first_line + offset}"
        shown = line.strip() if len(line.strip()) <= 80 else line.strip()[:77] + "..."
        if len(fields) != n_columns:
            return f"{where} has {len(fields)} numbers, expected {n_columns} (truncated or malformed row?): {shown!r}"
        bad = next((f for f in fields if not _is_number(f)), None)
        if bad is not None:
            return f"{where}: {bad!r} is not a number: {shown!r}"
    return f"rows from line {first_line} on do not form a table of {n_columns} numeric columns"


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc.strerror or exc}") from exc


def _data_start(text: str, path: Path) -> tuple[int, int]:
    """Character offset and 1-based line number of the first line holding at least 8 numbers."""
    offset = 0
    for number in range(1, _MAX_HEADER_LINES + 1):
        end = text.find("\n", offset)
        line = text[offset:] if end < 0 else text[offset:end]
        fields = [f for f in _FIELD_SPLIT.split(line.strip()) if f]
        if len(fields) >= len(SEU_COLUMNS) and all(_is_number(f) for f in fields):
            return offset, number
        if end < 0:
            break
        offset = end + 1
    raise DataError(
        f"{path}: no row of {len(SEU_COLUMNS)} numeric columns in the first {_MAX_HEADER_LINES} lines; "
        "not an SEU gearbox CSV, or empty"
    )


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
