"""FEMTO PRONOSTIA run-to-failure bearings (IEEE PHM 2012) in the original layout, with time-aligned temperature.

Layout: ``<root>/Learning_set|Test_set/Bearing<c>_<n>/acc_NNNNN.csv`` (one 0.1 s vibration snapshot at 25.6 kHz,
horizontal and vertical) and ``temp_NNNNN.csv`` (one minute of temperature at 10 Hz). File numbers may have gaps
(a thinned copy) or not (the full set): times come from the hour/minute/second/fraction columns only, made
monotonic across midnight. Operating condition of the FEMTO sets from the bearing name: 1 = 1800 rpm / 4000 N,
2 = 1650 rpm / 4200 N, 3 = 1500 rpm / 5000 N; any other folder name reads as condition 0 (unspecified: give it). Learning
bearings run to failure (RUL of a snapshot = time to the last snapshot); test bearings stop early, their official actual
RUL at the last snapshot is in ``femto_rul.csv`` (for scoring only), matched by the sha256 of the folder's last snapshot.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from syndiag.data.femto_files import (
    DAY_S,
    FILE_NAME,
    TEMP_COLUMNS,
    clock_seconds,
    near_day,
    numbered_files,
    read_acc,
    read_table,
    repair_isolated,
    signed_steps,
    unwrap_days,
)
from syndiag.data.paths import require_folder
from syndiag.data.recording import check_rate
from syndiag.errors import DataError

ACC_FS = 25600.0
TEMP_FS = 10.0
CONDITIONS: dict[int, tuple[float, float]] = {1: (1800.0, 4000.0), 2: (1650.0, 4200.0), 3: (1500.0, 5000.0)}
"""Operating condition -> (shaft speed in rpm, radial load in N)."""
SETS = {"learning": "Learning_set", "test": "Test_set"}
BEARING = re.compile(r"^Bearing(\d+)_(\d+)$")
OVERLAP_MARGIN_S = 600.0
"""A temperature file must overlap the vibration snapshots' span widened by this much (the rig logs temperature
a few minutes past the last snapshot: Bearing3_1 about 4 min)."""


def condition_name(condition: int | tuple[float, float] | None) -> str:
    """``1800rpm_4000N`` for a FEMTO condition number or an (rpm, load) pair; ``unspecified`` for neither."""
    if isinstance(condition, tuple):
        rpm, load = condition
    elif condition in CONDITIONS:
        rpm, load = CONDITIONS[condition]
    else:
        return "unspecified"
    return f"{rpm:g}rpm_{load:g}N"


@lru_cache(maxsize=1)
def official_table() -> list[dict[str, str]]:
    """The rows of ``femto_rul.csv``: each test bearing's official RUL and the sha256 of its truncation snapshot."""
    text = resources.files("syndiag.data").joinpath("femto_rul.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def official_rul() -> dict[str, float]:
    """Actual RUL (s) of the challenge's test bearings at truncation (``femto_rul.csv``, with its source)."""
    return {row["bearing"]: float(row["actual_rul_s"]) for row in official_table()}


def official_match(folder: Path | str) -> tuple[str, float] | None:
    """(test bearing, official RUL in s) when ``folder``'s last ``acc`` file is that bearing's truncation snapshot byte for
    byte (its sha256 in ``femto_rul.csv``), else None: a folder is an official test bearing by content, never by name."""
    files = numbered_files(Path(folder), "acc")
    if not files:
        return None
    digest = hashlib.sha256(files[-1][1].read_bytes()).hexdigest()
    return next(((row["bearing"], float(row["actual_rul_s"])) for row in official_table() if row["last_snapshot_sha256"] == digest), None)


@dataclass
class Snapshot:
    """One vibration snapshot: its file, time since the bearing's first snapshot, horizontal and vertical (g)."""

    number: int
    file: str
    time_s: float
    horizontal: np.ndarray
    vertical: np.ndarray

    @property
    def end_s(self) -> float:
        return self.time_s + self.horizontal.size / ACC_FS


@dataclass
class TemperatureSeries:
    """Temperature (°C, 10 Hz) of a bearing on the same clock as its snapshots; ``files``: (path, first, last time)."""

    time_s: np.ndarray
    celsius: np.ndarray
    files: list[tuple[str, float, float]]


@dataclass
class FemtoBearing:
    name: str
    set: str
    condition: int
    snapshots: list[Snapshot]
    temperature: TemperatureSeries | None
    clock_start_s: float
    actual_rul_s: float | None = None
    notes: list[str] = field(default_factory=list)
    operating: tuple[float, float] | None = None
    """Speed (rpm) and load (N) given by the user (``--rpm``/``--load``); None: the FEMTO condition of its name."""

    @property
    def rpm(self) -> float:
        return self._operating()[0]

    @property
    def load_n(self) -> float:
        return self._operating()[1]

    def _operating(self) -> tuple[float, float]:
        if self.operating is not None:
            return self.operating
        if self.condition not in CONDITIONS:
            raise DataError(f"{self.name}: no operating condition (not named Bearing<c>_<n>); give the speed and load (--rpm, --load)")
        return CONDITIONS[self.condition]

    @property
    def time_s(self) -> np.ndarray:
        return np.array([s.time_s for s in self.snapshots])

    @property
    def rul_s(self) -> np.ndarray | None:
        """Learning bearings: time from each snapshot to the last one (the failure). Test bearings: None."""
        if self.set != "learning":
            return None
        t = self.time_s
        return t[-1] - t

    @property
    def life_fraction(self) -> np.ndarray | None:
        """Learning bearings: t / life, life = time of the last snapshot (0 at the start, 1 at failure)."""
        if self.set != "learning":
            return None
        t = self.time_s
        return t / t[-1] if t[-1] > 0 else np.zeros_like(t)

    def scoring_rul_s(self) -> np.ndarray:
        """Test bearings: the official RUL carried back to each snapshot. For scoring a finished model only."""
        if self.actual_rul_s is None:
            raise DataError(f"{self.name}: no official actual RUL (a {self.set} bearing)")
        t = self.time_s
        return self.actual_rul_s + (t[-1] - t)


def folder_condition(folder: Path) -> int:
    """The FEMTO set's condition from a ``Bearing<c>_<n>`` name; 0 (unspecified) for any other name."""
    match = BEARING.match(folder.name)
    if not match:
        return 0
    condition = int(match.group(1))
    if condition not in CONDITIONS:
        raise DataError(f"{folder}: operating condition {condition} is unknown; FEMTO has conditions 1, 2, 3")
    return condition


def _clock(seconds: float) -> str:
    s = seconds % DAY_S
    return f"{int(s // 3600):02d}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}"


def read_snapshots(folder: Path) -> tuple[list[Snapshot], float, list[str]]:
    """Every ``acc_*.csv`` of a bearing, in file-number order; times relative to the first; its clock time; notes.

    A file whose clock time alone is out of order (see :func:`~syndiag.data.femto_files.repair_isolated`) gets a
    time between its neighbours', noted.
    """
    files = numbered_files(folder, "acc")
    if not files:
        raise DataError(f"{folder}: no acc_NNNNN.csv vibration files")
    starts, pieces = [], []
    for number, path in files:
        start, horizontal, vertical = read_acc(path, ACC_FS)
        if pieces and horizontal.size != pieces[0][2].size:
            raise DataError(f"{path}: {horizontal.size} samples, {pieces[0][1].name} has {pieces[0][2].size}; a unit's snapshots need one length")
        starts.append(start)
        pieces.append((number, path, horizontal, vertical))
    clocks, notes = snapshot_clocks(folder, [p for _, p in files], np.array(starts))
    snapshots = [Snapshot(n, str(p), float(c - clocks[0]), h, v) for (n, p, h, v), c in zip(pieces, clocks)]
    return snapshots, float(clocks[0]), notes


def snapshot_clocks(folder: Path, files: list[Path], starts: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The snapshots' start times (seconds of the day, in file-number order) made monotonic, an isolated glitch repaired and
    noted; a clock going back names the file where it does."""
    numbers = [int(FILE_NAME.match(p.name).group(2)) for p in files]
    repaired, fixed = repair_isolated(starts, np.array(numbers))
    notes = [
        f"{files[i]}: clock time {_clock(starts[i])} out of order between {files[i - 1].name} "
        f"({_clock(starts[i - 1])}) and {files[i + 1].name} ({_clock(starts[i + 1])}); time set to "
        f"{_clock(repaired[i])}, between them by file number"
        for i in fixed
    ]
    back = np.flatnonzero(signed_steps(repaired) < 0)
    if back.size:
        i = int(back[0]) + 1
        where = f"{folder} (first time of each acc file, in file-number order)"
        raise DataError(f"{files[i]}: starts at {_clock(repaired[i])}, before {files[i - 1].name} ({_clock(repaired[i - 1])}): the clock goes "
                        f"back; {where}: time goes back at file {i + 1} ({back.size} such step(s))")
    return unwrap_days(repaired, str(folder)), notes


def read_temperature(folder: Path, clock_start_s: float) -> TemperatureSeries | None:
    """Every ``temp_*.csv`` of a bearing, concatenated, on the snapshots' clock; None when there is none."""
    files = numbered_files(folder, "temp")
    if not files:
        return None
    times, values, spans = [], [], []
    previous: tuple[Path, float] | None = None
    offset = 0.0
    for _, path in files:
        table = read_table(path, TEMP_COLUMNS)
        t = unwrap_days(clock_seconds(table, 0.1), str(path))
        check_rate(t, TEMP_FS, "temperature", str(path))
        if previous is None:
            t = near_day(t, clock_start_s)
            offset = t[0] - clock_seconds(table[:1], 0.1)[0]
        else:
            t = t + offset
            if t[0] < previous[1] - DAY_S / 2:  # the next file starts after midnight
                offset += DAY_S
                t = t + DAY_S
            if t[0] <= previous[1]:
                raise DataError(f"{path}: starts at {_clock(t[0])}, before {previous[0]} ends ({_clock(previous[1])})")
        times.append(t)
        values.append(table[:, 4])
        spans.append((str(path), float(t[0] - clock_start_s), float(t[-1] - clock_start_s)))
        previous = (path, float(t[-1]))
    return TemperatureSeries(np.concatenate(times) - clock_start_s, np.concatenate(values), spans)


def check_temperature_overlap(bearing: FemtoBearing, margin_s: float = OVERLAP_MARGIN_S) -> None:
    """Refuse a temperature file whose times do not overlap the bearing's snapshots (widened by ``margin_s``)."""
    if bearing.temperature is None:
        return
    first, last = bearing.snapshots[0].time_s, bearing.snapshots[-1].end_s
    for path, a, b in bearing.temperature.files:
        if b < first - margin_s or a > last + margin_s:
            c = bearing.clock_start_s
            raise DataError(
                f"{path}: temperature from {_clock(c + a)} to {_clock(c + b)} does not overlap the vibration snapshots "
                f"of {bearing.name} ({_clock(c + first)} to {_clock(c + last)}, allowing {margin_s:g} s): wrong bearing or clock?"
            )


def read_bearing(folder: Path | str, set_name: str = "learning") -> FemtoBearing:
    """One bearing folder: its snapshots, temperature (or None, noted), condition and RUL information."""
    folder = require_folder(Path(folder), "FEMTO bearing folder")
    condition = folder_condition(folder)
    snapshots, clock_start, notes = read_snapshots(folder)
    temperature = read_temperature(folder, clock_start)
    if temperature is None:
        notes.append(f"{folder.name}: no temperature files; channel 'temperature' absent")
    actual = None
    if set_name == "test":
        match = official_match(folder)
        actual = match[1] if match is not None else None
        if match is None:
            notes.append(f"{folder.name}: its last snapshot is no official test bearing's (femto_rul.csv); actual RUL unknown")
    bearing = FemtoBearing(folder.name, set_name, condition, snapshots, temperature, clock_start, actual, notes)
    check_temperature_overlap(bearing)
    return bearing


def femto_folder(root: Path | str) -> Path:
    """``root`` itself when it holds Learning_set/ or Test_set/, else ``root/femto``."""
    root = require_folder(Path(root), "FEMTO data folder")
    if any((root / name).is_dir() for name in SETS.values()) or not (root / "femto").is_dir():
        return root
    return root / "femto"


def read_femto(root: Path | str, sets: tuple[str, ...] = ("learning",), bearings: list[str] | None = None) -> list[FemtoBearing]:
    """The bearings of the requested sets (``"learning"``, ``"test"``), optionally only those named."""
    folder = femto_folder(root)
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise DataError(f"unknown FEMTO set(s) {unknown}; known: {', '.join(SETS)}")
    found: list[tuple[str, Path]] = []
    for set_name in sets:
        set_folder = require_folder(folder / SETS[set_name], f"FEMTO {set_name} set")
        found.extend((set_name, p) for p in sorted(set_folder.iterdir()) if p.is_dir() and BEARING.match(p.name))
    if bearings is not None:
        names = [p.name for _, p in found]
        missing = [b for b in bearings if b not in names]
        if missing:
            raise DataError(f"{folder}: bearing(s) {missing} not found in {', '.join(sets)}; found {', '.join(names)}")
        found = [(s, p) for s, p in found if p.name in bearings]
    if not found:
        raise DataError(f"{folder}: no Bearing<c>_<n> folders in {', '.join(SETS[s] for s in sets)}")
    return [read_bearing(path, set_name) for set_name, path in found]


@dataclass
class AlignedTemperature:
    """Per snapshot, the last ``samples`` temperature readings up to the snapshot's end.

    ``values``/``time_s`` (n_snapshots, samples), NaN where a reading is missing; ``present`` is False when the latest
    reading is more than ``max_lag_s`` before the snapshot's start (or there is none); ``celsius_at`` (n_snapshots,):
    the temperature interpolated at the snapshot's start time, NaN where not present.
    """

    values: np.ndarray
    time_s: np.ndarray
    present: np.ndarray
    celsius_at: np.ndarray
    max_lag_s: float


def align_temperature(bearing: FemtoBearing, samples: int = 8, max_lag_s: float = 1.0) -> AlignedTemperature | None:
    """The temperature of the same moment as each vibration snapshot; None when the bearing has no temperature.

    A temperature file whose times do not overlap the snapshots is a :class:`DataError` naming it.
    """
    if samples < 1:
        raise DataError(f"{bearing.name}: samples must be at least 1, got {samples}")
    if bearing.temperature is None:
        return None
    check_temperature_overlap(bearing)
    t, c = bearing.temperature.time_s, bearing.temperature.celsius
    starts = bearing.time_s
    ends = np.array([s.end_s for s in bearing.snapshots])
    upto = np.searchsorted(t, ends, side="right")
    index = upto[:, None] - samples + np.arange(samples)[None, :]
    present = (upto > 0) & (t[np.maximum(upto - 1, 0)] >= starts - max_lag_s)
    valid = (index >= 0) & present[:, None]
    safe = np.clip(index, 0, t.size - 1)
    values = np.where(valid, c[safe], np.nan)
    times = np.where(valid, t[safe], np.nan)
    celsius_at = np.where(present, np.interp(starts, t, c), np.nan)
    return AlignedTemperature(values, times, present, celsius_at, max_lag_s)
