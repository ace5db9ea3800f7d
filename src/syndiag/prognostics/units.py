"""Run-to-failure units for prognostics (issue 16): one unit's snapshot times and health features, from FEMTO folders.

A unit is a monitored machine part seen as a sequence of snapshots. A **failed** unit ran to failure: its last snapshot
is the failure, so the RUL of each snapshot is the time to it. A **truncated** unit stops before failure (a challenge
test bearing, or a machine still running); its actual RUL, when known, is for scoring only. Features are computed once
per folder and cached (keyed by the files' names, sizes and modification times), since reading the CSVs is the slow part.
A cache file records the sha256 of its content; one that does not match it (damaged, edited, or older) is read again from
the snapshots and rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_file
from syndiag.config.data import CACHE_ENV
from syndiag.data.femto import (
    ACC_FS,
    SETS,
    FemtoBearing,
    condition_name,
    femto_folder,
    read_bearing,
)
from syndiag.data.femto_files import numbered_files
from syndiag.data.run_to_failure import load_spec, read_unit_snapshots, spec_units, unit_folders
from syndiag.errors import DataError
from syndiag.prognostics.features import DEFAULT_BANDS, FeatureTable, snapshot_features

FEATURE_VERSION = 1

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
        return replace(self, time_s=self.time_s[:count], features=table, failed=False, actual_rul_s=actual)


def unit_from_bearing(bearing: FemtoBearing, bands: int = DEFAULT_BANDS) -> Unit:
    horizontal = np.stack([s.horizontal for s in bearing.snapshots])
    vertical = np.stack([s.vertical for s in bearing.snapshots])
    if not (np.isfinite(horizontal).all() and np.isfinite(vertical).all()):
        bad = next(s.file for s in bearing.snapshots if not (np.isfinite(s.horizontal).all() and np.isfinite(s.vertical).all()))
        raise DataError(f"{bad}: non-finite acceleration values")
    return Unit(bearing.name, condition_name(bearing.condition), bearing.time_s, snapshot_features(horizontal, vertical, ACC_FS, bands),
                failed=bearing.set == "learning", actual_rul_s=bearing.actual_rul_s, source=str(bearing.snapshots[0].file).rsplit("/", 1)[0])


def _folder_key(folder: Path, set_name: str, bands: int) -> str:
    listing = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for _, p in numbered_files(folder, "acc")]
    material = json.dumps([FEATURE_VERSION, set_name, bands, str(folder.resolve()), listing])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def read_unit(folder: Path | str, set_name: str = "learning", bands: int = DEFAULT_BANDS, cache_dir: Path | None = None) -> Unit:
    """One FEMTO-layout bearing folder as a unit (``set_name`` "learning": ran to failure; "test": truncated), cached."""
    folder = Path(folder)
    if set_name not in SETS:
        raise DataError(f"unknown set {set_name!r}; known: {', '.join(SETS)}")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of snapshots")
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"{folder.name}-{_folder_key(folder, set_name, bands)}.npz"
        found = _read_cached(cached) if cached.is_file() else None
        if found is not None:
            return found
    unit = unit_from_bearing(read_bearing(folder, set_name), bands)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        meta = {"name": unit.name, "condition": unit.condition, "names": unit.features.names, "failed": unit.failed,
                "actual_rul_s": unit.actual_rul_s, "source": unit.source}
        time_s, features = np.asarray(unit.time_s, np.float64), np.asarray(unit.features.values, np.float64)
        meta["sha256"] = _cache_digest(time_s, features, meta)
        with atomic_file(cached) as handle:
            np.savez(handle, time_s=time_s, features=features, meta=np.array(json.dumps(meta)))
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
            meta, time_s, features = json.loads(str(data["meta"])), data["time_s"], data["features"]
        if meta.get("sha256") != _cache_digest(time_s, features, meta):
            raise ValueError("its content does not match the sha256 it records")
        return Unit(meta["name"], meta["condition"], time_s, FeatureTable(meta["names"], features), meta["failed"],
                    meta["actual_rul_s"], meta["source"])
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


def spec_unit(folder: Path | str, spec: Path | str, bands: int = DEFAULT_BANDS) -> Unit:
    """One truncated unit's folder read with a spec's file layout (``syndiag rul predict FOLDER --spec SPEC``)."""
    layout, _ = load_spec(spec)
    u = read_unit_snapshots(Path(folder), layout, failed=False)
    return Unit(u.name, u.condition, u.time_s, snapshot_features(u.horizontal, u.vertical, u.fs, bands), False, None, u.source)


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, ".syndiag-cache")) / "rul-features"
