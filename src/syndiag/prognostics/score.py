"""The IEEE PHM 2012 Prognostic Challenge score (rules document §5, MANIFEST §3) and the usual RUL errors.

Per unit, one prediction at its last snapshot: percent error Er = 100 (actual - predicted) / actual; accuracy
A = exp(-ln(0.5) Er / 5) when Er <= 0 (a late prediction: the bearing fails before the predicted time, punished
harder) and A = exp(+ln(0.5) Er / 20) when Er > 0 (early); the score is the mean of A over the units.
"""

from __future__ import annotations

import math

import numpy as np

from syndiag.errors import DataError


def _pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    actual, predicted = np.atleast_1d(np.asarray(actual, np.float64)), np.atleast_1d(np.asarray(predicted, np.float64))
    if actual.shape != predicted.shape or actual.size == 0:
        raise DataError(f"actual and predicted RULs must be non-empty and of one shape, got {actual.shape} and {predicted.shape}")
    if not (np.isfinite(actual).all() and np.isfinite(predicted).all()):
        raise DataError("RULs must be finite")
    if (actual <= 0).any():
        raise DataError("the percent error needs actual RULs above 0 s")
    return actual, predicted


def percent_error(actual, predicted) -> np.ndarray:
    """Er = 100 (actual - predicted) / actual; negative: late (predicted after the actual failure)."""
    actual, predicted = _pair(actual, predicted)
    return 100.0 * (actual - predicted) / actual


def challenge_accuracy(error_percent) -> np.ndarray:
    """A(Er): 1 at Er = 0, 0.5 at Er = -5 (5 % late) and at Er = +20 (20 % early)."""
    er = np.asarray(error_percent, np.float64)
    return np.exp(np.where(er <= 0, -math.log(0.5) * er / 5.0, math.log(0.5) * er / 20.0))


def challenge_score(actual, predicted) -> float:
    """Mean challenge accuracy over the units (one prediction each)."""
    return float(challenge_accuracy(percent_error(actual, predicted)).mean())


def rul_errors(actual, predicted) -> dict[str, float]:
    """Challenge score, RMSE and MAE in seconds, the share of predictions late by more than 50 % (Er < -50)."""
    actual, predicted = _pair(actual, predicted)
    er = percent_error(actual, predicted)
    return {"score": float(challenge_accuracy(er).mean()), "rmse_s": float(np.sqrt(np.mean((actual - predicted) ** 2))),
            "mae_s": float(np.mean(np.abs(actual - predicted))), "late_over_50pct": int((er < -50).sum()), "count": int(actual.size)}


def interval_coverage(actual, lower, upper) -> float:
    """Share of actual values inside [lower, upper]."""
    actual, lower, upper = (np.atleast_1d(np.asarray(a, np.float64)) for a in (actual, lower, upper))
    if not (actual.shape == lower.shape == upper.shape) or actual.size == 0:
        raise DataError(f"coverage needs non-empty arrays of one shape, got {actual.shape}, {lower.shape}, {upper.shape}")
    if (lower > upper).any():
        raise DataError("an interval's lower bound is above its upper bound")
    return float(((actual >= lower) & (actual <= upper)).mean())
