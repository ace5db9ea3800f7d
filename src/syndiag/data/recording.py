"""Recordings (paper §4.1; LLaVA-for-Sensors): 1-D channels, each with its spec (name, kind, rate) and start on one clock.

A single-channel vibration recording at one rate is the simplest :class:`Recording`; a multi-rate one holds, say, vibration at
kHz, temperature at 10 Hz and a constant speed at 1 Hz. When every channel shares its rate, length and start, the uniform view
``signal`` (channels, samples) and ``fs`` is what windows and spectrograms read. A :class:`RecordingSet` holds one dataset.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from syndiag.config.sensor import CHANNEL_KINDS
from syndiag.data.sensor_images import check_images
from syndiag.errors import DataError

SPEED_FS = 1.0
"""Rate of a speed channel that is constant per file: one sample per second (sample-and-hold between them)."""
RATE_TOLERANCE = 0.01
"""Relative tolerance (plus one sample) between a channel's sample count and its rate times the declared duration."""


@dataclass(frozen=True)
class FaultClass:
    """One health state: a short name and the text prompt that describes it to the language model."""

    name: str
    prompt: str


@dataclass(frozen=True)
class Channel:
    """A channel spec: name, kind, rate in Hz; ``length`` = samples per window (only windowing needs it).

    Stands in for ``syndiag.config.sensor.ChannelSpec``; every function here takes any object with these attributes.
    """

    name: str
    kind: str
    fs: float
    length: int = 1


@dataclass(eq=False)
class Recording:
    """Channels on one clock: ``channels[name]`` its samples (1-D, float64), ``specs[name]`` its name, kind and rate,
    ``start_s[name]`` the time of its first sample (default 0 s for every channel).

    ``duration_s``, when declared, is checked against every channel: its sample count must be ``duration × fs`` within
    1 % and one sample, so a channel whose true rate differs from its spec is refused. ``severity``: the fault's size
    (e.g. a defect diameter); ``extra``: per-recording numbers (FEMTO ``time_s``, ``rul_s``, ``life_fraction``); ``group``:
    the unit it comes from (a CWRU file number, a FEMTO bearing), for splits by unit; ``images``: ``(time_s, image)`` frames
    on the same clock (:mod:`syndiag.data.sensor_images`).
    """

    channels: dict[str, np.ndarray]
    specs: dict[str, Any]
    label: str
    condition: str
    source: str
    start_s: dict[str, float] = field(default_factory=dict)
    severity: float | None = None
    images: list[tuple[float, Any]] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    duration_s: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    group: str = ""

    def __post_init__(self) -> None:
        names = list(self.channels)
        if not names:
            raise DataError(f"{self.source}: a recording needs at least one channel")
        self.start_s = self.start_s or dict.fromkeys(names, 0.0)
        if set(self.specs) != set(names) or set(self.start_s) != set(names):
            raise DataError(
                f"{self.source}: channels {sorted(names)}, specs {sorted(self.specs)} and start times "
                f"{sorted(self.start_s)} must name the same channels"
            )
        for name in names:
            check_channel(np.asarray(self.channels[name]), self.specs[name], name, self.source)
            self.channels[name] = np.asarray(self.channels[name], dtype=np.float64)
            if not math.isfinite(self.start_s[name]):
                raise DataError(f"{self.source}: channel {name!r}: start time {self.start_s[name]} is not finite")
        self.notes = tuple(self.notes)
        check_images(self.images, self.source)
        if self.severity is not None and not math.isfinite(self.severity):
            raise DataError(f"{self.source}: severity {self.severity} is not finite")
        if self.duration_s is not None:
            if not (math.isfinite(self.duration_s) and self.duration_s > 0):
                raise DataError(f"{self.source}: declared duration {self.duration_s} s is not a positive number")
            for name in names:
                check_count(self.channels[name].size, self.specs[name].fs, self.duration_s, name, self.source)

    @classmethod
    def from_signal(cls, signal: np.ndarray, fs: float, names: tuple[str, ...] | list[str], *, label: str, condition: str,
                    source: str, kind: str = "vibration", **fields: Any) -> Recording:
        """The rows of ``signal`` (channels, samples) as channels ``names`` of one ``kind``, all at ``fs`` from 0 s."""
        x = np.asarray(signal)
        if x.ndim != 2:
            raise DataError(f"{source}: signal must have shape (channels, samples), got {x.shape}")
        if x.shape[0] != len(names):
            raise DataError(f"{source}: {x.shape[0]} signal rows but {len(names)} channel names {tuple(names)}")
        check_signal(x, source)
        if not isinstance(fs, (int, float)) or not math.isfinite(fs) or fs <= 0:
            raise DataError(f"{source}: sampling rate must be a positive number of Hz, got {fs}")
        x = np.asarray(x, dtype=np.float64)
        recording = cls(channels={name: x[i] for i, name in enumerate(names)},
                        specs={name: Channel(name, kind, fs) for name in names},
                        label=label, condition=condition, source=source, **fields)
        recording.__dict__["signal"] = x  # the uniform view is the array the rows came from: no copy
        return recording

    def with_channels(self, added: dict[str, tuple[np.ndarray, Any, float]], **fields: Any) -> Recording:
        """This recording with more channels (name -> (samples, spec, start time)) and other fields (``specs`` too) replaced."""
        channels, specs, start_s = dict(self.channels), dict(self.specs), dict(self.start_s)
        for name, (samples, spec, start) in added.items():
            channels[name], specs[name], start_s[name] = samples, spec, start
        return dataclasses.replace(self, **{"channels": channels, "specs": specs, "start_s": start_s, **fields})

    def with_speed(self, rpm: float, **fields: Any) -> Recording:
        """This uniform recording with a constant ``speed`` channel (rpm, :data:`SPEED_FS`) over its duration, declared."""
        duration = self.n_samples / self.fs
        speed = np.full(math.floor(duration * SPEED_FS) + 1, rpm)
        return self.with_channels({"speed": (speed, Channel("speed", "speed", SPEED_FS), 0.0)}, duration_s=duration, **fields)

    def _uniform(self) -> tuple[float, int]:
        """The rate and sample count every channel shares (with one start), else a DataError naming the channels."""
        rates = {float(s.fs) for s in self.specs.values()}
        counts = {x.size for x in self.channels.values()}
        if len(rates) > 1 or len(counts) > 1 or len(set(self.start_s.values())) > 1:
            described = ", ".join(f"{n} ({s.fs:g} Hz, {self.channels[n].size} samples from {self.start_s[n]:g} s)" for n, s in self.specs.items())
            raise DataError(f"{self.source}: channels {described} differ in rate, length or start: no one (channels, samples) signal")
        return next(iter(self.specs.values())).fs, counts.pop()

    @cached_property
    def signal(self) -> np.ndarray:
        """The channels stacked (channels, samples): only when they share one rate, length and start."""
        self._uniform()
        return np.stack(list(self.channels.values()))

    @property
    def fs(self) -> float:
        """The rate every channel shares."""
        return self._uniform()[0]

    @property
    def n_samples(self) -> int:
        """The sample count every channel shares."""
        return int(self._uniform()[1])

    @property
    def seconds(self) -> float:
        return self.n_samples / self.fs

    def n_samples_of(self, name: str) -> int:
        return int(self.channels[name].size)

    def end_s(self, name: str) -> float:
        """Time just after the channel's last sample (its first sample time + n / fs)."""
        return self.start_s[name] + self.channels[name].size / float(self.specs[name].fs)


def check_signal(x: np.ndarray, source: str) -> None:
    """Raise :class:`DataError` if ``x`` is empty, not numeric, or holds NaN/Inf."""
    if x.size == 0:
        raise DataError(f"{source}: the signal is empty")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{source}: the signal is not numeric (dtype {x.dtype})")
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argwhere(bad)[0][-1])
        raise DataError(
            f"{source}: the signal holds {int(bad.sum())} NaN/Inf value(s), the first at sample {first}; "
            "clean or trim the recording before use"
        )


def check_channel(x: np.ndarray, spec: Any, name: str, source: str) -> None:
    """A 1-D, finite, non-empty channel whose spec has the same name, a known kind and a positive rate."""
    where = f"{source}: channel {name!r}"
    if getattr(spec, "name", None) != name:
        raise DataError(f"{where}: its spec is named {getattr(spec, 'name', None)!r}")
    if getattr(spec, "kind", None) not in CHANNEL_KINDS:
        raise DataError(f"{where}: kind {getattr(spec, 'kind', None)!r} is not one of {', '.join(CHANNEL_KINDS)}")
    fs = getattr(spec, "fs", None)
    if not isinstance(fs, (int, float)) or not math.isfinite(fs) or fs <= 0:
        raise DataError(f"{where}: sampling rate must be a positive number of Hz, got {fs!r}")
    if x.ndim != 1:
        raise DataError(f"{where}: samples must be 1-D, got shape {x.shape}")
    check_signal(x, where)


def check_count(n: int, fs: float, duration_s: float, name: str, source: str) -> None:
    """Refuse a channel whose ``n`` samples at ``fs`` do not span ``duration_s`` (within 1 % and one sample)."""
    expected = duration_s * fs
    if abs(n - expected) > 1.0 + RATE_TOLERANCE * expected:
        raise DataError(
            f"{source}: channel {name!r}: {n} samples at the declared {fs:g} Hz span {n / fs:.4g} s, but the recording "
            f"lasts {duration_s:.4g} s (about {n / duration_s:.4g} Hz): the channel's sampling rate disagrees with its spec"
        )


def check_rate(times_s: np.ndarray, fs: float, name: str, source: str, tolerance: float = 0.02) -> None:
    """Refuse a channel whose sample time stamps give a rate other than ``fs`` (relative ``tolerance``)."""
    if times_s.size < 2:
        return
    span = float(times_s[-1] - times_s[0])
    measured = (times_s.size - 1) / span if span > 0 else math.inf
    if not abs(measured - fs) <= tolerance * fs:
        raise DataError(
            f"{source}: channel {name!r}: {times_s.size} samples time-stamped over {span:.6g} s, i.e. {measured:.6g} Hz, "
            f"but the channel is declared at {fs:g} Hz"
        )


def check_labels(name: str, class_names: list[str], conditions: list[str], recordings) -> None:
    """Unique class names, and every recording's label and condition among them; a DataError names the recording."""
    if len(set(class_names)) != len(class_names):
        raise DataError(f"{name}: duplicate class names in {class_names}")
    for rec in recordings:
        if rec.label not in class_names:
            raise DataError(f"{rec.source}: unknown class {rec.label!r}; known classes: {', '.join(class_names)}")
        if rec.condition not in conditions:
            raise DataError(f"{rec.source}: unknown condition {rec.condition!r}; known: {', '.join(conditions)}")


@dataclass
class RecordingSet:
    """The recordings of one dataset: ordered classes and conditions, and notes on what was missing."""

    name: str
    classes: list[FaultClass]
    conditions: list[str]
    recordings: list[Recording]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_labels(self.name, self.class_names, self.conditions, self.recordings)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def channel_names(self) -> list[str]:
        """Every channel name some recording has, in first-seen order."""
        seen: dict[str, None] = {}
        for rec in self.recordings:
            seen.update(dict.fromkeys(rec.channels))
        return list(seen)

    def cell(self, condition: str, label: str) -> list[Recording]:
        return [r for r in self.recordings if r.condition == condition and r.label == label]
