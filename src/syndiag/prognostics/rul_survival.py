"""RUL as a survival model with covariates (issue 32): a Weibull accelerated-failure-time (AFT) model on landmarks.

Every snapshot j of every learning unit is a *landmark*: its covariates are the health indicators a prediction made at
that snapshot would see (computed from the snapshots up to j only), its duration is the time from that snapshot to the
unit's failure (observed: the learning units ran to failure; floored at ``FLOOR_S``). The covariates (``covariates``,
any of):

- ``level``: the ``indicator`` (RMS by default), causally smoothed, as the log of its ratio to the unit's own baseline
  (the mean of its first ``baseline_fraction`` snapshots *of the history so far*, at least ``MIN_BASELINE``), as
  :func:`syndiag.prognostics.rul_degradation.relative_log_hi` gives at the history's last snapshot;
- ``slope``: the least-squares slope per hour of the smoothed log indicator over the last ``window`` snapshots;
- ``kurtosis``: the smoothed kurtosis, relative to its baseline in log, like ``level``;
- ``age``: the log of the elapsed time (the landmark's age).
- ``temperature``: the bearing's temperature, causally smoothed, above its own baseline (deg C), where the unit has
  one (:attr:`syndiag.prognostics.units.Unit.temperature_c`); 0 where it has none, so it is ignored there.

The model: log T = mu + z . beta + sigma W, W standard minimum-extreme-value (T Weibull with shape 1 / sigma, scale
exp(mu + z . beta)), z the covariates standardised over the landmarks; fitted by maximum likelihood (L-BFGS with the
analytic gradient, a ridge ``alpha`` on beta), every learning unit weighing the same whatever its number of snapshots.
The RUL at a history's last snapshot is the ``quantile`` of T given its covariates there:
exp(mu + z . beta) (-ln(1 - quantile))^sigma (0.5: the conditional median; below: earlier, as the challenge rewards).

Why a Weibull AFT rather than Cox with a Breslow baseline: with six learning units the Breslow baseline is a step
function whose quantiles cannot go past the longest landmark duration and whose steps come from few bearings; the AFT
is smooth in time, extrapolates, works on the log-time scale the conformal intervals use (log actual / predicted), and
its fit is a handful of numbers (saved in the checkpoint; predicting needs NumPy only). The likelihood
(:func:`weibull_aft_nll`) takes censored landmarks too (``observed`` 0: still running at the end), though every
learning unit here ran to failure, so none is.
lifelines (a well-kept survival library) was not used: it needs pandas, autograd and formulaic, none of which the
project otherwise installs, and would be imported by ``rul predict``.

Before the onset of the ``indicator`` (:func:`syndiag.prognostics.rul_models.onset_time`) the estimate is the model's
own (the covariates at the baseline, with the age when used) and ``onset_s`` is None, so the intervals state the
one-sided "no degradation yet: at least X h" bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from syndiag.errors import DataError
from syndiag.prognostics.features import indicator
from syndiag.prognostics.health import MIN_BASELINE, smooth
from syndiag.prognostics.intervals import FLOOR_S
from syndiag.prognostics.rul_degradation import HOUR, _PathModel
from syndiag.prognostics.rul_models import RulEstimate, _failed, _require
from syndiag.prognostics.units import Unit

COVARIATES = ("level", "slope", "kurtosis", "age", "temperature")


def relative_log_series(values: np.ndarray, smoothing: int, baseline_fraction: float) -> np.ndarray:
    """Per snapshot j, log(smoothed value j / the mean smoothed value of the baseline of the first j + 1 snapshots): what
    :func:`syndiag.prognostics.rul_degradation.relative_log_hi` of the history cut at j gives at its last snapshot."""
    hi = np.maximum(smooth(values, smoothing, causal=True), 1e-12)
    sizes = np.arange(1, hi.size + 1)
    baseline = np.minimum(np.maximum(MIN_BASELINE, np.round(baseline_fraction * sizes).astype(np.int64)), sizes)
    return np.log(hi) - np.log(np.cumsum(hi)[baseline - 1] / baseline)


def temperature_rise(celsius: np.ndarray | None, count: int, smoothing: int, baseline_fraction: float) -> np.ndarray:
    """Per snapshot j, the causally smoothed temperature above the mean of the baseline of the first j + 1 snapshots (deg C);
    a snapshot no file covers carries the last reading forward; a unit without temperature reads 0 (no rise: ignored)."""
    if celsius is None or not np.isfinite(celsius).any():
        return np.zeros(count)
    values = np.asarray(celsius, np.float64).copy()
    first = int(np.flatnonzero(np.isfinite(values))[0])
    values[:first] = values[first]
    for j in range(first + 1, values.size):
        if not np.isfinite(values[j]):
            values[j] = values[j - 1]
    smoothed = smooth(values, smoothing, causal=True)
    sizes = np.arange(1, smoothed.size + 1)
    baseline = np.minimum(np.maximum(MIN_BASELINE, np.round(baseline_fraction * sizes).astype(np.int64)), sizes)
    return smoothed - np.cumsum(smoothed)[baseline - 1] / baseline


def trailing_slope(values: np.ndarray, hours: np.ndarray, window: int) -> np.ndarray:
    """Per snapshot, the least-squares slope of ``values`` over ``hours`` through the last ``window`` snapshots (fewer at the
    start; 0 with a single one)."""
    def windowed(x: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0.0], np.cumsum(x)])
        ends = np.arange(1, x.size + 1)
        return total[ends] - total[np.maximum(ends - window, 0)]

    shifted = hours - hours[0]  # sums of squares stay small
    n = np.minimum(np.arange(1, values.size + 1), window).astype(np.float64)
    st, sx, stt, stx = windowed(shifted), windowed(values), windowed(shifted**2), windowed(shifted * values)
    spread = n * stt - st**2
    return np.divide(n * stx - st * sx, spread, out=np.zeros_like(spread), where=spread > 1e-12 * np.maximum(n * stt, 1e-300))


def weibull_aft_nll(params: np.ndarray, z: np.ndarray, log_t: np.ndarray, observed: np.ndarray, weights: np.ndarray,
                    alpha: float) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood of the Weibull AFT (params: mu, beta..., log sigma) and its gradient; ridge alpha on beta."""
    mu, beta, log_sigma = params[0], params[1:-1], params[-1]
    sigma = math.exp(log_sigma)
    u = (log_t - mu - z @ beta) / sigma
    eu = np.exp(np.minimum(u, 700.0))
    ll = weights * (observed * (u - log_sigma) - eu)
    d_u = weights * (observed - eu)  # d ll / d u
    grad = np.concatenate([[-d_u.sum() / sigma], -(z.T @ d_u) / sigma, [-(d_u * u).sum() - (weights * observed).sum()]])
    nll = -float(ll.sum()) + 0.5 * alpha * float(beta @ beta)
    grad = -grad
    grad[1:-1] += alpha * beta
    return nll, grad


@dataclass
class WeibullSurvival(_PathModel):
    """Weibull AFT on every learning snapshot as a landmark, covariates the health indicators then (module docstring)."""

    covariates: tuple[str, ...] = ("level", "slope", "kurtosis")
    window: int = 10
    alpha: float = 0.01
    """Ridge on the standardised covariates' coefficients, per landmark."""
    clip: bool = False
    """Hold a prediction's covariates within the range the landmarks of the fit spanned (no extrapolation in log time)."""
    kind: str = "survival"
    fitted: dict[str, np.ndarray] = field(default_factory=dict)
    """The fit: the covariates' ``mean`` and ``scale`` over the landmarks, ``params`` mu, beta (one per covariate), log sigma."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.covariates = tuple(self.covariates) if isinstance(self.covariates, (list, tuple)) else (self.covariates,)
        unknown = [c for c in self.covariates if c not in COVARIATES]
        if not self.covariates or unknown or len(set(self.covariates)) != len(self.covariates):
            raise DataError(f"survival covariates must be distinct names among {', '.join(COVARIATES)}, got {list(self.covariates)}")
        if self.window < 2 or not self.alpha >= 0:
            raise DataError(f"survival settings out of range: window {self.window} (at least 2), alpha {self.alpha} (0 or above)")

    def design(self, unit: Unit) -> np.ndarray:
        """The covariates at every snapshot of ``unit`` (row j from snapshots 0..j only), unstandardised."""
        hours = unit.time_s / HOUR
        columns = {}
        raw = indicator(unit.features, self.indicator)
        if "level" in self.covariates:
            columns["level"] = relative_log_series(raw, self.smoothing, self.baseline_fraction)
        if "slope" in self.covariates:
            smoothed = np.log(np.maximum(smooth(raw, self.smoothing, causal=True), 1e-12))
            columns["slope"] = trailing_slope(smoothed, hours, self.window)
        if "kurtosis" in self.covariates:
            columns["kurtosis"] = relative_log_series(indicator(unit.features, "kurtosis"), self.smoothing, self.baseline_fraction)
        if "temperature" in self.covariates:
            columns["temperature"] = temperature_rise(unit.temperature_c, len(unit), self.smoothing, self.baseline_fraction)
        if "age" in self.covariates:
            columns["age"] = np.log(np.maximum(unit.time_s, FLOOR_S) / HOUR)
        return np.column_stack([columns[c] for c in self.covariates])

    def fit(self, units: list[Unit]) -> "WeibullSurvival":
        # deferred: `rul predict` loads this module but only fitting needs SciPy
        from scipy.optimize import minimize

        units = _failed(units)
        xs = [self.design(u) for u in units]
        x = np.vstack(xs)
        log_t = np.concatenate([np.log(np.maximum(u.rul_s, FLOOR_S)) for u in units])
        weights = np.concatenate([np.full(len(u), len(x) / (len(units) * len(u))) for u in units])  # each unit weighs the same
        events = np.ones(len(x))  # every learning unit ran to failure: no landmark is censored
        mean = np.average(x, axis=0, weights=weights)
        scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weights))
        scale[scale < 1e-9] = 1.0
        z = (x - mean) / scale
        start_beta = np.linalg.lstsq(z * np.sqrt(weights)[:, None], (log_t - np.average(log_t, weights=weights)) * np.sqrt(weights), rcond=None)[0]
        spread = float(np.sqrt(np.average((log_t - np.average(log_t, weights=weights) - z @ start_beta) ** 2, weights=weights)))
        start = np.concatenate([[np.average(log_t, weights=weights)], start_beta, [math.log(max(spread * math.sqrt(6) / math.pi, 1e-3))]])
        found = minimize(weibull_aft_nll, start, args=(z, log_t, events, weights, self.alpha * len(x)), jac=True, method="L-BFGS-B")
        if not np.isfinite(found.x).all():
            raise DataError(f"the survival model's fit did not converge ({found.message})")
        self.fitted = {"mean": mean, "scale": scale, "params": np.asarray(found.x, np.float64), "low": x.min(axis=0), "high": x.max(axis=0)}
        return self

    def predict(self, history: Unit) -> RulEstimate:
        _require(history, self.min_history, self.kind)
        if not self.fitted:
            raise DataError("the survival model is not fitted")
        params = self.fitted["params"]
        row = self.design(history)[-1]
        if self.clip:
            row = np.clip(row, self.fitted["low"], self.fitted["high"])
        z = (row - self.fitted["mean"]) / self.fitted["scale"]
        log_scale = float(params[0] + z @ params[1:-1])
        sigma = math.exp(float(params[-1]))
        estimate = math.exp(min(log_scale + sigma * math.log(-math.log1p(-self.quantile)), 50.0))
        return RulEstimate(estimate, self._onset(history), f"Weibull AFT on {', '.join(self.covariates)} at the last snapshot "
                                                          f"(shape {1 / sigma:.2f}), quantile {self.quantile:g} of the remaining life")

    def settings(self) -> dict:
        return {**self._common(), "covariates": list(self.covariates), "window": self.window, "alpha": self.alpha, "clip": self.clip}

    def state(self) -> dict[str, np.ndarray]:
        return dict(self.fitted)

    def load_state(self, tensors: dict[str, np.ndarray]) -> None:
        mean, scale, params, low, high = (np.asarray(tensors[k], np.float64) for k in ("mean", "scale", "params", "low", "high"))
        k = len(self.covariates)
        if mean.size != k or scale.size != k or params.size != k + 2 or low.size != k or high.size != k:
            raise DataError(f"survival state: {mean.size} means, {scale.size} scales, {params.size} parameters, {low.size}/{high.size} "
                            f"range bounds for {k} covariate(s) (needs {k}, {k}, {k + 2}, {k}/{k})")
        self.fitted = {"mean": mean, "scale": scale, "params": params, "low": low, "high": high}
