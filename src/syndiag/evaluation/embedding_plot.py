"""t-SNE maps of visual features before and after image-text alignment (paper §5.1, Fig. 2 and 3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from syndiag.errors import DataError
from syndiag.evaluation.metrics import save_figure_png

MIN_POINTS = 4
CLASS_COLOURS = "tab20"


def _feature_matrix(features: np.ndarray, role: str) -> np.ndarray:
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise DataError(f"{role} must be a (points, dims) matrix with at least 2 dims, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise DataError(f"{role} holds NaN or infinite values")
    return matrix


def _class_labels(labels: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise DataError(f"labels must be a flat sequence of integer class indices, got {array.dtype} {array.shape}")
    bad = np.flatnonzero((array < 0) | (array >= n_classes))
    if bad.size:
        raise DataError(f"labels[{bad[0]}] = {array[bad[0]].item()} is not a class index in 0..{n_classes - 1}")
    return array.astype(np.int64)


def separability(features: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Silhouette score of the class clusters under cosine distance: 1 compact and apart, near 0 mixed."""
    matrix = np.asarray(features, dtype=np.float64)
    classes = np.asarray(labels)
    if matrix.ndim != 2 or classes.ndim != 1 or matrix.shape[0] != classes.shape[0]:
        raise DataError(f"features {matrix.shape} and labels {classes.shape} do not describe the same points")
    n_groups = np.unique(classes).size
    if not 2 <= n_groups <= matrix.shape[0] - 1:
        raise DataError(f"separability needs 2 to {matrix.shape[0] - 1} classes among the points, got {n_groups}")
    return float(silhouette_score(matrix, classes, metric="cosine"))


def tsne_map(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE coordinates (points, 2), PCA-initialised, perplexity min(30, (n - 1) / 3) but at least 2."""
    n_points = features.shape[0]
    perplexity = max(2.0, min(30.0, (n_points - 1) / 3.0))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(features)


def _draw_map(
    ax: Axes, coordinates: np.ndarray, labels: np.ndarray, is_test: np.ndarray, n_classes: int, title: str
) -> None:
    palette = colormaps[CLASS_COLOURS]
    for k in range(n_classes):
        colour = palette(k % palette.N)
        train = (labels == k) & ~is_test
        test = (labels == k) & is_test
        ax.scatter(coordinates[train, 0], coordinates[train, 1], s=14, marker="o", color=colour, alpha=0.85)
        ax.scatter(coordinates[test, 0], coordinates[test, 1], s=22, marker="x", color=colour, linewidths=1.0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _score_note(features: np.ndarray, labels: np.ndarray) -> str:
    try:
        return f"silhouette (cosine) {separability(features, labels):.3f}"
    except DataError:
        return "silhouette n/a"


def write_tsne_png(
    features_before: np.ndarray,
    features_after: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    is_test: Sequence[bool] | np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    title: str,
    seed: int = 0,
) -> Path:
    """Two t-SNE panels, before and after alignment: colour by class, circles for train and crosses for test points."""
    before = _feature_matrix(features_before, "features_before")
    after = _feature_matrix(features_after, "features_after")
    names = [str(name) for name in class_names]
    if not names:
        raise DataError("class_names is empty")
    classes = _class_labels(labels, len(names))
    test_mask = np.asarray(is_test, dtype=bool)
    sizes = {
        "features_before": before.shape[0],
        "features_after": after.shape[0],
        "labels": classes.shape[0],
        "is_test": test_mask.shape[0] if test_mask.ndim == 1 else -1,
    }
    if len(set(sizes.values())) != 1:
        counts = ", ".join(f"{role} {count}" for role, count in sizes.items())
        raise DataError(f"t-SNE inputs disagree on the number of points: {counts}")
    if classes.shape[0] < MIN_POINTS:
        raise DataError(f"t-SNE needs at least {MIN_POINTS} points, got {classes.shape[0]}")

    figure = Figure(figsize=(15, 6.5), layout="constrained")
    panels = figure.subplots(1, 2)
    for ax, features, stage in zip(panels, (before, after), ("before alignment", "after alignment")):
        coordinates = tsne_map(features, seed)
        _draw_map(ax, coordinates, classes, test_mask, len(names), f"{stage}\n{_score_note(features, classes)}")
    palette = colormaps[CLASS_COLOURS]
    handles = [
        Line2D([], [], linestyle="none", marker="o", markersize=6, color=palette(k % palette.N), label=name)
        for k, name in enumerate(names)
    ]
    handles += [
        Line2D([], [], linestyle="none", marker="o", markersize=6, color="0.4", label="train"),
        Line2D([], [], linestyle="none", marker="x", markersize=6, color="0.4", label="test"),
    ]
    figure.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=11)
    return save_figure_png(figure, path)
