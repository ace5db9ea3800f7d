"""Sliding windows drawn from disjoint train-pool and test sample ranges of each recording (paper §4.1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.config.data import WindowConfig
from syndiag.data.recording import Recording
from syndiag.errors import DataError

POOL, TEST = 0, 1


@dataclass(frozen=True)
class WindowPlan:
    """Start samples of the windows taken from one recording, with the split each belongs to."""

    starts: np.ndarray
    split: np.ndarray
    boundary: int
    notes: tuple[str, ...] = ()


def split_boundary(n_samples: int, test_fraction: float) -> int:
    """First sample of the test range: samples before it feed the train pool, samples from it the test set."""
    return int(np.floor(n_samples * (1.0 - test_fraction)))


def uniform_starts(first: int, stop: int, length: int, step: int, count: int, where: str) -> tuple[np.ndarray, str | None]:
    """``count`` window starts spread uniformly over the windows at ``step`` that fit inside [first, stop).

    When fewer than ``count`` windows fit at ``step``, the windows are spread evenly at a smaller step
    (more overlap, still inside the range) and a note says so.
    """
    if stop - first < length:
        raise DataError(
            f"{where}: window length {length} is longer than the {stop - first} samples available "
            f"(samples {first}:{stop}); use shorter windows or a longer recording"
        )
    candidates = np.arange(first, stop - length + 1, step)
    if candidates.size >= count:
        return candidates[np.round(np.linspace(0, candidates.size - 1, count)).astype(int)], None
    starts = np.unique(np.round(np.linspace(first, stop - length, count)).astype(int))
    if starts.size < count:
        raise DataError(
            f"{where}: only {starts.size} distinct windows of {length} samples fit in samples {first}:{stop}, "
            f"{count} requested; lower window.per_class"
        )
    effective = (stop - length - first) / max(count - 1, 1)
    note = f"{where}: {candidates.size} windows fit at step {step}, {count} needed; step lowered to ~{effective:.0f}"
    return starts, note


def plan_windows(recording: Recording, config: WindowConfig, n_pool: int, n_test: int) -> WindowPlan:
    """Windows of one recording: ``n_pool`` from its first part, ``n_test`` from the rest, no sample shared."""
    boundary = split_boundary(recording.n_samples, config.test_fraction)
    where = f"{recording.source} ({recording.label}, {recording.condition})"
    parts, splits, notes = [], [], []
    for split, (first, stop, count) in ((POOL, (0, boundary, n_pool)), (TEST, (boundary, recording.n_samples, n_test))):
        if count == 0:
            continue
        starts, note = uniform_starts(first, stop, config.length, config.step, count, f"{where} {'pool' if split == POOL else 'test'}")
        parts.append(starts)
        splits.append(np.full(starts.size, split, dtype=np.int8))
        if note:
            notes.append(note)
    return WindowPlan(np.concatenate(parts), np.concatenate(splits), boundary, tuple(notes))


def share_counts(lengths: list[int], total: int) -> list[int]:
    """Split ``total`` windows over recordings in proportion to their lengths (largest remainder)."""
    weights = np.asarray(lengths, dtype=np.float64)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts))[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def cut_windows(recording: Recording, starts: np.ndarray, length: int) -> np.ndarray:
    """Windows (n, channels, length), float32, starting at ``starts``."""
    index = starts[:, None] + np.arange(length)[None, :]
    return recording.signal[:, index].transpose(1, 0, 2).astype(np.float32)
