"""A PNG gallery of spectrograms, one per class, for checking what the model will see."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_file
from syndiag.data.prepare import PreparedDataset
from syndiag.data.windowing import TEST
from syndiag.errors import DataError


def write_gallery(dataset: PreparedDataset, path: Path, condition: str | None = None, columns: int = 5) -> Path:
    """Plot the first test window of each class at ``condition``; written atomically to ``path``."""
    import matplotlib  # defers matplotlib: drawn only when a gallery is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # defers matplotlib, imported once the Agg backend is set

    condition = condition or dataset.condition_names[0]
    if condition not in dataset.condition_names:
        raise DataError(f"unknown condition {condition!r}; known: {', '.join(dataset.condition_names)}")
    cond = dataset.condition_names.index(condition)
    picks = []
    for k in range(len(dataset.class_names)):
        found = np.flatnonzero((dataset.labels == k) & (dataset.conditions == cond) & (dataset.split == TEST))
        picks.append(int(found[0]) if found.size else None)
    rows = -(-len(picks) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.8 * columns, 3.2 * rows), squeeze=False)
    freqs = dataset.meta["frequencies_hz"]
    seconds = dataset.windows.shape[-1] / dataset.fs
    for ax, name, prompt, pick in zip(axes.flat, dataset.class_names, dataset.prompts, picks):
        if pick is None:
            ax.set_title(f"{name}\n(no test window)", fontsize=8)
        else:
            ax.imshow(dataset.rgb([pick])[0], aspect="auto", extent=(0, seconds * 1e3, freqs[-1], freqs[0]))
            ax.set_title(f"{name}\n" + textwrap.fill(prompt, 34), fontsize=7)
        ax.set_xlabel("ms", fontsize=7)
        ax.set_ylabel("Hz", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(picks):]:
        ax.axis("off")
    fig.suptitle(f"{dataset.meta['dataset']} - {condition} - CWT ({dataset.meta['config']['spectrogram']['wavelet']})", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_file(path) as handle:
            fig.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path
