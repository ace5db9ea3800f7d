"""Open-set scores on the discriminant spectrum path (issue 30: "this is a fault I have not seen", across operating
conditions): how unlike every known class a window's spectrum is, measured in spaces fitted on the labelled
multi-condition pool of the known classes, so that a change of load moves a known window less than a new fault does.

Scores (higher = more likely unknown), all from the spectrum view (``models/spectrum_view.py``) of a window, fitted
on the clean views of the known classes' training windows at every condition they were recorded in:

- ``spectrum-mahalanobis``: the smallest Mahalanobis distance of the whole view to a known class mean, one shared
  Ledoit-Wolf covariance: the class means average the conditions, the covariance holds their spread;
- ``lda-mahalanobis``: the same in the path's discriminant space (fitted on the labelled multi-condition pool, so a
  load moves a window little there; but only ``classes - 1`` directions, chosen to part the known classes);
- ``lda-knn``: the Euclidean distance to the k-th nearest training window in the discriminant space;
- ``combined``: the sum of ``spectrum-mahalanobis`` and ``lda-mahalanobis``, each divided by its median on the fit
  windows.

The healthy recalibration (a machine in a new condition): the user's healthy windows of that condition either
``recentre`` every view (minus the offset of their mean view from the training windows' healthy class) or raise the
``threshold`` to the conformal quantile of their own scores when that is higher.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.errors import ConfigError, DataError
from syndiag.models.openset import Mahalanobis, calibrate_threshold
from syndiag.models.spectral_discriminant import SpectralDiscriminant

NOVELTY_SCORES = ("spectrum-mahalanobis", "lda-mahalanobis", "lda-knn", "combined")
COMBINED = ("spectrum-mahalanobis", "lda-mahalanobis")
RECALIBRATIONS = ("none", "threshold", "recentre")


def _knn(bank: np.ndarray, features: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance of each row of ``features`` to its k-th nearest row of ``bank`` (in blocks, bounded memory)."""
    bank_sq = (bank**2).sum(1)
    out = np.empty(len(features))
    for first in range(0, len(features), 512):
        x = features[first:first + 512]
        d2 = np.maximum((x**2).sum(1)[:, None] - 2 * x @ bank.T + bank_sq[None, :], 0.0)
        out[first:first + 512] = np.sqrt(np.partition(d2, k - 1, axis=1)[:, k - 1])
    return out


@dataclass
class SpectralNovelty:
    """The fitted scores of one set of known classes: in the whole spectrum view and in the discriminant's space."""

    discriminant: SpectralDiscriminant
    lda: Mahalanobis
    view: Mahalanobis
    bank: np.ndarray
    medians: dict[str, float]
    healthy_view: np.ndarray | None = None
    k: int = 5

    @classmethod
    def fit(cls, discriminant: SpectralDiscriminant, views: np.ndarray, labels: np.ndarray, healthy: int | None = None,
            k: int = 5) -> "SpectralNovelty":
        """Fit on the known classes' clean spectrum views (n, d) and ``labels`` (every condition of the training data);
        ``healthy``: the label of the healthy class, whose mean view ``recentre`` compares a new condition with."""
        views = np.asarray(views, dtype=np.float64)
        labels = np.asarray(labels)
        if views.ndim != 2 or len(views) != len(labels) or np.unique(labels).size < 2:
            raise DataError(f"the novelty scores need spectrum views of two or more known classes, got {views.shape} for "
                            f"{np.unique(labels).size} class(es)")
        z = discriminant.transform(views)
        found = cls(discriminant, Mahalanobis().fit(z, labels), Mahalanobis().fit(views, labels), z, {}, None, k)
        found.medians = {name: max(float(np.median(found._raw(name, views))), 1e-12) for name in COMBINED}
        if healthy is not None and np.any(labels == healthy):
            found.healthy_view = views[labels == healthy].mean(axis=0)
        return found

    def _raw(self, name: str, views: np.ndarray) -> np.ndarray:
        if name == "lda-mahalanobis":
            return self.lda.score(self.discriminant.transform(views))
        if name == "spectrum-mahalanobis":
            return self.view.score(views)
        if name == "lda-knn":
            return _knn(self.bank, self.discriminant.transform(views), self.k)
        raise ConfigError(f"unknown novelty score {name!r}; known: {', '.join(NOVELTY_SCORES)}")

    def scores(self, views: np.ndarray, names=NOVELTY_SCORES, offset: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each named score of each view (n, d); ``offset`` (d,) is subtracted from every view first (recentring)."""
        views = np.asarray(views, dtype=np.float64)
        if offset is not None:
            views = views - offset
        out = {}
        for name in names:
            if name == "combined":
                out[name] = sum(self._raw(part, views) / self.medians[part] for part in COMBINED)
            else:
                out[name] = self._raw(name, views)
        return out

    def offset(self, healthy_views: np.ndarray) -> np.ndarray:
        """How far the new condition's healthy windows sit from the fit windows' healthy class, view by view."""
        if self.healthy_view is None:
            raise DataError("recentring needs the healthy class among the known classes the scores were fitted on")
        healthy_views = np.asarray(healthy_views, dtype=np.float64)
        if healthy_views.ndim != 2 or healthy_views.shape[1] != self.healthy_view.size or len(healthy_views) == 0:
            raise DataError(f"healthy windows' views must be (n, {self.healthy_view.size}), got {healthy_views.shape}")
        return healthy_views.mean(axis=0) - self.healthy_view


def recalibrated(novelty: SpectralNovelty, name: str, how: str, calibration_views: np.ndarray, healthy_views: np.ndarray | None,
                 false_alarm: float) -> tuple[float, np.ndarray | None]:
    """(threshold, offset) of score ``name`` at ``false_alarm`` on the held-in calibration views, recalibrated ``how``
    with the healthy views of the new condition: ``none``, ``threshold`` (the higher of the two conformal quantiles) or
    ``recentre`` (every view moved by the healthy offset; the threshold of the calibration views stays)."""
    if how not in RECALIBRATIONS:
        raise ConfigError(f"unknown recalibration {how!r}; known: {', '.join(RECALIBRATIONS)}")
    threshold = calibrate_threshold(novelty.scores(calibration_views, (name,))[name], false_alarm)
    if how == "none":
        return threshold, None
    if healthy_views is None or len(healthy_views) == 0:
        raise DataError(f"the {how} recalibration needs healthy windows of the new condition")
    if how == "threshold":
        return max(threshold, calibrate_threshold(novelty.scores(healthy_views, (name,))[name], false_alarm)), None
    return threshold, novelty.offset(healthy_views)
