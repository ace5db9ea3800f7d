"""Your own run-to-failure units (issue 16) through a YAML spec: a folder of unit folders, each a series of snapshot files.

```yaml
run_to_failure:
  fs: 20000                # sampling rate of every snapshot
  channels: [1, 2]         # the two vibration axes (a column index or name, an .npz/.mat key); one: read for both
  snapshots: "*.csv"       # the files of one snapshot each, inside a unit's folder, in name order
  period_s: 600            # time between consecutive snapshots
  condition: "pump-A"      # an operating-condition label
  learning: {folder: learning}                            # every subfolder a unit that ran to failure
  test: {folder: running, rul_s: {unit7: 5400}}           # truncated units; known actual RULs, for scoring only
```
Paths are relative to the spec file. A unit's snapshot files must hold the same number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field

from syndiag.config.base import StrictModel, read_yaml
from syndiag.data.signal_files import ChannelRef, file_format, read_channels
from syndiag.errors import ConfigError, DataError


class UnitFolderSpec(StrictModel):
    folder: Path = Field(description="a folder of unit folders, relative to the spec file")
    rul_s: dict[str, float] = Field(default_factory=dict, description="actual RUL (s) at the last snapshot of truncated units, for scoring")


class RunToFailureSpec(StrictModel):
    fs: float = Field(gt=0, description="sampling rate of every snapshot (Hz)")
    channels: list[ChannelRef] = Field(min_length=1, max_length=2, description="the two vibration axes; one is read for both")
    snapshots: str = Field("*.csv", description="glob of one unit's snapshot files, sorted by name")
    period_s: float = Field(gt=0, description="time between consecutive snapshots (s)")
    condition: str = "unit"
    learning: UnitFolderSpec
    test: UnitFolderSpec | None = None


@dataclass
class UnitSnapshots:
    name: str
    condition: str
    time_s: np.ndarray
    horizontal: np.ndarray
    vertical: np.ndarray
    fs: float
    failed: bool
    actual_rul_s: float | None
    source: str


def load_spec(path: Path | str) -> tuple[RunToFailureSpec, Path]:
    path = Path(path)
    data = read_yaml(path)
    if "run_to_failure" not in data:
        raise ConfigError(f"{path}: no 'run_to_failure:' section (see syndiag/data/run_to_failure.py for the layout)")
    return RunToFailureSpec.from_dict(data["run_to_failure"], source=f"{path}: run_to_failure"), path.parent


def read_unit_snapshots(folder: Path, spec: RunToFailureSpec, failed: bool, actual_rul_s: float | None = None) -> UnitSnapshots:
    """One unit's folder: every snapshot file in name order, the two axes, times ``period_s`` apart."""
    files = sorted(p for p in Path(folder).glob(spec.snapshots) if p.is_file())
    if not files:
        raise DataError(f"{folder}: no snapshot files matching {spec.snapshots!r}")
    axes = []
    for path in files:
        data = read_channels(path, file_format(path), list(spec.channels))
        if not np.isfinite(data.signal).all():
            raise DataError(f"{path}: holds NaN or Inf samples")
        axes.append(data.signal if data.signal.shape[0] == 2 else np.repeat(data.signal, 2, axis=0))
    lengths = {a.shape[1] for a in axes}
    if len(lengths) > 1:
        first = next(p for p, a in zip(files, axes) if a.shape[1] != axes[0].shape[1])
        raise DataError(f"{first}: {axes[files.index(first)].shape[1]} samples, {files[0].name} has {axes[0].shape[1]}; "
                        "a unit's snapshots need one length")
    stacked = np.stack(axes)
    return UnitSnapshots(Path(folder).name, spec.condition, np.arange(len(files)) * spec.period_s, stacked[:, 0], stacked[:, 1],
                         spec.fs, failed, actual_rul_s, str(folder))


def spec_units(path: Path | str, set_name: str = "learning", names: list[str] | None = None) -> list[UnitSnapshots]:
    """The units of the spec's ``learning`` (ran to failure) or ``test`` (truncated) folder."""
    spec, base = load_spec(path)
    chosen = spec.learning if set_name == "learning" else spec.test
    if chosen is None:
        raise ConfigError(f"{path}: no '{set_name}' folder of units in run_to_failure")
    folder = chosen.folder if chosen.folder.is_absolute() else base / chosen.folder
    if not folder.is_dir():
        raise DataError(f"{folder}: the spec's {set_name} folder of units does not exist")
    return [read_unit_snapshots(p, spec, set_name == "learning", chosen.rul_s.get(p.name)) for p in unit_folders(folder, names)]


def unit_folders(folder: Path, names: list[str] | None = None, prefix: str = "") -> list[Path]:
    """The unit subfolders of ``folder`` (whose names start with ``prefix``), only those named when ``names`` is given."""
    found = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(prefix))
    if names is not None:
        missing = sorted(set(names) - {p.name for p in found})
        if missing:
            raise DataError(f"{folder}: unit(s) {', '.join(missing)} not found; found {', '.join(p.name for p in found) or 'none'}")
        found = [p for p in found if p.name in names]
    if not found:
        raise DataError(f"{folder}: no unit folders{f' named {prefix}...' if prefix else ''}")
    return found
