"""A physically grounded vibration simulator of the CWRU bearing rig: the default dataset when none is given."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from syndiag.atomic import atomic_file, atomic_write_text
from syndiag.config.data import SimulatorOptions
from syndiag.data.cwru_classes import (
    BEARING_ENDS,
    CWRU_LOADS,
    FAULT_KINDS,
    FAULT_SIZES,
    NORMAL,
    condition_name,
    cwru_classes,
)
from syndiag.data.recording import Recording, RecordingSet
from syndiag.errors import DataError
from syndiag.physics.bearings import BearingGeometry, bearing

SIMULATED_NAME = "simulated-cwru"
SPEC_FILE = "dataset.yaml"
SIMULATED_NOTE = "simulated by syndiag.data.simulator: synthetic CWRU-like signals, not measurements"


DRIVE_END_6205 = bearing("cwru-drive-end")
FAN_END_6203 = bearing("cwru-fan-end")


@dataclass(frozen=True)
class Resonance:
    """A damped structural mode of a bearing housing, rung by each impact.

    Its impulse response exp(-zeta w t) sin(w_d t), sampled, is exactly a two-pole recursive filter. A mode
    above 0.4 fs is moved to 0.4 fs: an anti-aliased recording at that rate would not show it, and the
    impacts must still be visible.
    """

    frequency: float
    damping_ratio: float

    def coefficients(self, fs: float) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and denominator of the filter, scaled so the impulse response peaks at 1."""
        omega = 2 * math.pi * min(self.frequency, 0.4 * fs)
        decay = self.damping_ratio * omega
        damped = omega * math.sqrt(1 - self.damping_ratio**2)
        r, theta = math.exp(-decay / fs), damped / fs
        peak_time = math.atan2(damped, decay) / damped
        peak = math.exp(-decay * peak_time) * math.sin(damped * peak_time)
        b = np.array([0.0, r * math.sin(theta) / peak])
        a = np.array([1.0, -2 * r * math.cos(theta), r**2])
        return b, a

    def kernel(self, fs: float) -> np.ndarray:
        """The impulse response, long enough to decay by 80 dB."""
        decay = self.damping_ratio * 2 * math.pi * min(self.frequency, 0.4 * fs)
        impulse = np.zeros(int(math.ceil(math.log(1e4) / decay * fs)) + 2)
        impulse[0] = 1.0
        return lfilter(*self.coefficients(fs), impulse)

    def ring(self, excitation: np.ndarray, fs: float) -> np.ndarray:
        return lfilter(*self.coefficients(fs), excitation)


@dataclass(frozen=True)
class _RigEnd:
    bearing: BearingGeometry
    resonance: Resonance
    shaft_harmonics: tuple[float, float, float]
    line_harmonics: tuple[float, float]
    roughness_rms: float


RIG_ENDS: dict[str, _RigEnd] = {
    "DE": _RigEnd(DRIVE_END_6205, Resonance(3500.0, 0.02), (0.020, 0.008, 0.003), (0.006, 0.003), 0.03),
    "FE": _RigEnd(FAN_END_6203, Resonance(2500.0, 0.03), (0.015, 0.010, 0.002), (0.004, 0.002), 0.02),
}
RIG_CHANNELS: tuple[str, ...] = tuple(RIG_ENDS)
LINE_FREQUENCY = 60.0
TRANSMISSION_GAIN = 0.2
"""Amplitude reaching the far housing, relative to the faulty one."""
TRANSMISSION_DELAY_S = 0.4e-3

@dataclass(frozen=True)
class RecordingChain:
    """The sensors and their mounting on another day or another machine (issue 15, other recording chains): every
    housing mode moved by ``resonance_scale``, every accelerometer's sensitivity scaled by ``gain``."""

    resonance_scale: float = 1.0
    gain: float = 1.0

    def __post_init__(self) -> None:
        for name in ("resonance_scale", "gain"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise DataError(f"recording chain: {name} must be a positive number, got {value!r}")

    def resonance(self, mode: Resonance) -> Resonance:
        return mode if self.resonance_scale == 1.0 else replace(mode, frequency=mode.frequency * self.resonance_scale)


RIG_CHAIN = RecordingChain()
"""The chain every simulated data set uses unless told otherwise."""

IMPACT_AMPLITUDE: dict[str, float] = {"IR": 1.0, "B": 0.6, "OR": 1.4}
"""Peak of one impact's ringing for a 0.007 in defect, in g."""
SIZE_GROWTH: dict[str, float] = {"007": 1.0, "014": 1.8, "021": 2.7}
IMPACT_SCATTER: dict[str, float] = {"IR": 0.10, "B": 0.25, "OR": 0.05}
"""Relative random spread of impact strengths; a ball turns its defect in and out of contact."""
SLIP_RANGE = (0.01, 0.02)
LOAD_ZONE_FLOOR = 0.4
"""Strength of an impact outside the load zone at no load, relative to one inside; load widens the zone."""


@dataclass(frozen=True)
class _Fault:
    end: str
    kind: str
    size: str


def _parse_label(label: str) -> _Fault | None:
    if label == NORMAL:
        return None
    end, _, rest = label.partition("_")
    kind, size = rest[:-3], rest[-3:]
    if end not in BEARING_ENDS or kind not in FAULT_KINDS or size not in FAULT_SIZES:
        known = ", ".join(c.name for c in cwru_classes())
        raise DataError(f"unknown CWRU class {label!r}; known classes: {known}")
    return _Fault(end, kind, size)


def _check_channels(channels: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(channels)
    if not chosen:
        raise DataError(f"no channel asked for; the rig has {list(RIG_CHANNELS)}")
    unknown = [c for c in chosen if c not in RIG_ENDS]
    if unknown:
        raise DataError(f"unknown channel(s) {unknown}; the rig has {list(RIG_CHANNELS)}")
    if len(set(chosen)) != len(chosen):
        raise DataError(f"duplicate channels in {list(chosen)}")
    return chosen


def _impact_train(
    fault: _Fault, rpm: float, load_hp: int, n: int, fs: float, rng: np.random.Generator
) -> np.ndarray:
    """Impacts of the defect as a sampled train of weighted unit impulses, fractional times split linearly."""
    shaft = rpm / 60
    lines = RIG_ENDS[fault.end].bearing.frequencies(shaft)
    rate = {"IR": lines["BPFI"], "OR": lines["BPFO"], "B": lines["2xBSF"]}[fault.kind]
    period = 1 / rate
    duration = n / fs

    slip = rng.uniform(*SLIP_RANGE)
    count = int(math.ceil(duration * rate * 1.2)) + 2
    intervals = period * np.clip(1 + slip * rng.standard_normal(count), 0.5, 1.5)
    times = rng.uniform(0, period) + np.concatenate(([0.0], np.cumsum(intervals[:-1])))
    times = times[times < duration - 1 / fs]

    strength = IMPACT_AMPLITUDE[fault.kind] * SIZE_GROWTH[fault.size] * (1 + 0.05 * load_hp)
    strength = strength * np.exp(IMPACT_SCATTER[fault.kind] * rng.standard_normal(times.size))
    phase = rng.uniform(0, 2 * math.pi)
    if fault.kind != "OR":
        carrier = shaft if fault.kind == "IR" else lines["FTF"]
        floor = LOAD_ZONE_FLOOR + 0.05 * load_hp
        load_zone = (1 + np.cos(2 * math.pi * carrier * times + phase)) / 2
        strength = strength * (floor + (1 - floor) * load_zone)

    position = times * fs
    first = np.floor(position).astype(np.int64)
    frac = position - first
    train = np.bincount(first, strength * (1 - frac), minlength=n + 1)
    train += np.bincount(first + 1, strength * frac, minlength=n + 1)
    return train[:n]


def simulate_recording(
    label: str,
    load_hp: int,
    channels: Sequence[str],
    fs: float,
    seconds: float,
    rng: np.random.Generator,
    snr_db: float,
    chain: RecordingChain = RIG_CHAIN,
) -> np.ndarray:
    """Acceleration in g of the CWRU rig in health state ``label`` at ``load_hp``, shape (len(channels), n).

    Each housing carries shaft harmonics (1x, 2x, 3x), the 60 Hz line and its double, and bearing roughness
    ringing its structural mode. A defect adds impacts at its defect rate with 1-2 % slip: inner race at BPFI,
    modulated at shaft rate as it turns through the load zone; outer race at BPFO with a fixed load zone; ball
    at 2 BSF, modulated at the cage rate. Impacts ring the faulty housing's mode and, weaker and later, the
    other housing's. White noise at ``snr_db`` below each channel's power is added last. Each channel draws
    from its own child generator, so a channel's signal does not depend on which others are asked for. ``chain``
    moves the housing modes and scales the sensors' gain (another mounting, another day).
    """
    chosen = _check_channels(channels)
    fault = _parse_label(label)
    if load_hp not in CWRU_LOADS:
        raise DataError(f"CWRU load {load_hp!r} HP is unknown; the rig has loads {sorted(CWRU_LOADS)}")
    if not (math.isfinite(fs) and fs > 0):
        raise DataError(f"sampling rate must be a positive number of Hz, got {fs}")
    n = int(round(seconds * fs))
    if n < 2:
        raise DataError(f"{seconds} s at {fs} Hz gives {n} sample(s); at least 2 are needed")

    rpm = float(CWRU_LOADS[load_hp])
    shaft = rpm / 60
    channel_seeds = rng.integers(2**63, size=len(RIG_CHANNELS))
    train = None if fault is None else _impact_train(fault, rpm, load_hp, n, fs, rng)
    delay = int(round(TRANSMISSION_DELAY_S * fs))
    t = np.arange(n) / fs

    signal = np.empty((len(chosen), n))
    for row, end in enumerate(chosen):
        rig = RIG_ENDS[end]
        channel_rng = np.random.default_rng(channel_seeds[RIG_CHANNELS.index(end)])
        tones = [(h * shaft, a) for h, a in enumerate(rig.shaft_harmonics, start=1)]
        tones += [(h * LINE_FREQUENCY, a) for h, a in enumerate(rig.line_harmonics, start=1)]
        phases = channel_rng.uniform(0, 2 * math.pi, len(tones))
        clean = np.zeros(n)
        for (freq, amp), phi in zip(tones, phases):
            if freq < fs / 2:
                clean += amp * np.sin(2 * math.pi * freq * t + phi)

        mode = chain.resonance(rig.resonance)
        kernel_energy = float(np.sum(mode.kernel(fs) ** 2))
        excitation = rig.roughness_rms / math.sqrt(kernel_energy) * channel_rng.standard_normal(n)
        if fault is not None and train is not None:
            if end == fault.end:
                excitation += train
            elif delay < n:
                excitation[delay:] += TRANSMISSION_GAIN * train[: n - delay]
        clean += mode.ring(excitation, fs)

        noise_rms = math.sqrt(float(np.mean(clean**2)) / 10 ** (snr_db / 10))
        signal[row] = clean + noise_rms * channel_rng.standard_normal(n)
    return signal if chain.gain == 1.0 else signal * chain.gain


def simulate_cwru_like(options: SimulatorOptions, channels: list[str], loads: list[int]) -> RecordingSet:
    """One simulated recording per CWRU class and load; each is seeded by (seed, class index, load) alone."""
    chosen = _check_channels(channels)
    conditions = [condition_name(load) for load in loads]
    if len(set(loads)) != len(loads):
        raise DataError(f"duplicate loads in {loads}")
    classes = cwru_classes()
    seed = options.seed % 2**64
    recordings = []
    for load, condition in zip(loads, conditions):
        for index, fault_class in enumerate(classes):
            rng = np.random.default_rng([seed, index, load])
            signal = simulate_recording(
                fault_class.name, load, chosen, options.fs, options.seconds, rng, options.snr_db
            )
            recordings.append(
                Recording.from_signal(signal, options.fs, chosen, label=fault_class.name, condition=condition,
                                      source=f"simulated:{fault_class.name}@{condition}", notes=(SIMULATED_NOTE,))
            )
    return RecordingSet(
        name=SIMULATED_NAME,
        classes=classes,
        conditions=conditions,
        recordings=recordings,
        notes=[f"{SIMULATED_NOTE} (seed {options.seed}, SNR {options.snr_db} dB, {options.seconds} s each)"],
    )


def _yaml_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_recordings(recset: RecordingSet, out_dir: str | Path) -> Path:
    """Write each recording as ``{label}_{condition}.npz`` and a ``dataset.yaml`` spec; return the spec's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    written: set[str] = set()
    for rec in recset.recordings:
        file_name = f"{rec.label}_{rec.condition}.npz"
        if file_name in written:
            raise DataError(f"{rec.source}: a second recording of {rec.label} at {rec.condition} would reuse {file_name}")
        written.add(file_name)
        arrays = {channel: rec.signal[row] for row, channel in enumerate(rec.channels)}
        if "fs" in arrays:
            raise DataError(f"{rec.source}: a channel named 'fs' clashes with the sampling-rate key")
        arrays["fs"] = np.asarray(rec.fs, dtype=np.float64)
        with atomic_file(out / file_name) as handle:
            np.savez(handle, **arrays)
        entries.append(
            f"  - {{files: {json.dumps(file_name)}, label: {json.dumps(rec.label)}, "
            f"condition: {json.dumps(rec.condition)}, channels: {json.dumps(list(rec.channels))}, "
            f"fs: {_yaml_number(rec.fs)}}}"
        )

    lines = [f"name: {json.dumps(recset.name)}", "classes:"]
    lines += [f"  - {{name: {json.dumps(c.name)}, prompt: {json.dumps(c.prompt)}}}" for c in recset.classes]
    if not recset.classes:
        lines[-1] = "classes: []"
    lines += ["recordings:", *entries] if entries else ["recordings: []"]
    spec = out / SPEC_FILE
    atomic_write_text(spec, "\n".join(lines) + "\n")
    return spec
