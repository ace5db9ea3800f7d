"""CWRU bearing data in its original .mat files, mapped to the paper's 19-class, 4-load setup (§4.1).

:func:`cwru_sensor_set` reads the same recordings (same catalogue, same 48 kHz handling of 97.mat, same normal-baseline
options) with a ``speed`` channel and the defect diameter as severity, for the sensor model.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.io
from scipy.signal import resample_poly

from pydantic import ValidationError

from syndiag.config.data import CWRUOptions, DataConfig
from syndiag.data.cwru_classes import CWRU_LOADS, condition_name, cwru_classes
from syndiag.data.paths import dataset_folder, files_under, require_folder
from syndiag.data.recording import Recording, RecordingSet
from syndiag.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CWRUFile:
    """One entry of the CWRU file map: what the recording numbered ``number`` contains."""

    number: int
    class_name: str
    location: str
    fault_type: str
    diameter_in: float
    or_position: str
    load_hp: int
    rpm: int
    fs_hz: float
    primary: bool
    set: str = ""
    source: str = ""
    note: str = ""
    variables: int | None = None
    """The number the original file's variables carry when it is not ``number`` (174.mat holds ``X173_*``)."""

    @property
    def file_name(self) -> str:
        return f"{self.number}.mat"

    @property
    def variable_number(self) -> int:
        return self.number if self.variables is None else self.variables

    def describe(self) -> str:
        """``"CWRU 122 (48k_drive_end, DE_B007, @6, 0 HP)"``: what the catalogue says about this number."""
        parts = [p for p in (self.set, self.class_name, self.or_position, f"{self.load_hp} HP") if p]
        return f"CWRU {self.number} ({', '.join(parts)})"

    def variable(self, channel: str) -> str:
        return f"X{self.variable_number:03d}_{channel}_time"


@lru_cache(maxsize=1)
def cwru_file_map() -> dict[int, CWRUFile]:
    """The CWRU catalogue shipped with the package (every public CWRU file): CWRU number -> content."""
    text = resources.files("syndiag.data").joinpath("cwru_files.csv").read_text(encoding="utf-8")
    table: dict[int, CWRUFile] = {}
    for row in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        entry = CWRUFile(
            number=int(row["number"]),
            class_name=row["class_name"],
            location=row["location"],
            fault_type=row["fault_type"],
            diameter_in=float(row["diameter_in"]),
            or_position=row["or_position"],
            load_hp=int(row["load_hp"]),
            rpm=int(row["rpm"]),
            fs_hz=float(row["fs_hz"]),
            primary=row["primary"] == "true",
            set=row.get("set") or "",
            source=row.get("source") or "",
            note=row.get("note") or "",
            variables=int(row["variables"]) if row.get("variables") else None,
        )
        table[entry.number] = entry
    return table


def primary_file(class_name: str, load_hp: int) -> CWRUFile:
    """The recording the 19-class setup uses for ``class_name`` at ``load_hp``."""
    for entry in cwru_file_map().values():
        if entry.primary and entry.class_name == class_name and entry.load_hp == load_hp:
            return entry
    raise DataError(f"no CWRU recording is mapped to class {class_name!r} at {load_hp} HP")


CWRU_VARIABLE = re.compile(r"^X(\d+)_(DE|FE|BA)_time$")
"""An original CWRU signal variable: ``X<number>_<sensor>_time``."""


def cwru_numbers(names: list[str]) -> list[int]:
    """The recording numbers that CWRU signal variables among ``names`` carry, sorted."""
    return sorted({int(m.group(1)) for m in map(CWRU_VARIABLE.match, names) if m})


def own_number(path: Path, names: list[str]) -> int | None:
    """The number of the recording a CWRU-style file holds, from its own variable names.

    A number in the file name decides when the file holds that number's variables (the original ``99.mat`` also
    carries ``X098_*``); else the one number its variables carry (whatever the file is called). ``None``: no CWRU variables. Several numbers and
    none matching the file name: a :class:`DataError` naming them.
    """
    numbers = cwru_numbers(names)
    if not numbers:
        return None
    named = [n for n in name_numbers(path) if n in numbers]
    if len(named) == 1:
        return named[0]
    if len(numbers) == 1:
        return numbers[0]
    raise DataError(
        f"{path}: holds the CWRU variables of recordings {', '.join(map(str, numbers))}; name the file after its "
        f"CWRU number or choose the variables by name (e.g. X{numbers[0]:03d}_DE_time)"
    )


def name_numbers(path: Path) -> list[int]:
    """The numbers in a file's name, last first (``12k_Drive_End_OR021@3_0_246.mat`` -> 246, 0, 3, 21, 12)."""
    return [int(n) for n in reversed(re.findall(r"\d+", Path(path).stem))]


def catalogue_entry(path: Path, number: int) -> CWRUFile | None:
    """The catalogued recording whose original file holds the variables ``X<number>_*``, whatever ``path`` is called:
    the recording numbered ``number`` unless another's file carries that number (174.mat holds ``X173_*``, 3001.mat
    ``X056_*``), or the one the file's name numbers when its variables carry that number too (a re-saved copy); of several,
    the one the file's name numbers; None when the catalogue has none."""
    table = cwru_file_map()
    holders = [e for e in table.values() if e.variable_number == number]
    if not holders and number in table and number in name_numbers(path):  # a copy re-saved under its own number
        holders = [table[number]]
    if len(holders) > 1:
        named = [e for e in holders if e.number in name_numbers(path)]
        holders = named if len(named) == 1 else [e for e in holders if e.number == number]
    return holders[0] if len(holders) == 1 else None


def find_cwru_files(root: Path) -> dict[int, Path]:
    """Every ``<CWRU number>.mat`` under ``root`` (flat or nested), by number."""
    root = require_folder(Path(root), "CWRU data folder")
    found: dict[int, Path] = {}
    for path in files_under(root, ".mat"):
        if not path.stem.isdigit():
            continue
        number = int(path.stem)
        if number in found:
            raise DataError(f"CWRU recording {number} found twice: {found[number]} and {path}; keep one")
        found[number] = path
    return found


def read_cwru_mat(path: Path, number: int, channels: list[str]) -> np.ndarray:
    """Read the channels of recording ``number`` from its own ``X<NNN>_<ch>_time`` variables, shape (channels, n)."""
    wanted = [f"X{number:03d}_{ch}_time" for ch in channels]
    try:
        held = [name for name, _, _ in scipy.io.whosmat(str(path))]
        content = scipy.io.loadmat(str(path), variable_names=wanted)
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it with save(..., '-v7')") from None
    except Exception as exc:  # scipy raises many types for corrupt or truncated files
        raise DataError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
    missing = [name for name in wanted if name not in content]
    if missing:
        raise DataError(
            f"{path}: variable(s) {', '.join(missing)} not found; the file holds {', '.join(held) or 'nothing'}. "
            f"A CWRU file is identified by its own X{number:03d}_* variables: is it named after its CWRU number?"
        )
    rows = []
    for name in wanted:
        values = np.asarray(content[name])
        if values.ndim != 2 or 1 not in values.shape or not np.issubdtype(values.dtype, np.number):
            raise DataError(f"{path}: variable {name} should be a numeric column vector, got shape {values.shape}")
        rows.append(values.astype(np.float64).ravel())
    if len({r.size for r in rows}) != 1:
        raise DataError(f"{path}: channels {channels} have different lengths {[r.size for r in rows]}")
    return np.stack(rows)


def resample(signal: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Polyphase resampling along the last axis from ``fs`` to ``target_fs``."""
    if fs == target_fs:
        return signal
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def load_cwru(root: Path, options: CWRUOptions) -> RecordingSet:
    """The 19 classes at each requested load, read from the original CWRU files under ``root``."""
    files = find_cwru_files(root)
    classes = cwru_classes()
    conditions = [condition_name(load) for load in options.loads]
    recordings: list[Recording] = []
    missing: list[str] = []
    notes: list[str] = []
    cache: dict[int, np.ndarray] = {}

    def read(entry: CWRUFile) -> np.ndarray:
        if entry.number not in cache:
            raw = read_cwru_mat(files[entry.number], entry.number, list(options.channels))
            cache[entry.number] = resample(raw, entry.fs_hz, options.target_fs)
            if entry.fs_hz != options.target_fs:
                notes.append(f"{entry.file_name} resampled from {entry.fs_hz:g} Hz to {options.target_fs:g} Hz (polyphase)")
        return cache[entry.number]

    def add(entry: CWRUFile, signal: np.ndarray, load: int, source: str) -> None:
        recordings.append(
            Recording.from_signal(signal, options.target_fs, tuple(options.channels), label=entry.class_name,
                                  condition=condition_name(load), source=source)
        )

    normal_fallback: list[int] = []
    for load in options.loads:
        for fault_class in classes:
            entry = primary_file(fault_class.name, load)
            if entry.number in files:
                add(entry, read(entry), load, str(files[entry.number]))
            elif fault_class.name == "normal":
                normal_fallback.append(load)
            else:
                missing.append(f"{entry.file_name} ({entry.class_name}, {load} HP, {CWRU_LOADS[load]} rpm)")

    if normal_fallback:
        baseline = primary_file("normal", 0)
        absent = ", ".join(f"{primary_file('normal', load).file_name} ({load} HP)" for load in normal_fallback)
        if options.missing_normal == "error" or baseline.number not in files:
            reason = "cwru.missing_normal is 'error'" if baseline.number in files else f"{baseline.file_name} is missing too"
            missing.append(f"normal baseline {absent}")
            raise DataError(
                f"{root}: normal baseline {absent} not found and {reason}. Add the files from the CWRU Bearing "
                "Data Center, or set cwru.missing_normal to 'disjoint_97' or 'reuse_97'."
            )
        signal = read(baseline)
        if options.missing_normal == "reuse_97":
            for load in normal_fallback:
                add(baseline, signal, load, f"{files[baseline.number]} (whole, standing in for {primary_file('normal', load).file_name})")
            note = f"normal class at {absent}: missing; all of {baseline.file_name} reused for each (cwru.missing_normal=reuse_97)"
        else:
            quarters = np.linspace(0, signal.shape[1], len(CWRU_LOADS) + 1).astype(int)
            sharers = sorted(set(normal_fallback) | ({0} & set(options.loads)))
            recordings[:] = [r for r in recordings if not (r.label == "normal" and r.condition == condition_name(0))]
            for load in sharers:
                start, stop = int(quarters[load]), int(quarters[load + 1])
                add(baseline, signal[:, start:stop], load, f"{files[baseline.number]}[{start}:{stop}] at {options.target_fs:g} Hz")
            note = (
                f"normal class at {absent}: missing; {baseline.file_name} split into 4 disjoint quarters, "
                f"quarter L for load L HP, used at loads {sharers} (cwru.missing_normal=disjoint_97)"
            )
        notes.append(note)
        log.warning(note)
    if missing:
        log.warning("CWRU recordings missing under %s: %s", root, "; ".join(missing))
    recordings.sort(key=lambda r: (conditions.index(r.condition), [c.name for c in classes].index(r.label)))
    return RecordingSet(name="cwru", classes=classes, conditions=conditions, recordings=recordings, missing=missing, notes=notes)


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


NOMINAL_RPM_TOLERANCE = 25.0
"""rpm between a CWRU file's own X<NNN>RPM and its load's nominal speed beyond which the nominal one is used."""


@dataclass(frozen=True)
class CWRUIdentity:
    """What a CWRU-style file is, read from its own variables and the catalogue, whatever the file is called."""

    path: Path
    number: int
    entry: CWRUFile | None
    channels: tuple[str, ...]
    rpm: float | None
    rpm_how: str

    @property
    def fs(self) -> float | None:
        return None if self.entry is None else self.entry.fs_hz

    def describe(self) -> str:
        return self.entry.describe() if self.entry is not None else f"CWRU-style variables X{self.number:03d}_* (not catalogued)"


def identify_cwru(path: Path, names: list[str] | None = None) -> CWRUIdentity | None:
    """The recording a .mat file holds, by its own ``X<NNN>_<ch>_time`` variables (:func:`own_number`) and the catalogue
    (:func:`catalogue_entry`): its sensors, and its shaft speed (its own ``X<NNN>RPM``, else or where that is more than
    :data:`NOMINAL_RPM_TOLERANCE` from its load's nominal speed, the nominal one, saying why). None: no CWRU variables."""
    if names is None:
        try:
            names = [name for name, _, _ in scipy.io.whosmat(str(path))]
        except Exception as exc:  # scipy raises many types for corrupt or truncated files
            raise DataError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
    number = own_number(path, names)
    if number is None:
        return None
    entry = catalogue_entry(path, number)
    channels = tuple(ch for ch in ("DE", "FE", "BA") if f"X{number:03d}_{ch}_time" in names)
    stored = cwru_rpm(path, number)
    rpm, how = stored, f"its own X{number:03d}RPM"
    if entry is not None:
        nominal = float(CWRU_LOADS[entry.load_hp])
        if stored is None or abs(stored - nominal) > NOMINAL_RPM_TOLERANCE:
            why = "it holds no RPM variable" if stored is None else f"its X{number:03d}RPM = {stored:g} rpm is more than {NOMINAL_RPM_TOLERANCE:g} rpm away"
            rpm, how = nominal, f"the nominal speed of {entry.load_hp} HP in the CWRU catalogue ({why})"
    elif stored is None:
        how = "none: the file holds no RPM variable and is not in the CWRU catalogue"
    return CWRUIdentity(Path(path), number, entry, channels, rpm, how)


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
) -> RecordingSet:
    """The recordings of :func:`load_cwru` with the same options, each with a ``speed`` channel (rpm, 1 Hz) and severity.

    The sources therefore match a :class:`~syndiag.data.prepare.PreparedDataset` built from them. The speed is the file's
    own ``X<NNN>RPM`` when present and within ``rpm_tolerance`` of its load's nominal speed, else the nominal speed; each
    fallback is noted (275 has no RPM variable; 279's says 1732 rpm at 1 HP, which the spectrum contradicts).
    Severity is the defect diameter in inches (0.0 for normal); ``group`` the file number.

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
        recordings.append(rec.with_speed(rpm, severity=float(catalogue[number].diameter_in), notes=(how, *rec.notes), group=str(number)))
    return RecordingSet(name="cwru", classes=base.classes, conditions=base.conditions, recordings=recordings, missing=base.missing, notes=notes)
