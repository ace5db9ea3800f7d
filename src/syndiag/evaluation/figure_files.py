"""Figures written to PNG files (Agg backend, no pyplot), moved into place atomically: the one step every figure of the
project shares, in a module light enough for `rul predict` (it imports neither scikit-learn nor the metrics)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from syndiag.atomic import atomic_file


def save_figure_png(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Render a figure to PNG with the Agg backend and move it into place atomically."""
    FigureCanvasAgg(figure)
    with atomic_file(path) as handle:
        figure.savefig(handle, format="png", dpi=dpi)
    return Path(path)
