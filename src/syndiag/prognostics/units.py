"""Run-to-failure units for prognostics (issue 16): one unit's snapshot times and health features, from FEMTO folders.

A unit is a monitored machine part seen as a sequence of snapshots. A **failed** unit ran to failure: its last snapshot
is the failure, so the RUL of each snapshot is the time to it. A **truncated** unit stops before failure (a challenge
test bearing, or a machine still running); its actual RUL, when known, is for scoring only. Features are computed once
per folder and cached (keyed by the files' names, sizes and modification times), since reading the CSVs is the slow part.
A cache file records the sha256 of its content; one that does not match it (damaged, edited, or older) is read again from
the snapshots and rewritten.

A FEMTO-layout folder is read by :func:`femto_unit` (issue 32: 2,500 full-rate snapshots in seconds): the snapshots'
acceleration by the fast parser of :mod:`syndiag.data.femto_files`, in chunks of ``CHUNK`` files, each chunk's health
features computed where it was read, the chunks spread over the machine's cores when there are many (only the features
and start times come back). The bearing's temperature (``temp_*.csv``, where the folder has them) is read too, at each
snapshot's start (``Unit.temperature_c``, NaN outside the files' span; None without any, and with a warning when they
cannot be read: the vibration alone still gives a unit). The unit's operating condition is
the caller's (flags, a spec) or, for a folder named like the FEMTO sets' ``Bearing<c>_<n>``, that set's; a test unit's
actual RUL is known only when its last snapshot is an official test bearing's by content (``femto_rul.csv``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_file
from syndiag.config.data import CACHE_ENV
from syndiag.data.femto import (
    ACC_FS,
    SETS,
    condition_name,
    femto_folder,
    folder_condition,
    official_match,
    read_temperature,
    snapshot_clocks,
)
from syndiag.data.femto_files import numbered_files, read_acc
from syndiag.data.run_to_failure import load_spec, read_unit_snapshots, spec_units, unit_folders
from syndiag.errors import DataError
from syndiag.prognostics.features import DEFAULT_BANDS, FeatureTable, feature_names, snapshot_features

FEATURE_VERSION = 3
CHUNK = 64
"""Snapshot files read (and their features computed) per task."""
PARALLEL_FROM = 4 * CHUNK
"""Folders with fewer snapshot files are read in this process: starting workers would cost more than it saves."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """A unit's snapshots: times (s from its first snapshot) and health features, whether it ran to failure."""

    name: str
    condition: str
    time_s: np.ndarray
    features: FeatureTable
    failed: bool
    actual_rul_s: float | None = None
    source: str = ""
    official: str | None = None
    """The official test bearing this unit is by content (its actual RUL is that bearing's), None: none."""
    temperature_c: np.ndarray | None = None
    """The bearing's temperature (deg C) at each snapshot (NaN where no file covers it); None: none recorded."""

    def __len__(self) -> int:
        return int(self.time_s.size)

    @property
    def rul_s(self) -> np.ndarray:
        """RUL at each snapshot: the time to the failure (failed units) or to the actual end (truncated, known RUL)."""
        if self.failed:
            return self.time_s[-1] - self.time_s
        if self.actual_rul_s is None:
            raise DataError(f"{self.name}: a truncated unit with no known actual RUL")
        return self.actual_rul_s + self.time_s[-1] - self.time_s

    def history(self, count: int) -> "Unit":
        """The first ``count`` snapshots, as a truncated unit whose actual RUL is known from this one."""
        if not 1 <= count <= len(self):
            raise DataError(f"{self.name}: a history of {count} snapshots, the unit has {len(self)}")
        actual = float(self.rul_s[count - 1]) if (self.failed or self.actual_rul_s is not None) else None
        table = FeatureTable(self.features.names, self.features.values[:count])
        temperature = None if self.temperature_c is None else self.temperature_c[:count]
        return replace(self, time_s=self.time_s[:count], features=table, failed=False, actual_rul_s=actual, temperature_c=temperature)


def _chunk_features(paths: list[Path], bands: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Start clocks, the common sample count and the health features of consecutive snapshot files (one worker task)."""
    starts, horizontal, vertical = [], [], []
    for path in paths:
        start, h, v = read_acc(path, ACC_FS)
        if horizontal and h.size != horizontal[0].size:
            raise DataError(f"{path}: {h.size} samples, {paths[0].name} has {horizontal[0].size}; a unit's snapshots need one length")
        starts.append(start)
        horizontal.append(h)
        vertical.append(v)
    return np.array(starts), horizontal[0].size, snapshot_features(np.stack(horizontal), np.stack(vertical), ACC_FS, bands).values


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def femto_unit(folder: Path, set_name: str = "test", bands: int = DEFAULT_BANDS, condition: str | None = None,
               workers: int | None = None) -> Unit:
    """One FEMTO-layout folder as a unit (see the module docstring): ``condition`` a label (None: the FEMTO set's, from a
    ``Bearing<c>_<n>`` name, else "unspecified"); ``workers`` processes (None: every core when the folder is large)."""
    files = [p for _, p in numbered_files(folder, "acc")]
    if not files:
        raise DataError(f"{folder}: no acc_NNNNN.csv vibration files")
    chunks = [files[i:i + CHUNK] for i in range(0, len(files), CHUNK)]
    workers = default_workers() if workers is None else workers
    if workers > 1 and len(files) >= PARALLEL_FROM:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else methods[0])
        with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=context) as pool:
            read = list(pool.map(_chunk_features, chunks, [bands] * len(chunks)))
    else:
        read = [_chunk_features(chunk, bands) for chunk in chunks]
    for chunk, (_, samples, _) in zip(chunks, read):
        if samples != read[0][1]:
            raise DataError(f"{chunk[0]}: {samples} samples, {files[0].name} has {read[0][1]}; a unit's snapshots need one length")
    clocks, notes = snapshot_clocks(folder, files, np.concatenate([r[0] for r in read]))
    for note in notes:
        log.info(note)
    features = FeatureTable(feature_names(bands), np.concatenate([r[2] for r in read]))
    match = official_match(folder) if set_name == "test" else None
    label = condition if condition is not None else condition_name(folder_condition(folder))
    return Unit(folder.name, label, clocks - clocks[0], features, failed=set_name == "learning",
                actual_rul_s=None if match is None else match[1], source=str(folder), official=None if match is None else match[0],
                temperature_c=snapshot_temperature(folder, clocks))


def snapshot_temperature(folder: Path, clocks: np.ndarray) -> np.ndarray | None:
    """The folder's temperature at each snapshot's start (NaN outside its files' span); None without temperature files,
    or (with a warning naming the problem) when they cannot be read."""
    try:
        series = read_temperature(folder, float(clocks[0]))
    except DataError as exc:
        log.warning("%s: temperature not used (%s)", folder, exc)
        return None
    if series is None:
        return None
    return np.interp(clocks - clocks[0], series.time_s, series.celsius, left=np.nan, right=np.nan)


def _folder_key(folder: Path, set_name: str, bands: int, condition: str | None = None) -> str:
    listing = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for _, p in numbered_files(folder, "acc")]
    material = json.dumps([FEATURE_VERSION, set_name, bands, str(folder.resolve()), listing, condition])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def read_unit(folder: Path | str, set_name: str = "learning", bands: int = DEFAULT_BANDS, cache_dir: Path | None = None,
              condition: str | None = None) -> Unit:
    """One FEMTO-layout bearing folder as a unit (``set_name`` "learning": ran to failure; "test": truncated), cached;
    ``condition``: its operating-condition label (None: see :func:`femto_unit`)."""
    folder = Path(folder)
    if set_name not in SETS:
        raise DataError(f"unknown set {set_name!r}; known: {', '.join(SETS)}")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of snapshots")
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"{folder.name}-{_folder_key(folder, set_name, bands, condition)}.npz"
        found = _read_cached(cached) if cached.is_file() else None
        if found is not None:
            return found
    unit = femto_unit(folder, set_name, bands, condition)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        meta = {"name": unit.name, "condition": unit.condition, "names": unit.features.names, "failed": unit.failed,
                "actual_rul_s": unit.actual_rul_s, "source": unit.source, "official": unit.official,
                "temperature": unit.temperature_c is not None}
        time_s, features = np.asarray(unit.time_s, np.float64), np.asarray(unit.features.values, np.float64)
        temperature = np.asarray(unit.temperature_c if unit.temperature_c is not None else [], np.float64)
        meta["sha256"] = _cache_digest(time_s, np.concatenate([features.ravel(), temperature]), meta)
        with atomic_file(cached) as handle:
            np.savez(handle, time_s=time_s, features=features, temperature=temperature, meta=np.array(json.dumps(meta)))
    return unit


def _cache_digest(time_s: np.ndarray, features: np.ndarray, meta: dict) -> str:
    digest = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    for values in (time_s, features):
        digest.update(repr((values.dtype.str, values.shape)).encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _read_cached(path: Path) -> Unit | None:
    """The unit in a feature-cache file; None (and a warning) when it is unreadable or its content does not match its sha256."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta, time_s, features, temperature = json.loads(str(data["meta"])), data["time_s"], data["features"], data["temperature"]
        if meta.get("sha256") != _cache_digest(time_s, np.concatenate([features.ravel(), temperature]), meta):
            raise ValueError("its content does not match the sha256 it records")
        return Unit(meta["name"], meta["condition"], time_s, FeatureTable(meta["names"], features), meta["failed"],
                    meta["actual_rul_s"], meta["source"], meta.get("official"), temperature if meta["temperature"] else None)
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        log.warning("%s: feature cache not used (%s); reading the snapshots again", path, exc)
        return None


def read_units(root: Path | str, set_name: str = "learning", names: list[str] | None = None, bands: int = DEFAULT_BANDS,
               cache_dir: Path | None = None) -> list[Unit]:
    """The bearings of one FEMTO set under ``root`` (or only those named), as units."""
    folder = femto_folder(root) / SETS.get(set_name, set_name)
    if set_name not in SETS:
        raise DataError(f"unknown set {set_name!r}; known: {', '.join(SETS)}")
    if not folder.is_dir():
        raise DataError(f"{folder}: no FEMTO {set_name} set here")
    return [read_unit(p, set_name, bands, cache_dir) for p in unit_folders(folder, names, prefix="Bearing")]


def spec_units_read(spec: Path | str, set_name: str = "learning", names: list[str] | None = None, bands: int = DEFAULT_BANDS) -> list[Unit]:
    """Your own run-to-failure units through a YAML spec (:mod:`syndiag.data.run_to_failure`), as units."""
    return [Unit(u.name, u.condition, u.time_s, snapshot_features(u.horizontal, u.vertical, u.fs, bands), u.failed, u.actual_rul_s, u.source)
            for u in spec_units(spec, set_name, names)]


def spec_unit(folder: Path | str, spec: Path | str, bands: int = DEFAULT_BANDS, condition: str | None = None) -> Unit:
    """One truncated unit's folder read with a spec's file layout (``syndiag rul predict FOLDER --spec SPEC``); ``condition``
    (None: the spec's) labels it."""
    layout, _ = load_spec(spec)
    u = read_unit_snapshots(Path(folder), layout, failed=False)
    return Unit(u.name, condition or u.condition, u.time_s, snapshot_features(u.horizontal, u.vertical, u.fs, bands), False, None, u.source)


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, ".syndiag-cache")) / "rul-features"
