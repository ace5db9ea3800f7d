"""Open-set metrics of one task (issue 17): AUROC and FPR at 95 % TPR of telling held-out-family windows from known ones,
and the open-set accuracy at the threshold calibrated on held-in windows (a known window counts when classified right
and not flagged, an unknown one when flagged)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from syndiag.models.openset import auroc, calibrate_threshold, fpr_at_tpr


def openset_metrics(calibration_scores, test_scores, predicted, truth, unknown_mask, false_alarm: float = 0.01,
                    threshold: float | None = None) -> dict[str, float]:
    """The metrics of one task; ``threshold`` when given (a recalibrated one) replaces the calibration windows' quantile."""
    test_scores, predicted, truth = np.asarray(test_scores), np.asarray(predicted), np.asarray(truth)
    unknown = np.asarray(unknown_mask, dtype=bool)
    threshold = calibrate_threshold(calibration_scores, false_alarm) if threshold is None else float(threshold)
    flagged = test_scores > threshold
    known_right = (~unknown) & (~flagged) & (predicted == truth)
    return {"auroc": auroc(test_scores[~unknown], test_scores[unknown]), "fpr_at_95_tpr": fpr_at_tpr(test_scores[~unknown], test_scores[unknown]),
            "threshold": threshold, "open_accuracy": float((known_right | (unknown & flagged)).mean()),
            "known_accuracy": float((predicted[~unknown] == truth[~unknown]).mean()), "known_flagged": float(flagged[~unknown].mean()),
            "unknown_flagged": float(flagged[unknown].mean()), "known_windows": int((~unknown).sum()), "unknown_windows": int(unknown.sum())}


def roc_points(known_scores, unknown_scores, points: int = 41) -> dict[str, list[float]]:
    """The ROC curve of telling unknown from known windows, at ``points`` false-positive rates from 0 to 1 (for plots)."""
    known, unknown = np.asarray(known_scores, np.float64).ravel(), np.asarray(unknown_scores, np.float64).ravel()
    fpr, tpr, _ = roc_curve(np.r_[np.zeros(known.size), np.ones(unknown.size)], np.r_[known, unknown])
    grid = np.linspace(0.0, 1.0, points)
    return {"fpr": [round(float(f), 4) for f in grid], "tpr": [round(float(t), 4) for t in np.interp(grid, fpr, tpr)]}
