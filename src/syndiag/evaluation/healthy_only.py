"""Anomaly detection from healthy windows alone on a labelled data set (issue 17): fit a novelty score on the normal
class's train-pool windows only, score every test window, and measure how well the score tells faults from normal.

Features: ``log-spectrum`` (the log-magnitude spectrum of each channel, as the 1-NN baseline reads it) or ``health``
(the health features of :mod:`syndiag.prognostics.features`: time-domain statistics and band powers per channel).
The normal pool is split by parity: the scorer is fitted on one half, the threshold calibrated on the other at
``false_alarm``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from syndiag.data.windowing import POOL, TEST
from syndiag.errors import DataError
from syndiag.models.baselines import log_spectrum
from syndiag.models.openset import auroc, calibrate_threshold, feature_scorer, fpr_at_tpr
from syndiag.prognostics.features import snapshot_features


def window_features(windows: np.ndarray, fs: float, kind: str) -> np.ndarray:
    windows = np.asarray(windows, dtype=np.float64)
    if kind == "log-spectrum":
        return log_spectrum(windows)
    if kind == "health":
        if windows.shape[1] != 2:
            raise DataError(f"health features read two channels per window, got {windows.shape[1]}")
        return snapshot_features(windows[:, 0], windows[:, 1], fs).values
    raise DataError(f"unknown window features {kind!r}; known: log-spectrum, health")


def healthy_only(dataset: Any, method: str = "mahalanobis", features: str = "log-spectrum", false_alarm: float = 0.01,
                 normal: str = "normal") -> dict[str, Any]:
    """AUROC, FPR at 95 % TPR and the alarm rates at the calibrated threshold, overall and per fault class."""
    names = list(dataset.class_names)
    if normal not in names:
        raise DataError(f"no class {normal!r} to take as healthy; classes: {', '.join(names)}")
    labels, split = np.asarray(dataset.labels), np.asarray(dataset.split)
    x = window_features(np.asarray(dataset.windows), float(dataset.fs), features)
    pool = np.flatnonzero((labels == names.index(normal)) & (split == POOL))
    if pool.size < 4:
        raise DataError(f"{pool.size} normal train-pool windows; healthy-only detection needs at least 4")
    fit, calibrate = pool[0::2], pool[1::2]
    scorer = feature_scorer(method).fit(x[fit], np.zeros(fit.size))
    threshold = calibrate_threshold(scorer.score(x[calibrate]), false_alarm)
    test = np.flatnonzero(split == TEST)
    scores = scorer.score(x[test])
    healthy = labels[test] == names.index(normal)
    per_class = {}
    for c, name in enumerate(names):
        mine = labels[test] == c
        if c == names.index(normal) or not mine.any():
            continue
        per_class[name] = {"auroc": auroc(scores[healthy], scores[mine]), "detected": float((scores[mine] > threshold).mean())}
    return {"method": method, "features": features, "false_alarm": false_alarm, "fit_windows": int(fit.size),
            "calibration_windows": int(calibrate.size), "test_normal": int(healthy.sum()), "test_faulty": int((~healthy).sum()),
            "auroc": auroc(scores[healthy], scores[~healthy]), "fpr_at_95_tpr": fpr_at_tpr(scores[healthy], scores[~healthy]),
            "false_alarm_rate": float((scores[healthy] > threshold).mean()), "detected": float((scores[~healthy] > threshold).mean()),
            "worst_class": min(per_class, key=lambda n: per_class[n]["auroc"]), "per_class": per_class}
