"""The simulated CWRU-like rig as sensor recordings (LLaVA-for-Sensors article, paired sensor + thermal data), all simulated.

:func:`simulated_sensor_set` gives the recordings of :func:`~syndiag.data.simulator.simulate_cwru_like` (so they match a
prepared ``dataset: simulated`` sample for sample) with a ``speed`` channel, the defect diameter as severity and, per
recording, thermal frames of :mod:`syndiag.data.thermal`. :func:`crack_recording` is the article's 'normal vibration
but visible crack': healthy vibration, frames that show a crack and say so (:class:`~syndiag.data.sensor_images.ImageFrame`).
Every set, recording and file made here carries :data:`~syndiag.data.simulator.SIMULATED_NOTE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.data.cwru_classes import CWRU_LOADS, NORMAL, condition_name, cwru_classes
from syndiag.data.recording import FaultClass, Recording, RecordingSet
from syndiag.data.sensor_images import ImageFrame
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


def simulated_sensor_set(data: DataConfig, images: bool = True, period_s: float = 1.0, first_s: float = 0.5,
                         size: int = THERMAL_SIZE) -> RecordingSet:
    """The simulated rig's recordings: its vibration channels (``data.cwru.channels``), ``speed`` (nominal rpm, 1 Hz), severity =
    defect diameter in inches (0 for normal) and, with ``images``, a thermal frame every ``period_s`` from ``first_s``."""
    recset = simulate_cwru_like(data.simulator, list(data.cwru.channels), list(data.cwru.loads))
    load_of = dict(zip(recset.conditions, data.cwru.loads))
    frames = simulated_frames(data, period_s, first_s, size) if images else {}
    recordings = []
    for rec in recset.recordings:
        load = load_of[rec.condition]
        recordings.append(rec.with_speed(float(CWRU_LOADS[load]), severity=scene_of(rec.label, load).diameter_in,
                                         images=frames.get(f"{rec.label}_{rec.condition}", []), group=rec.source))
    notes = list(recset.notes)
    if images:
        notes.append(f"thermal frames simulated by syndiag.data.thermal ({size}x{size}, every {period_s:g} s from {first_s:g} s): "
                     f"{SIMULATED_NOTE}")
    return RecordingSet(name=recset.name, classes=recset.classes, conditions=recset.conditions, recordings=recordings, notes=notes)


def crack_recording(load_hp: int = 0, seconds: float = 2.0, fs: float = 12000.0, seed: int = 0, crack_end: str = "DE",
                    label: str = CRACK_CLASS.name, channels: tuple[str, ...] = ("DE", "FE"), period_s: float = 1.0,
                    first_s: float = 0.5, snr_db: float = 10.0) -> Recording:
    """'Normal vibration but visible crack': the healthy rig's vibration and speed, thermal frames with a crack on ``crack_end``.

    The recording is labelled ``label`` (stated by the caller; default ``housing_crack``, :data:`CRACK_CLASS`); each frame is an
    :class:`ImageFrame` labelled ``crack``, and the notes say the vibration is that of a healthy bearing.
    """
    rng = np.random.default_rng([seed % 2**64, 8080, load_hp])
    condition = condition_name(load_hp)
    signal = simulate_recording(NORMAL, load_hp, channels, fs, seconds, rng, snr_db)
    said = f"crack on the {crack_end} housing; the vibration is that of a healthy bearing"
    vibration = Recording.from_signal(signal, fs, channels, label=label, condition=condition, source=f"simulated:{label}@{condition}")
    frames = thermal_frames(NORMAL, load_hp, vibration.seconds, rng, period_s, first_s, crack_end=crack_end)
    return vibration.with_speed(float(CWRU_LOADS[load_hp]), images=[(t, ImageFrame(image, "crack", said)) for t, image in frames],
                                notes=(SIMULATED_NOTE, f"label {label!r}: {said}"), group=f"simulated:{label}")


def write_simulated_frames(data: DataConfig, out_dir: str | Path, period_s: float = 1.0, first_s: float = 0.5) -> Path:
    """The simulated recordings' thermal frames as PNGs under ``out_dir/thermal`` beside their ``.npz`` files, indexed by
    ``thermal/frames.csv`` (recording = the ``.npz`` stem, time_s, file); returns the index's path."""
    return write_frames(simulated_frames(data, period_s, first_s), Path(out_dir) / THERMAL_FOLDER, SIMULATED_NOTE)
