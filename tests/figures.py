"""The figures the code saves, caught as they are written, so tests check what was drawn rather than a PNG's size."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

STAGING = re.compile(r"^\.(?P<name>.+)\.tmp-\d+-[0-9a-f]{8}$")
IN_MEMORY = "<memory>"


def _descriptor_path(descriptor: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}")
    except OSError:  # no /proc: macOS
        import fcntl

        return fcntl.fcntl(descriptor, fcntl.F_GETPATH, bytes(1024)).rstrip(b"\0").decode()


def _file_name(target) -> str:
    name = getattr(target, "name", target)
    if isinstance(name, int):  # a handle os.fdopen made, as atomic_file's are
        name = _descriptor_path(name)
    if not isinstance(name, (str, Path)):
        return IN_MEMORY
    name = Path(name).name
    staged = STAGING.match(name)
    return staged["name"] if staged else name


def record_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Figure]]:
    """From now on, every saved Figure under the name of the file it went to (an atomic write's target, not its staging)."""
    saved: dict[str, list[Figure]] = {}
    original = Figure.savefig

    def savefig(figure: Figure, target, *args, **kwargs):
        saved.setdefault(_file_name(target), []).append(figure)
        return original(figure, target, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def drawn(saved: dict[str, list[Figure]], name: str) -> Figure:
    """The figure last saved to the file ``name`` (what the file holds now)."""
    assert name in saved, f"no figure was saved to {name}; saved: {sorted(saved)}"
    return saved[name][-1]


def rendered(saved: dict[str, list[Figure]], title: str) -> Figure:
    """The figure last rendered to memory (a report's embedded PNG) whose first axes' title or y label starts with ``title``."""
    found = [f for f in saved.get(IN_MEMORY, []) if any(t.startswith(title) for t in (f.axes[0].get_title(), f.axes[0].get_ylabel()))]
    assert found, f"no figure titled {title!r} was rendered to memory"
    return found[-1]


def labelled_lines(ax: Axes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The labelled lines of an axes: label -> (x, y)."""
    return {line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
            for line in ax.get_lines() if not line.get_label().startswith("_")}


def _reference(line) -> tuple[str, float] | None:
    """("x", where) for an axvline, ("y", where) for an axhline, None for a data line."""
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    if x.size == 2 and x[0] == x[1] and tuple(y) == (0.0, 1.0):
        return "x", float(x[0])
    if y.size == 2 and y[0] == y[1] and tuple(x) == (0.0, 1.0):
        return "y", float(y[0])
    return None


def reference_lines(ax: Axes) -> dict[str, float]:
    """The labelled horizontal or vertical reference lines (axhline / axvline) of an axes: label -> their constant value."""
    return {line.get_label(): found[1] for line in ax.get_lines() if (found := _reference(line))}


def vertical_lines(ax: Axes) -> list[float]:
    """Where the vertical reference lines (axvline) of an axes stand, labelled or not."""
    return [found[1] for line in ax.get_lines() if (found := _reference(line)) and found[0] == "x"]


def image_data(ax: Axes, index: int = 0) -> np.ndarray:
    """The array of an axes' image (masked cells as NaN)."""
    return np.ma.filled(np.ma.asarray(ax.get_images()[index].get_array(), dtype=float), np.nan)


def errorbar_series(ax: Axes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The errorbar series of an axes: label -> (x, y) of its data line."""
    return {c.get_label(): (np.asarray(c.lines[0].get_xdata(), float), np.asarray(c.lines[0].get_ydata(), float)) for c in ax.containers
            if isinstance(c, ErrorbarContainer)}


def bar_heights(ax: Axes) -> dict[str, float]:
    """The bars of a bar chart: tick label -> height."""
    (bars,) = ax.containers
    return {label.get_text(): bar.get_height() for label, bar in zip(ax.get_xticklabels(), bars)}


def cell_counts(ax: Axes, n: int) -> np.ndarray:
    """The (n, n) counts a heat map writes in its cells (blank cells: 0)."""
    counts = np.zeros((n, n), int)
    for text in ax.texts:
        column, row = text.get_position()
        counts[round(row), round(column)] = int(text.get_text())
    return counts


def confusion_drawn(saved: dict[str, list[Figure]], name: str, n_classes: int) -> tuple[list[int], float]:
    """What the confusion figure saved to ``name`` counts: windows per true class, and the diagonal's share (the accuracy)."""
    counts = cell_counts(drawn(saved, name).axes[0], n_classes)
    return counts.sum(axis=1).tolist(), float(np.trace(counts) / counts.sum())
