"""Open-set scores (issue 17): how unlike every known class a window is, from a classifier's logits or features.

Every score is "higher = more likely unknown":
- ``msp``: 1 - the maximum softmax probability (Hendrycks & Gimpel 2017);
- ``energy``: -T logsumexp(logits / T) (Liu et al. 2020);
- ``mahalanobis``: the smallest squared Mahalanobis distance to a class mean, one covariance shared by the classes and
  shrunk by Ledoit-Wolf (few shots give a singular sample covariance; one shot per class falls back to Euclidean)
  (Lee et al. 2018);
- ``knn``: the distance to the k-th nearest support feature, features L2-normalised (Sun et al. 2022).
A threshold is the (1 - false_alarm) conformal quantile of the scores of held-in validation windows: at most that share
of known windows is flagged, up to the finite-sample correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from syndiag.errors import ConfigError, DataError

SCORES = ("msp", "energy", "mahalanobis", "knn")
LOGIT_SCORES = ("msp", "energy")


def _matrix(values, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] == 0 or not np.isfinite(values).all():
        raise DataError(f"{what} must be a finite (n, d) array with n >= 1, got shape {values.shape}")
    return values


def msp_score(logits) -> np.ndarray:
    z = _matrix(logits, "logits")
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return 1.0 - p.max(axis=1)


def energy_score(logits, temperature: float = 1.0) -> np.ndarray:
    z = _matrix(logits, "logits") / temperature
    top = z.max(axis=1)
    return -temperature * (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))


@dataclass
class Mahalanobis:
    """Class means and a shared Ledoit-Wolf covariance of the support features."""

    means: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    precision: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def fit(self, features, labels) -> "Mahalanobis":
        x, y = _matrix(features, "features"), np.asarray(labels)
        classes = np.unique(y)
        if y.shape != (x.shape[0],) or classes.size == 0:
            raise DataError(f"labels must be one per feature row, got {y.shape} for {x.shape[0]} rows")
        self.means = np.stack([x[y == c].mean(axis=0) for c in classes])
        centred = x - self.means[np.searchsorted(classes, y)]
        covariance = LedoitWolf(assume_centered=True).fit(centred).covariance_
        scale = float(np.trace(covariance)) / covariance.shape[0]
        if not scale > 0:  # one window per class: nothing to estimate a spread from, so Euclidean distance
            covariance, scale = np.eye(covariance.shape[0]), 1.0
        self.precision = np.linalg.inv(covariance + 1e-6 * scale * np.eye(covariance.shape[0]))
        return self

    def distances(self, features) -> np.ndarray:
        """Squared Mahalanobis distance of each feature row to each class mean: (n, classes)."""
        x = _matrix(features, "features")
        if x.shape[1] != self.means.shape[1]:
            raise DataError(f"features of dimension {x.shape[1]}, the scorer was fitted on {self.means.shape[1]}")
        whiten = np.linalg.cholesky(self.precision)  # precision = L L^T, so d^2 = |(x - mean) L|^2
        z, m = x @ whiten, self.means @ whiten
        return np.maximum((z**2).sum(1)[:, None] - 2 * z @ m.T + (m**2).sum(1)[None, :], 0.0)

    def score(self, features) -> np.ndarray:
        return self.distances(features).min(axis=1)

    def state(self) -> dict[str, np.ndarray]:
        return {"means": self.means, "precision": self.precision}


@dataclass
class KnnDistance:
    """Distance of each L2-normalised feature to its k-th nearest L2-normalised support feature."""

    k: int = 1
    support: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def fit(self, features, labels=None) -> "KnnDistance":
        x = _matrix(features, "features")
        if x.shape[0] < self.k:
            raise DataError(f"kNN distance with k={self.k} needs at least {self.k} support features, got {x.shape[0]}")
        self.support = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return self

    def score(self, features) -> np.ndarray:
        x = _matrix(features, "features")
        if x.shape[1] != self.support.shape[1]:
            raise DataError(f"features of dimension {x.shape[1]}, the scorer was fitted on {self.support.shape[1]}")
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        distance = np.sqrt(np.maximum(2.0 - 2.0 * x @ self.support.T, 0.0))
        return np.sort(distance, axis=1)[:, self.k - 1]

    def state(self) -> dict[str, np.ndarray]:
        return {"support": self.support}


def feature_scorer(method: str, k: int = 1):
    if method == "mahalanobis":
        return Mahalanobis()
    if method == "knn":
        return KnnDistance(k)
    raise ConfigError(f"unknown feature score {method!r}; known: mahalanobis, knn")


def open_scores(method: str, logits=None, features=None, scorer=None) -> np.ndarray:
    """The ``method`` score of each window, from logits (msp, energy) or features and a fitted scorer (mahalanobis, knn)."""
    if method == "msp":
        return msp_score(logits)
    if method == "energy":
        return energy_score(logits)
    if method in ("mahalanobis", "knn"):
        if scorer is None:
            raise ConfigError(f"the {method} score needs a scorer fitted on the support features")
        return scorer.score(features)
    raise ConfigError(f"unknown open-set score {method!r}; known: {', '.join(SCORES)}")


def window_scores(encode: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], support: np.ndarray, support_labels: np.ndarray,
                  windows: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Every score of :data:`SCORES` and the closed-set prediction of each window set;
    ``encode(indices)`` gives their (logits, features)."""
    support_features = encode(support)[1]
    mahalanobis = Mahalanobis().fit(support_features, support_labels)
    knn = KnnDistance(1).fit(support_features)
    scores, predicted = {}, {}
    for name, indices in windows.items():
        logits, features = encode(indices)
        scores[name] = {"msp": msp_score(logits), "energy": energy_score(logits), "mahalanobis": mahalanobis.score(features),
                        "knn": knn.score(features)}
        predicted[name] = logits.argmax(1)
    return scores, predicted


def calibrate_threshold(known_scores, false_alarm: float = 0.01) -> float:
    """The ceil((n + 1)(1 - false_alarm))-th smallest known score (the largest when that rank passes n)."""
    scores = np.sort(np.asarray(known_scores, dtype=np.float64).ravel())
    if scores.size == 0 or not np.isfinite(scores).all():
        raise DataError("calibrating a threshold needs finite scores of at least one known window")
    if not 0 < false_alarm < 1:
        raise ConfigError(f"false_alarm must be in (0, 1), got {false_alarm}")
    rank = min(math.ceil((scores.size + 1) * (1 - false_alarm)), scores.size)
    return float(scores[rank - 1])


def auroc(known_scores, unknown_scores) -> float:
    """Area under the ROC curve of telling unknown (positive) from known windows by the score."""
    known, unknown = np.asarray(known_scores, np.float64).ravel(), np.asarray(unknown_scores, np.float64).ravel()
    if known.size == 0 or unknown.size == 0:
        raise DataError("AUROC needs known and unknown scores")
    return float(roc_auc_score(np.r_[np.zeros(known.size), np.ones(unknown.size)], np.r_[known, unknown]))


def fpr_at_tpr(known_scores, unknown_scores, tpr: float = 0.95) -> float:
    """Share of known windows flagged when the threshold flags ``tpr`` of the unknown ones."""
    unknown = np.sort(np.asarray(unknown_scores, np.float64).ravel())
    threshold = unknown[max(0, int(math.floor((1 - tpr) * unknown.size)))]
    return float((np.asarray(known_scores, np.float64) >= threshold).mean())
