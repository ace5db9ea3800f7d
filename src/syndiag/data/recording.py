"""A vibration recording with its label, operating condition and fault description."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from syndiag.errors import DataError


@dataclass(frozen=True)
class FaultClass:
    """One health state: a short name and the text prompt that describes it to the language model."""

    name: str
    prompt: str


@dataclass(frozen=True)
class Recording:
    """A multi-channel signal, shape (channels, samples), at sampling rate ``fs`` in Hz."""

    signal: np.ndarray
    fs: float
    label: str
    condition: str
    channels: tuple[str, ...]
    source: str
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        x = self.signal
        if x.ndim != 2:
            raise DataError(f"{self.source}: signal must have shape (channels, samples), got {x.shape}")
        if x.shape[0] != len(self.channels):
            raise DataError(
                f"{self.source}: {x.shape[0]} signal rows but {len(self.channels)} channel names {self.channels}"
            )
        check_signal(x, self.source)
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise DataError(f"{self.source}: sampling rate must be a positive number of Hz, got {self.fs}")

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def seconds(self) -> float:
        return self.n_samples / self.fs


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
        check_labels(self.name, [c.name for c in self.classes], self.conditions, self.recordings)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def cell(self, condition: str, label: str) -> list[Recording]:
        return [r for r in self.recordings if r.condition == condition and r.label == label]
