"""Zero-shot fault classes from their description by physics (issue 30, item 3): a description parsed into the fault's
type, location and size; the defect line it implies (BPFI / BPFO / 2xBSF of the bearing at that location,
``physics/bearings.py``) matched against each window's envelope-spectrum evidence on that location's channel; and the
same attributes matched against the known classes a window resembles (attribute transfer: a window close to the
seen fan-end faults and to the seen ball faults is a fan-end ball fault, whatever size the seen ones had).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, hilbert, sosfiltfilt

from syndiag.errors import ConfigError
from syndiag.physics.bearings import FAULT_FREQUENCY, bearing
from syndiag.physics.machines import machine

FAULT_WORDS = {"inner_race": ("inner race", "inner-race", "inner ring", "inner raceway"),
               "outer_race": ("outer race", "outer-race", "outer ring", "outer raceway"),
               "ball": ("ball", "rolling element", "rolling-element", "roller")}
LOCATION_WORDS = {"drive_end": ("drive end", "drive-end", "motor end", "motor-end"), "fan_end": ("fan end", "fan-end")}
NORMAL_WORDS = ("normal", "healthy", "no fault")
LOCATION_CHANNEL = {"drive_end": "DE", "fan_end": "FE"}
"""The channel (accelerometer) nearest each location; the bearing behind it is the machine's (``machines.yaml``)."""
SIZE = re.compile(r"(\d*\.\d+|\d+)\s*(inches|inch|in\b|\"|mm|millimet(?:er|re)s?)")
BAND_LOW = 1000.0
"""Envelope band from 1 kHz up to 0.45 fs: the structural resonances that a defect's impacts excite lie above the
shaft, gear and mains lines (Randall & Antoni 2011); a fixed band because one 43 ms window is too short for a kurtogram."""
FLOOR_HZ = (10.0, 600.0)
"""Envelope-spectrum band whose median is a line's floor (every CWRU and PRONOSTIA defect line and its floor lie in it)."""
ZERO_PAD = 8
"""Zero padding of a window's envelope before its FFT (interpolated bins, so a line between two bins keeps its height)."""


@dataclass(frozen=True)
class FaultDescription:
    """What a description names: fault type (None: a healthy machine), location, defect size in inches (None: not given)."""

    fault: str | None
    location: str | None
    size_in: float | None

    def attributes(self) -> tuple[str, str, str]:
        size = "none" if self.size_in is None else f"{self.size_in:.3f}"
        return (self.fault or "none", self.location or "none", size)


def _found(text: str, words: dict[str, tuple[str, ...]]) -> list[str]:
    return [name for name, spelled in words.items() if any(w in text for w in spelled)]


def parse_description(text: str, where: str) -> FaultDescription:
    """The fault type, location and size a description names; ConfigError naming ``where`` and what is missing when it
    names no fault type or no location (a healthy machine, "normal operation", names neither and is accepted)."""
    lowered = " ".join(str(text).lower().split())
    if any(w in lowered for w in NORMAL_WORDS):
        return FaultDescription(None, None, None)
    faults, locations = _found(lowered, FAULT_WORDS), _found(lowered, LOCATION_WORDS)
    missing = ([] if len(faults) == 1 else ["one fault type (" + ", ".join(w[0] for w in FAULT_WORDS.values()) + ")"]) + \
              ([] if len(locations) == 1 else ["one location (" + ", ".join(w[0] for w in LOCATION_WORDS.values()) + ")"])
    if missing:
        several = " (it names several)" if len(faults) > 1 or len(locations) > 1 else ""
        raise ConfigError(f"{where}: the description {text!r} does not name {' nor '.join(missing)}{several}: "
                          "a fault class added from its description needs one fault type and one location, e.g. "
                          "'outer race fault at fan end with diameter 0.021 inches'")
    size = SIZE.search(lowered)
    size_in = None if size is None else float(size.group(1)) / (25.4 if size.group(2).startswith("m") else 1.0)
    return FaultDescription(faults[0], locations[0], size_in)


def window_evidence(windows: np.ndarray, fs: float, channels: list[str], rpm: float, machine_name: str = "cwru-rig",
                    chunk: int = 256) -> dict[str, np.ndarray]:
    """Per window: the log peak-to-floor ratio of each (fault, location)'s defect line in the envelope spectrum of that
    location's channel (key ``fault@location``), and each location channel's log RMS (key ``rms@location``)."""
    rig = machine(machine_name)
    rig.check_rpm(rpm, "the condition's shaft speed")
    where = {}
    for location, channel in LOCATION_CHANNEL.items():
        if channel not in channels or channel not in rig.bearings:
            raise ConfigError(f"location {location}: no channel {channel} in the data's channels {channels} or the machine {machine_name}'s bearings")
        where[location] = (channels.index(channel), bearing(rig.bearings[channel]).frequencies(rpm / 60.0))
    parts = [_chunk_evidence(np.asarray(windows[a:a + chunk], dtype=np.float64), fs, where) for a in range(0, len(windows), chunk)]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _chunk_evidence(x: np.ndarray, fs: float, where: dict[str, tuple[int, dict[str, float]]]) -> dict[str, np.ndarray]:
    x = x - x.mean(-1, keepdims=True)
    sos = butter(4, (BAND_LOW, 0.45 * fs), btype="bandpass", fs=fs, output="sos")
    envelope = np.abs(hilbert(sosfiltfilt(sos, x, axis=-1), axis=-1))
    envelope -= envelope.mean(-1, keepdims=True)
    n = x.shape[-1] * ZERO_PAD
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum = np.abs(np.fft.rfft(envelope * np.hanning(x.shape[-1]), n=n, axis=-1))
    floor_bins = (freqs >= FLOOR_HZ[0]) & (freqs <= FLOOR_HZ[1])
    found: dict[str, np.ndarray] = {}
    for location, (k, lines) in where.items():
        floor = np.maximum(np.median(spectrum[:, k][:, floor_bins], axis=-1), 1e-12)
        for fault, line in FAULT_FREQUENCY.items():
            if fault != "cage":
                hz = lines[line]
                near = np.abs(freqs - hz) <= max(0.03 * hz, 0.25 * fs / x.shape[-1])
                found[f"{fault}@{location}"] = np.log(spectrum[:, k][:, near].max(-1) / floor)
        found[f"rms@{location}"] = 0.5 * np.log(np.maximum((x[:, k] ** 2).mean(-1), 1e-24))
    return found


def line_scores(evidence: dict[str, np.ndarray], described: list[FaultDescription]) -> np.ndarray:
    """(windows, classes): how much more the described location shows the described defect line, and vibrates, than
    the other location does (log ratios); the physics route's match of each description."""
    columns = []
    for d in described:
        other = next(loc for loc in LOCATION_CHANNEL if loc != d.location)
        columns.append(evidence[f"{d.fault}@{d.location}"] - evidence[f"{d.fault}@{other}"]
                       + evidence[f"rms@{d.location}"] - evidence[f"rms@{other}"])
    return np.stack(columns, axis=1)


def attribute_scores(distances: np.ndarray, seen: list[FaultDescription], described: list[FaultDescription]) -> np.ndarray:
    """(windows, classes): for each described class, the sum over its attributes (type, location, size) of the log
    probability that a window shares it, that probability being the softmax weight (-d/2 of its squared Mahalanobis
    distances, ``distances``: windows x seen classes) of the seen classes that have the attribute."""
    logits = -0.5 * (distances - distances.min(axis=1, keepdims=True))
    weight = np.exp(logits)
    weight /= weight.sum(axis=1, keepdims=True)
    seen_attributes = [s.attributes() for s in seen]
    out = np.zeros((len(distances), len(described)))
    for j, d in enumerate(described):
        for k, value in enumerate(d.attributes()):
            if value == "none" and k == 2:
                continue  # no size given: the size says nothing
            share = np.array([a[k] == value for a in seen_attributes])
            out[:, j] += np.log(weight[:, share].sum(axis=1) + 1e-9) if share.any() else math.log(1e-9)
    return out


def random_descriptions(count: int, rng: np.random.Generator) -> list[FaultDescription]:
    """``count`` descriptions of a random fault type, location and CWRU size (the random-text ablation)."""
    sizes = (0.007, 0.014, 0.021)
    return [FaultDescription(str(rng.choice(list(FAULT_WORDS))), str(rng.choice(list(LOCATION_CHANNEL))), float(rng.choice(sizes)))
            for _ in range(count)]
