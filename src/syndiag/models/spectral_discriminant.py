"""Discriminant spectrum features and the few-shot prototype head on them (issue of the diagnosis model: a metric head
that works with 1-5 examples, on a representation that keeps the full-resolution spectrum).

:class:`SpectralDiscriminant` standardises the spectrum view, keeps its leading principal components and projects
them on the shrinkage linear discriminants of the labelled multi-condition pool (the same pool that alignment
pretraining reads), fitted with noisy copies so that directions that noise wipes out weigh little. Fitted, not
gradient-trained: a handful of matrices, saved beside any model. :class:`PrototypeHead` holds one mean per class of
the support windows' features and answers with minus the squared distance to each (prototypical networks)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from syndiag.errors import DataError
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view

SCALE_FLOOR = 1e-6


@dataclass
class SpectralDiscriminant:
    """features (n, d) -> (n, r): ``((x - mean) / scale - centre) @ projection``."""

    mean: np.ndarray
    scale: np.ndarray
    centre: np.ndarray
    projection: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, components: int, seed: int = 0) -> "SpectralDiscriminant":
        """Standardise, keep ``components`` principal components, project on the shrinkage LDA directions of ``labels``."""
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        classes = np.unique(labels)
        if classes.size < 2:
            raise DataError(f"the discriminant needs windows of at least two classes, got {classes.tolist()}")
        mean = features.mean(axis=0)
        scale = features.std(axis=0) + SCALE_FLOOR
        standard = (features - mean) / scale
        components = int(min(components, standard.shape[1], len(standard) - 1))
        pca = PCA(components, random_state=seed).fit(standard)
        reduced = pca.transform(standard)
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(reduced, labels)
        rank = min(classes.size - 1, components)
        lda_part = lda.scalings_[:, :rank]
        projection = pca.components_.T @ lda_part
        return cls(mean, scale, np.asarray(pca.mean_, dtype=np.float64), projection)

    @classmethod
    def whitened(cls, features: np.ndarray, components: int, seed: int = 0) -> "SpectralDiscriminant":
        """No labels: standardise, keep ``components`` principal components, each scaled to unit variance."""
        features = np.asarray(features, dtype=np.float64)
        mean = features.mean(axis=0)
        scale = features.std(axis=0) + SCALE_FLOOR
        standard = (features - mean) / scale
        pca = PCA(int(min(components, standard.shape[1], len(standard) - 1)), random_state=seed).fit(standard)
        projection = pca.components_.T / np.sqrt(np.maximum(pca.explained_variance_, SCALE_FLOOR))
        return cls(mean, scale, np.asarray(pca.mean_, dtype=np.float64), projection)

    def transform(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.size:
            raise DataError(f"the discriminant reads {self.mean.size} spectrum features per window, got shape {features.shape}")
        return ((features - self.mean) / self.scale - self.centre) @ self.projection

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "centre": self.centre, "projection": self.projection}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str) -> "SpectralDiscriminant":
        try:
            found = cls(*(np.asarray(arrays[name], dtype=np.float64) for name in ("mean", "scale", "centre", "projection")))
        except KeyError as missing:
            raise DataError(f"{source}: the discriminant has no {missing} array") from None
        d = found.mean.size
        if found.scale.shape != (d,) or found.centre.shape != (d,) or found.projection.ndim != 2 or found.projection.shape[0] != d:
            raise DataError(f"{source}: the discriminant's arrays do not fit together "
                            f"(mean {found.mean.shape}, scale {found.scale.shape}, centre {found.centre.shape}, projection {found.projection.shape})")
        if not all(np.all(np.isfinite(a)) for a in found.arrays().values()) or np.any(found.scale <= 0):
            raise DataError(f"{source}: the discriminant holds NaN, infinite or non-positive scale values")
        return found


@dataclass
class PrototypeHead:
    """One prototype per class: the mean feature of its support windows; scores are minus the squared distances."""

    prototypes: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, n_classes: int) -> "PrototypeHead":
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        missing = [c for c in range(n_classes) if not np.any(labels == c)]
        if missing:
            raise DataError(f"no support window for class(es) {missing}; every class needs at least one for its prototype")
        return cls(np.stack([features[labels == c].mean(axis=0) for c in range(n_classes)]))

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(n, classes): minus the squared Euclidean distance of each window's features to each prototype."""
        features = np.asarray(features, dtype=np.float64)
        return -(np.sum(features**2, axis=1)[:, None] + np.sum(self.prototypes**2, axis=1)[None] - 2 * features @ self.prototypes.T)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.scores(features).argmax(axis=1)


@dataclass
class SpectralPath:
    """A fitted spectrum path: where spectra are read, and the discriminant that maps them to features."""

    grid: SpectrumGrid
    discriminant: SpectralDiscriminant
    components: int
    validation: dict[int, float]
    segment_validation: dict[int, float] = field(default_factory=dict)
    """The best validation score of each segment length the grid's resolution was chosen from (empty: not chosen)."""

    def features(self, windows: np.ndarray, fs: float, rpm=None, source: str = "the windows") -> np.ndarray:
        return self.discriminant.transform(spectrum_view(windows, fs, self.grid, rpm, source))
