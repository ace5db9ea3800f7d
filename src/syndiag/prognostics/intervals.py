"""Prediction intervals for RUL (issue 16): split-conformal on leave-one-unit-out log residuals.

A residual is log(actual) - log(predicted) (both floored at ``FLOOR_S``): a ratio, so one interval width serves a
bearing with hours left and one with minutes. For nominal level L the interval is
predicted x exp(q_lo), predicted x exp(q_hi), q_lo and q_hi the (1 - L)/2 and (1 + L)/2 conformal quantiles of the
residuals (finite-sample corrected: the ceil((n + 1) p)-th smallest). Calibrated on the leave-one-bearing-out
predictions, so no residual comes from a unit the model was fitted on.

Mondrian by state (issue 32): a residual records whether its prediction was made after the unit's onset (``degrading``)
or before it; an interval uses only the residuals of its own state when that state has at least ``MIN_GROUP`` of them
(else all). Before the onset the vibration says nothing about the remaining life, so the honest statement is one-sided:
:meth:`ConformalIntervals.at_least`, a bound the actual RUL exceeds with the level's confidence (the
floor((n + 1)(1 - L))-th smallest residual), "no degradation yet: at least X h".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from syndiag.errors import DataError

FLOOR_S = 10.0
"""One snapshot period of FEMTO: RULs below it are read as it."""
LEVELS = (0.8, 0.95)
MIN_GROUP = 10
"""Residuals a state needs for intervals of its own (fewer: all residuals)."""


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
    degrading: tuple[bool, ...] = ()
    """Per residual, whether its prediction was made after the onset; empty: one pool for every prediction."""

    @classmethod
    def calibrate(cls, actual, predicted, degrading=None) -> "ConformalIntervals":
        residuals = tuple(float(r) for r in log_residuals(actual, predicted))
        flags = () if degrading is None else tuple(bool(d) for d in degrading)
        if flags and len(flags) != len(residuals):
            raise DataError(f"{len(flags)} degrading flags for {len(residuals)} residuals")
        return cls(residuals, flags)

    def pool(self, degrading: bool | None = None) -> np.ndarray:
        """The residuals an interval of this state uses: its own when it has ``MIN_GROUP`` of them, else all."""
        residuals = np.array(self.residuals)
        if degrading is None or not self.degrading:
            return residuals
        mine = residuals[np.array(self.degrading) == bool(degrading)]
        return mine if mine.size >= MIN_GROUP else residuals

    def bounds(self, predicted, level: float, degrading: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        if not 0 < level < 1:
            raise DataError(f"interval level must be in (0, 1), got {level}")
        residuals = self.pool(degrading)
        low, high = conformal_quantile(residuals, (1 - level) / 2), conformal_quantile(residuals, (1 + level) / 2)
        base = np.maximum(np.asarray(predicted, np.float64), FLOOR_S)
        return base * math.exp(low), base * math.exp(high)

    def at_least(self, predicted: float, level: float, degrading: bool | None = None) -> float:
        """A lower bound the actual RUL exceeds with confidence ``level`` (one-sided; 0 when there are too few residuals)."""
        if not 0 < level < 1:
            raise DataError(f"interval level must be in (0, 1), got {level}")
        residuals = np.sort(self.pool(degrading))
        rank = math.floor((residuals.size + 1) * (1 - level) + 1e-9)  # 1 - 0.8 is 0.19999999999999996
        return 0.0 if rank < 1 else float(max(predicted, FLOOR_S) * math.exp(residuals[rank - 1]))
