"""FEMTO PRONOSTIA as a :class:`~syndiag.data.recording.RecordingSet`: one sensor recording per vibration snapshot.

Each recording holds ``acc_h`` and ``acc_v`` (25.6 kHz, 0.1 s), the ``temperature`` readings of the same moment
(10 Hz, from ``context_s`` before the snapshot to its end; absent when no reading lies within ``max_lag_s`` of the
snapshot, or the bearing has no temperature files) and a constant ``speed`` (rpm of the operating condition, 1 Hz),
all on the bearing's clock (seconds since its first snapshot). Condition = operating condition; severity is None
(degradation stages are a later issue); ``extra`` keeps ``time_s`` and, for learning bearings, ``rul_s`` and
``life_fraction``; ``group`` is the bearing name (for leave-one-bearing-out splits).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.data.femto import (
    ACC_FS,
    TEMP_FS,
    FemtoBearing,
    align_temperature,
    condition_name,
    read_femto,
)
from syndiag.data.recording import SPEED_FS, Channel, FaultClass, Recording, RecordingSet
from syndiag.errors import DataError

RUN_TO_FAILURE = FaultClass("run_to_failure", "bearing in an accelerated run-to-failure test")
FEMTO_CHANNELS = {
    "acc_h": Channel("acc_h", "vibration", ACC_FS),
    "acc_v": Channel("acc_v", "vibration", ACC_FS),
    "temperature": Channel("temperature", "temperature", TEMP_FS),
    "speed": Channel("speed", "speed", SPEED_FS),
}
LabelOf = Callable[[FemtoBearing, int], str]


def _contiguous_tail(t: np.ndarray, lo: int, hi: int) -> int:
    """First index of the gap-free tail of ``t[lo:hi]`` (samples 1/TEMP_FS apart, within half a period)."""
    gaps = np.flatnonzero(np.diff(t[lo:hi]) > 1.5 / TEMP_FS)
    return lo + int(gaps[-1]) + 1 if gaps.size else lo


def bearing_recordings(
    bearing: FemtoBearing, context_s: float, max_lag_s: float, speed: bool, label_of: LabelOf
) -> tuple[list[Recording], list[str]]:
    """The sensor recordings of one bearing's snapshots, and notes on missing temperature."""
    aligned = align_temperature(bearing, samples=1, max_lag_s=max_lag_s)
    rul, life = bearing.rul_s, bearing.life_fraction
    recordings, absent = [], 0
    for i, snap in enumerate(bearing.snapshots):
        channels: dict[str, np.ndarray] = {"acc_h": snap.horizontal, "acc_v": snap.vertical}
        start_s = {"acc_h": snap.time_s, "acc_v": snap.time_s}
        if aligned is not None and aligned.present[i]:
            t, c = bearing.temperature.time_s, bearing.temperature.celsius  # type: ignore[union-attr]
            hi = int(np.searchsorted(t, snap.end_s, side="right"))
            lo = _contiguous_tail(t, int(np.searchsorted(t, snap.time_s - context_s, side="left")), hi)
            lo = min(lo, hi - 1)
            channels["temperature"], start_s["temperature"] = c[lo:hi], float(t[lo])
        elif aligned is not None:
            absent += 1
        if speed:
            channels["speed"], start_s["speed"] = np.array([bearing.rpm]), snap.time_s
        extra = {"time_s": snap.time_s}
        if rul is not None and life is not None:
            extra.update(rul_s=float(rul[i]), life_fraction=float(life[i]))
        recordings.append(
            Recording(
                channels=channels,
                specs={name: FEMTO_CHANNELS[name] for name in channels},
                start_s=start_s,
                label=label_of(bearing, i),
                condition=condition_name(bearing.condition),
                source=snap.file,
                severity=None,
                extra=extra,
                group=bearing.name,
            )
        )
    notes = list(bearing.notes)
    if absent:
        notes.append(
            f"{bearing.name}: {absent} of {len(bearing.snapshots)} snapshots have no temperature reading within "
            f"{max_lag_s:g} s (channel 'temperature' absent for them)"
        )
    return recordings, notes


def femto_sensor_set(
    root: Path | str | None,
    sets: tuple[str, ...] = ("learning",),
    bearings: list[str] | None = None,
    context_s: float = 1.0,
    max_lag_s: float = 1.0,
    speed: bool = True,
    classes: list[FaultClass] | None = None,
    label_of: LabelOf | None = None,
    read: list[FemtoBearing] | None = None,
) -> RecordingSet:
    """FEMTO bearings as sensor recordings, one per snapshot (see the module docstring).

    ``classes``/``label_of`` give each snapshot a class (default: one class, ``run_to_failure``). ``read``: bearings
    already read by :func:`read_femto` (the files are then not read again).
    """
    if root is None and read is None:
        raise DataError("femto_sensor_set needs a FEMTO folder (root) or bearings already read (read=)")
    classes = classes or [RUN_TO_FAILURE]
    label_of = label_of or (lambda bearing, i: classes[0].name)
    found = read if read is not None else read_femto(root, sets, bearings)
    recordings: list[Recording] = []
    notes: list[str] = []
    for bearing in found:
        more, said = bearing_recordings(bearing, context_s, max_lag_s, speed, label_of)
        recordings.extend(more)
        notes.extend(said)
    conditions = list(dict.fromkeys(condition_name(b.condition) for b in sorted(found, key=lambda b: b.condition)))
    return RecordingSet(name="femto", classes=classes, conditions=conditions, recordings=recordings, notes=notes)


def femto_summary(bearings: list[FemtoBearing]) -> list[dict[str, Any]]:
    """One row per bearing: set, condition, snapshots, temperature files, span and RUL information."""
    rows = []
    for b in bearings:
        rows.append(
            {
                "bearing": b.name,
                "set": b.set,
                "condition": condition_name(b.condition),
                "snapshots": len(b.snapshots),
                "temperature_files": 0 if b.temperature is None else len(b.temperature.files),
                "duration_s": round(float(b.snapshots[-1].time_s), 3),
                "actual_rul_s": b.actual_rul_s,
            }
        )
    return rows
