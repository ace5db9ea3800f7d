"""Sliding windows drawn from disjoint train-pool and test sample ranges of each recording (paper §4.1).

:func:`plan_set` plans the windows of a whole :class:`~syndiag.data.recording.RecordingSet`: per condition and class, the
pool and test windows shared over the recordings by length, pool windows before each recording's boundary, test windows
after it. Its sample ranges are those of one channel (the clock; by default the uniform signal); :func:`cut_windows`
cuts them from the uniform signal, :func:`take_ending` takes each channel's samples ending at a window's end instant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.config.data import WindowConfig
from syndiag.data.recording import Recording, RecordingSet
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


def plan_windows(recording: Recording, config: WindowConfig, n_pool: int, n_test: int, clock: str | None = None) -> WindowPlan:
    """Windows of one recording: ``n_pool`` from its first part, ``n_test`` from the rest, no sample shared.

    The samples are those of channel ``clock``, or of the uniform signal when ``clock`` is None."""
    n_samples = recording.n_samples if clock is None else recording.n_samples_of(clock)
    boundary = split_boundary(n_samples, config.test_fraction)
    where = f"{recording.source} ({recording.label}, {recording.condition})"
    parts, splits, notes = [], [], []
    for split, (first, stop, count) in ((POOL, (0, boundary, n_pool)), (TEST, (boundary, n_samples, n_test))):
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


def plan_set(recordings: RecordingSet, config: WindowConfig, clock: str | None = None) -> tuple[list[tuple[Recording, WindowPlan]], list[str]]:
    """Every recording's plan, by condition then class (see the module docstring), and notes on empty cells and lowered steps.

    A recording whose share is no window is left out; one without the ``clock`` channel is refused."""
    plans, notes = [], []
    for cond in recordings.conditions:
        for name in recordings.class_names:
            cell = recordings.cell(cond, name)
            if not cell:
                notes.append(f"no recording of {name} at {cond}")
                continue
            if clock is not None:
                lacking = [r.source for r in cell if clock not in r.channels]
                if lacking:
                    raise DataError(f"{lacking[0]}: no channel {clock!r}, the clock of the windows ({len(lacking)} such recording(s))")
            lengths = [r.n_samples if clock is None else r.n_samples_of(clock) for r in cell]
            for rec, n_pool, n_test in zip(cell, share_counts(lengths, config.n_pool), share_counts(lengths, config.n_test)):
                if n_pool + n_test == 0:
                    continue
                plan = plan_windows(rec, config, n_pool, n_test, clock)
                plans.append((rec, plan))
                notes.extend(plan.notes)
    return plans, notes


def cut_windows(recording: Recording, starts: np.ndarray, length: int) -> np.ndarray:
    """Windows (n, channels, length), float32, starting at ``starts``."""
    index = starts[:, None] + np.arange(length)[None, :]
    return recording.signal[:, index].transpose(1, 0, 2).astype(np.float32)


def end_index(ends: np.ndarray, start_s: float, fs: float) -> np.ndarray:
    """Per end instant, the index just past the last sample before it of a channel starting at ``start_s`` at rate ``fs``."""
    return np.ceil((np.asarray(ends) - start_s) * fs - 1e-6).astype(np.int64)


def take_ending(x: np.ndarray, fs: float, start_s: float, ends: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each end instant, the ``length`` samples of ``x`` (first sample at ``start_s``, rate ``fs``) before it.

    Returns values (m, length) float32, present (m,) (some sample in the span) and padded (m,) (only part of it).
    """
    j = end_index(ends, start_s, fs)
    lo = j - length
    first, stop = np.maximum(lo, 0), np.minimum(j, x.size)
    present = stop > first
    index = lo[:, None] + np.arange(length)[None, :]
    index = np.minimum(np.maximum(index, first[:, None]), (stop - 1)[:, None])
    index = np.clip(index, 0, x.size - 1)
    values = np.where(present[:, None], x[index], 0.0).astype(np.float32)
    return values, present, present & ((first > lo) | (stop < j))
