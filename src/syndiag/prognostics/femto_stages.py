"""FEMTO PRONOSTIA snapshots labelled by degradation stage (LLaVA-for-Sensors severity on run-to-failure data).

Each learning bearing's health indicator is the RMS of its horizontal and vertical acceleration per snapshot; its
trajectory gives the stage of every snapshot (:mod:`syndiag.prognostics.health`), which is both the snapshot's class
and its severity (0, 1, 2). One window per snapshot ends at the snapshot's end, so the temperature fused with it is
the reading of that moment (:mod:`syndiag.data.femto_sensors`). Splits are by bearing: the bearings named as test
bearings give the test windows, every other bearing the pool, so no bearing is on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.data.femto import FemtoBearing, read_femto
from syndiag.data.femto_sensors import femto_sensor_set
from syndiag.data.recording import FaultClass, RecordingSet
from syndiag.data.sensor_windows import SensorWindows, check_layout, describe_recordings, severity_and_extra, windows_ending_at
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import ConfigError, DataError
from syndiag.prognostics.health import STAGE_PROMPTS, STAGES, HealthTrajectory, health_trajectory, time_features

STAGE_CLASSES = [FaultClass(name, prompt) for name, prompt in zip(STAGES, STAGE_PROMPTS)]


def bearing_indicator(bearing: FemtoBearing) -> np.ndarray:
    """Per snapshot, the RMS over both accelerometers (g): sqrt of the mean of the two channels' mean squares."""
    horizontal = time_features(np.stack([s.horizontal for s in bearing.snapshots]))["rms"]
    vertical = time_features(np.stack([s.vertical for s in bearing.snapshots]))["rms"]
    return np.sqrt((horizontal**2 + vertical**2) / 2.0)


def femto_stage_set(root: Path | str | None, bearings: list[str] | None = None, read: list[FemtoBearing] | None = None,
                    **stage_options: Any) -> tuple[RecordingSet, dict[str, HealthTrajectory]]:
    """The learning bearings as a sensor set whose classes are the degradation stages; each bearing's trajectory."""
    found = read if read is not None else read_femto(root, ("learning",), bearings)
    if not found:
        raise DataError(f"no FEMTO learning bearing found under {root}")
    trajectories = {b.name: health_trajectory(bearing_indicator(b), **stage_options) for b in found}
    sensor_set = femto_sensor_set(None, read=found, classes=STAGE_CLASSES,
                                  label_of=lambda bearing, i: STAGES[trajectories[bearing.name].stages[i]])
    for recording in sensor_set.recordings:
        recording.severity = float(STAGES.index(recording.label))
    return sensor_set, trajectories


def snapshot_windows(sensor_set: RecordingSet, layout: Sequence[Any], test_bearings: Sequence[str], held_out: bool = True) -> SensorWindows:
    """One window per snapshot, ending at its end on the fastest channel; split by bearing (``test_bearings`` -> test).
    ``held_out=False``: no bearing need be held out (every window in the pool: a model fitted on every bearing, or read by one)."""
    check_layout(layout)
    clock = max(layout, key=lambda spec: float(spec.fs))
    groups = sorted({r.group for r in sensor_set.recordings})
    unknown = sorted(set(test_bearings) - set(groups))
    if unknown:
        raise ConfigError(f"test bearings {unknown} are not among the bearings read: {groups}")
    if (held_out and not test_bearings) or set(test_bearings) == set(groups):
        raise ConfigError(f"name at least one test bearing and leave at least one for training (bearings: {groups})")
    recordings = [r for r in sensor_set.recordings if clock.name in r.channels]
    if len(recordings) < len(sensor_set.recordings):
        raise DataError(f"{len(sensor_set.recordings) - len(recordings)} snapshot(s) lack the clock channel {clock.name!r}")
    index = np.arange(len(recordings))
    ends = np.array([r.end_s(clock.name) for r in recordings])
    signals, present, padded, absent = windows_ending_at(recordings, index, ends, layout)
    severity, extra = severity_and_extra(recordings, index)
    split = np.array([TEST if r.group in test_bearings else POOL for r in recordings], dtype=np.int64)
    meta = {"dataset": "femto-stages", "clock_channel": clock.name, "clock_fs": float(clock.fs),
            "recordings": describe_recordings(recordings), "padded": padded, "absent": absent,
            "test_bearings": list(test_bearings), "notes": list(sensor_set.notes)}
    return SensorWindows(
        layout=list(layout), signals=signals, present=present,
        labels=np.array([sensor_set.class_names.index(r.label) for r in recordings], dtype=np.int64),
        conditions=np.array([sensor_set.conditions.index(r.condition) for r in recordings], dtype=np.int64),
        split=split, severity=severity, class_names=sensor_set.class_names, prompts=[c.prompt for c in sensor_set.classes],
        condition_names=list(sensor_set.conditions), images=None, meta=meta, recording=index,
        starts=np.zeros(len(recordings), dtype=np.int64), end_s=ends, extra=extra)
