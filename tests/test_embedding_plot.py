"""t-SNE before/after plots and the cluster separability score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from figures import drawn, record_figures
from matplotlib import colormaps
from sklearn.metrics import silhouette_score

from syndiag.errors import DataError
from syndiag.evaluation.embedding_plot import separability, write_tsne_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def clusters(
    rng: np.random.Generator, n_classes: int, per_class: int, dims: int, spread: float
) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(n_classes, dims)) * 10.0
    labels = np.repeat(np.arange(n_classes), per_class)
    return centres[labels] + rng.normal(scale=spread, size=(labels.size, dims)), labels


def test_tsne_png_for_40_points_of_4_classes(tmp_path: Path, monkeypatch):
    saved = record_figures(monkeypatch)
    rng = np.random.default_rng(0)
    after, labels = clusters(rng, 4, 10, 16, 0.5)
    before = rng.normal(size=(40, 32))
    is_test = np.arange(40) % 2 == 1
    path = tmp_path / "tsne.png"
    written = write_tsne_png(before, after, labels, is_test, ["normal", "IR", "B", "OR"], path, "toy")
    assert written == path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["tsne.png"]
    figure = drawn(saved, "tsne.png")
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["normal", "IR", "B", "OR", "train", "test"]
    panels = figure.axes
    for ax, features in zip(panels, (before, after)):
        assert ax.get_title().endswith(f"silhouette (cosine) {separability(features, labels):.3f}")
        assert [len(c.get_offsets()) for c in ax.collections] == [5] * 8  # per class: its train points, then its test points
        for k, (train, test) in enumerate(zip(ax.collections[::2], ax.collections[1::2])):
            assert np.allclose(train.get_facecolor()[0, :3], colormaps["tab20"](k)[:3])
            assert np.allclose(test.get_edgecolor()[0, :3], colormaps["tab20"](k)[:3])  # crosses: coloured edges
    drawn_labels = np.repeat(np.arange(8) // 2, 5)
    before_map, after_map = (np.concatenate([c.get_offsets() for c in ax.collections]) for ax in panels)
    assert silhouette_score(after_map, drawn_labels) > 0.5 > silhouette_score(before_map, drawn_labels)  # the clusters drawn apart


def test_tsne_rejects_mismatched_or_too_few_points(tmp_path: Path):
    rng = np.random.default_rng(1)
    path = tmp_path / "x.png"
    with pytest.raises(DataError, match="number of points"):
        write_tsne_png(rng.normal(size=(10, 4)), rng.normal(size=(9, 4)), np.zeros(10, int), np.zeros(10, bool), ["a"], path, "t")
    with pytest.raises(DataError, match="at least 4"):
        write_tsne_png(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), np.zeros(3, int), np.zeros(3, bool), ["a"], path, "t")
    with pytest.raises(DataError, match="class index"):
        write_tsne_png(rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), np.full(5, 2), np.zeros(5, bool), ["a", "b"], path, "t")
    assert list(tmp_path.iterdir()) == []


def test_separability_higher_for_separated_clusters():
    rng = np.random.default_rng(2)
    features, labels = clusters(rng, 4, 20, 8, 0.3)
    shuffled = rng.permutation(labels)
    assert separability(features, labels) > 0.5
    assert separability(features, labels) > separability(features, shuffled) + 0.3


def test_separability_needs_two_classes():
    with pytest.raises(DataError):
        separability(np.ones((5, 3)), np.zeros(5, int))
