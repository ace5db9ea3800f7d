"""Prediction intervals for RUL (issue 16): split-conformal on leave-one-unit-out log residuals.

A residual is log(actual) - log(predicted) (both floored at ``FLOOR_S``): a ratio, so one interval width serves a
bearing with hours left and one with minutes. For nominal level L the interval is
predicted x exp(q_lo), predicted x exp(q_hi), q_lo and q_hi the (1 - L)/2 and (1 + L)/2 conformal quantiles of the
residuals (finite-sample corrected: the ceil((n + 1) p)-th smallest). Calibrated on the leave-one-bearing-out
predictions, so no residual comes from a unit the model was fitted on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from syndiag.errors import DataError

FLOOR_S = 10.0
"""One snapshot period of FEMTO: RULs below it are read as it."""
LEVELS = (0.8, 0.95)


def log_residuals(actual, predicted) -> np.ndarray:
    actual, predicted = np.asarray(actual, np.float64), np.asarray(predicted, np.float64)
    return np.log(np.maximum(actual, FLOOR_S)) - np.log(np.maximum(predicted, FLOOR_S))


def conformal_quantile(residuals: np.ndarray, p: float) -> float:
    """The ceil((n + 1) p)-th smallest residual (clipped to the sample), the split-conformal quantile."""
    residuals = np.sort(np.asarray(residuals, np.float64))
    if residuals.size == 0 or not np.isfinite(residuals).all():
        raise DataError("conformal intervals need at least one finite residual")
    rank = min(max(math.ceil((residuals.size + 1) * p), 1), residuals.size)
    return float(residuals[rank - 1])


@dataclass(frozen=True)
class ConformalIntervals:
    """Interval bounds for any predicted RUL from calibration residuals."""

    residuals: tuple[float, ...]

    @classmethod
    def calibrate(cls, actual, predicted) -> "ConformalIntervals":
        return cls(tuple(float(r) for r in log_residuals(actual, predicted)))

    def bounds(self, predicted, level: float) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < level < 1:
            raise DataError(f"interval level must be in (0, 1), got {level}")
        low, high = conformal_quantile(np.array(self.residuals), (1 - level) / 2), conformal_quantile(np.array(self.residuals), (1 + level) / 2)
        base = np.maximum(np.asarray(predicted, np.float64), FLOOR_S)
        return base * math.exp(low), base * math.exp(high)
