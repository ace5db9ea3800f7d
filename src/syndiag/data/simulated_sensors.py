"""The simulated CWRU-like rig as sensor recordings (LLaVA-for-Sensors article, paired sensor + thermal data), all simulated.

:func:`simulated_sensor_set` gives the recordings of :func:`~syndiag.data.simulator.simulate_cwru_like` (so they match a
prepared ``dataset: simulated`` sample for sample) with a ``speed`` channel, the defect diameter as severity and, per
recording, thermal frames of :mod:`syndiag.data.thermal`. :func:`crack_recording` is the article's 'normal vibration
but visible crack': healthy vibration, frames that show a crack and say so (:class:`~syndiag.data.sensor_images.ImageFrame`).
Every set, recording and file made here carries :data:`~syndiag.data.simulator.SIMULATED_NOTE`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.data.cwru_classes import CWRU_LOADS, NORMAL, condition_name, cwru_classes
from syndiag.data.recording import FaultClass
from syndiag.data.sensor_images import ImageFrame
from syndiag.data.sensors import SPEED_FS, SensorChannel, SensorRecording, SensorSet
from syndiag.data.simulator import (
    SIMULATED_NOTE,
    simulate_cwru_like,
    simulate_recording,
)
from syndiag.data.thermal import THERMAL_SIZE, scene_of, thermal_frames, write_frames

THERMAL_STREAM = 7411
"""Extra seed word of the thermal frames, so they never share a random stream with the vibration."""
THERMAL_FOLDER = "thermal"
CRACK_CLASS = FaultClass("housing_crack", "normal vibration but a crack visible on a bearing housing")


def simulated_frames(data: DataConfig, period_s: float = 1.0, first_s: float = 0.5, size: int = THERMAL_SIZE) -> dict[str, list[tuple[float, Any]]]:
    """Thermal frames of every simulated recording, keyed ``{label}_{condition}`` (the stem of its ``.npz`` file); each is
    seeded by (seed, class index, load) alone, like its vibration."""
    options = data.simulator
    duration = round(options.seconds * options.fs) / options.fs
    frames = {}
    for load in data.cwru.loads:
        for index, fault in enumerate(cwru_classes()):
            rng = np.random.default_rng([options.seed % 2**64, index, load, THERMAL_STREAM])
            frames[f"{fault.name}_{condition_name(load)}"] = thermal_frames(fault.name, load, duration, rng, period_s, first_s, size)
    return frames


def _speed(rpm: float, duration: float) -> np.ndarray:
    return np.full(math.floor(duration * SPEED_FS) + 1, rpm)


def simulated_sensor_set(data: DataConfig, images: bool = True, period_s: float = 1.0, first_s: float = 0.5,
                         size: int = THERMAL_SIZE) -> SensorSet:
    """The simulated rig's recordings: its vibration channels (``data.cwru.channels``), ``speed`` (nominal rpm, 1 Hz), severity =
    defect diameter in inches (0 for normal) and, with ``images``, a thermal frame every ``period_s`` from ``first_s``."""
    recset = simulate_cwru_like(data.simulator, list(data.cwru.channels), list(data.cwru.loads))
    load_of = dict(zip(recset.conditions, data.cwru.loads))
    frames = simulated_frames(data, period_s, first_s, size) if images else {}
    recordings = []
    for rec in recset.recordings:
        load, duration = load_of[rec.condition], rec.n_samples / rec.fs
        channels = {name: rec.signal[i] for i, name in enumerate(rec.channels)}
        specs: dict[str, Any] = {name: SensorChannel(name, "vibration", rec.fs) for name in rec.channels}
        channels["speed"], specs["speed"] = _speed(float(CWRU_LOADS[load]), duration), SensorChannel("speed", "speed", SPEED_FS)
        recordings.append(SensorRecording(
            channels=channels, specs=specs, start_s=dict.fromkeys(channels, 0.0), label=rec.label, condition=rec.condition,
            source=rec.source, severity=scene_of(rec.label, load).diameter_in, images=frames.get(f"{rec.label}_{rec.condition}", []),
            notes=[*rec.notes], duration_s=duration, group=rec.source,
        ))
    notes = list(recset.notes)
    if images:
        notes.append(f"thermal frames simulated by syndiag.data.thermal ({size}x{size}, every {period_s:g} s from {first_s:g} s): "
                     f"{SIMULATED_NOTE}")
    return SensorSet(name=recset.name, classes=recset.classes, recordings=recordings, conditions=recset.conditions, notes=notes)


def crack_recording(load_hp: int = 0, seconds: float = 2.0, fs: float = 12000.0, seed: int = 0, crack_end: str = "DE",
                    label: str = CRACK_CLASS.name, channels: tuple[str, ...] = ("DE", "FE"), period_s: float = 1.0,
                    first_s: float = 0.5, snr_db: float = 10.0) -> SensorRecording:
    """'Normal vibration but visible crack': the healthy rig's vibration and speed, thermal frames with a crack on ``crack_end``.

    The recording is labelled ``label`` (stated by the caller; default ``housing_crack``, :data:`CRACK_CLASS`); each frame is an
    :class:`ImageFrame` labelled ``crack``, and the notes say the vibration is that of a healthy bearing.
    """
    rng = np.random.default_rng([seed % 2**64, 8080, load_hp])
    condition = condition_name(load_hp)
    signal = simulate_recording(NORMAL, load_hp, channels, fs, seconds, rng, snr_db)
    duration = signal.shape[1] / fs
    data: dict[str, np.ndarray] = {name: signal[i] for i, name in enumerate(channels)}
    specs: dict[str, Any] = {name: SensorChannel(name, "vibration", fs) for name in channels}
    data["speed"], specs["speed"] = _speed(float(CWRU_LOADS[load_hp]), duration), SensorChannel("speed", "speed", SPEED_FS)
    said = f"crack on the {crack_end} housing; the vibration is that of a healthy bearing"
    frames = thermal_frames(NORMAL, load_hp, duration, rng, period_s, first_s, crack_end=crack_end)
    return SensorRecording(
        channels=data, specs=specs, start_s=dict.fromkeys(data, 0.0), label=label, condition=condition,
        source=f"simulated:{label}@{condition}", severity=None, images=[(t, ImageFrame(image, "crack", said)) for t, image in frames],
        notes=[SIMULATED_NOTE, f"label {label!r}: {said}"], duration_s=duration, group=f"simulated:{label}",
    )


def write_simulated_frames(data: DataConfig, out_dir: str | Path, period_s: float = 1.0, first_s: float = 0.5) -> Path:
    """The simulated recordings' thermal frames as PNGs under ``out_dir/thermal`` beside their ``.npz`` files, indexed by
    ``thermal/frames.csv`` (recording = the ``.npz`` stem, time_s, file); returns the index's path."""
    return write_frames(simulated_frames(data, period_s, first_s), Path(out_dir) / THERMAL_FOLDER, SIMULATED_NOTE)
