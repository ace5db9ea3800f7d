"""A long recording's diagnosis in brief: the class over time as segments, the majority class, per-window rows on request.

A segment is a run of consecutive windows with the same most probable class. Segments tile the recording: one
runs from the start of its first window to the start of the next segment's first window (the last one to the end
of its last window). Its confidence is the mean (and the lowest) probability of its class over its windows.
Per-window rows go to a ``.csv`` or ``.jsonl`` file, written atomically.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_file
from syndiag.errors import ConfigError

WINDOW_TABLE_SUFFIXES = (".csv", ".jsonl")
WINDOW_FIELDS = ("window", "start_s", "end_s", "class", "probability")


@dataclass(frozen=True, slots=True)
class Segment:
    """Windows ``first_window`` .. ``last_window``, all most probably ``label``; times in seconds (None for a window file)."""

    first_window: int
    last_window: int
    label: str
    mean_confidence: float
    min_confidence: float
    start_s: float | None
    end_s: float | None

    @property
    def windows(self) -> int:
        return self.last_window - self.first_window + 1

    def to_dict(self) -> dict:
        return {
            "start_s": _seconds(self.start_s),
            "end_s": _seconds(self.end_s),
            "class": self.label,
            "mean_confidence": round(self.mean_confidence, 4),
            "min_confidence": round(self.min_confidence, 4),
            "windows": self.windows,
            "first_window": self.first_window,
            "last_window": self.last_window,
        }


def segments_of(classes: np.ndarray, confidence: np.ndarray, class_names: list[str], starts: np.ndarray | None,
                window_seconds: float | None) -> list[Segment]:
    """Runs of equal ``classes`` (per-window class indices) as :class:`Segment` s; ``starts``: window starts in seconds."""
    n = len(classes)
    if n == 0:
        return []
    bounds = np.concatenate([[0], np.flatnonzero(classes[1:] != classes[:-1]) + 1, [n]])
    firsts = bounds[:-1]
    sums = np.add.reduceat(confidence.astype(np.float64), firsts)
    lows = np.minimum.reduceat(confidence, firsts)
    segments = []
    for i, (first, stop) in enumerate(zip(firsts.tolist(), bounds[1:].tolist())):
        start_s = end_s = None
        if starts is not None and window_seconds is not None:
            start_s = float(starts[first])
            end_s = float(starts[stop]) if stop < n else float(starts[n - 1]) + window_seconds
        segments.append(Segment(first, stop - 1, class_names[int(classes[first])], float(sums[i] / (stop - first)),
                                float(lows[i]), start_s, end_s))
    return segments


def majority_of(classes: np.ndarray, class_names: list[str]) -> tuple[str, int, float]:
    """The class most windows predict, how many do, and their share."""
    counts = np.bincount(classes, minlength=len(class_names))
    best = int(counts.argmax())
    return class_names[best], int(counts[best]), float(counts[best] / max(1, len(classes)))


def window_rows(classes: np.ndarray, confidence: np.ndarray, class_names: list[str], starts: np.ndarray | None,
                window_seconds: float | None) -> Iterator[dict]:
    """One row per window: index, start and end in seconds (None for a window file), class, its probability."""
    timed = starts is not None and window_seconds is not None
    for i, (c, p) in enumerate(zip(classes.tolist(), confidence.tolist())):
        start = float(starts[i]) if timed else None
        yield {"window": i, "start_s": _seconds(start), "end_s": _seconds(None if start is None else start + window_seconds),
               "class": class_names[c], "probability": round(p, 4)}


def check_window_table(path: str | Path) -> Path:
    """``path`` if it names a ``.csv`` or ``.jsonl`` file, else a :class:`ConfigError`."""
    path = Path(path)
    if path.suffix.lower() not in WINDOW_TABLE_SUFFIXES:
        raise ConfigError(f"{path}: per-window output must be a {' or '.join(WINDOW_TABLE_SUFFIXES)} file")
    return path


def write_window_table(path: str | Path, rows: Iterator[dict]) -> Path:
    """Write per-window rows to ``path`` (.csv with a header row, or .jsonl), atomically."""
    path = check_window_table(path)
    if path.suffix.lower() == ".csv":
        with atomic_file(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=WINDOW_FIELDS)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    else:
        with atomic_file(path, "w") as handle:
            for row in rows:
                handle.write(json.dumps(row, allow_nan=False) + "\n")
    return path


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
