"""RUL from the learning units' degradation paths (issue 32): trajectory similarity and a Bayesian exponential model.

Both read one health indicator (HI, :func:`syndiag.prognostics.features.indicator`), causally smoothed, as the log of
its ratio to the unit's own baseline (the mean of its first ``baseline_fraction`` snapshots, at least ``MIN_BASELINE``):
0 while healthy, rising as the bearing degrades, comparable across bearings whose absolute vibration levels differ.

- :class:`SimilarityRul` (similarity-based prognostics, Wang et al. 2008): the unit's last ``window`` snapshots of
  relative log HI are laid over every position of every learning unit's run-to-failure path (same time offsets,
  interpolated); a position's weight is exp(-d^2 / 2 bandwidth^2), d the RMS difference; each learning unit gives the
  weighted mean of log(its remaining life at those positions) and the weight of its best match; the estimate is the
  ``quantile`` of those log RULs weighted by match (below 0.5: earlier, as the challenge score rewards).
  ``time_bandwidth`` > 0 also weighs positions by exp(-log(t_position / t_now)^2 / 2 time_bandwidth^2) (a like age);
  ``gate`` gives the floor's estimate before the onset instead of matching the baseline stretch.
- :class:`BayesianExponential` (Gebraeel et al. 2005): after the onset the relative log HI is a line
  a + b (t - onset) plus noise; the prior of (a, b) is the spread of the learning units' own lines, the noise their
  pooled residual variance; the unit's post-onset snapshots update it (conjugate Gaussian), and failure is the time the
  line reaches the learning units' median relative log HI at failure. The estimate is the ``quantile`` of the predictive
  failure time (4,000 draws of the posterior, a fixed seed), minus the time now.

No onset yet: both say so (``onset_s`` None); the Bayesian model (and the gated similarity) give the floor's estimate
(the mean remaining life of the learning units that lived longer), the ungated similarity matches the baseline stretch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from syndiag.errors import DataError
from syndiag.prognostics.features import indicator
from syndiag.prognostics.health import MIN_BASELINE, smooth
from syndiag.prognostics.intervals import FLOOR_S
from syndiag.prognostics.rul_models import MeanResidualLife, RulEstimate, _failed, _require, onset_time
from syndiag.prognostics.units import Unit

HOUR = 3600.0
DRAWS = 4000


def relative_log_hi(unit: Unit, name: str, smoothing: int, baseline_fraction: float) -> np.ndarray:
    """log(smoothed HI / the mean smoothed HI of the unit's baseline snapshots), one value per snapshot."""
    hi = np.maximum(smooth(indicator(unit.features, name), smoothing, causal=True), 1e-12)
    baseline = min(max(MIN_BASELINE, int(round(baseline_fraction * hi.size))), hi.size)
    return np.log(hi) - math.log(float(hi[:baseline].mean()))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights) - 0.5 * weights
    return float(np.interp(q * weights.sum(), cumulative, values))


@dataclass
class _PathModel:
    """What both families share: the indicator, its smoothing and onset settings, the floor for 'no onset yet'."""

    indicator: str = "rms"
    quantile: float = 0.5
    smoothing: int = 5
    sigmas: float = 3.0
    persistence: int = 3
    baseline_fraction: float = 0.1
    features: ClassVar[str] = "health"
    fallback: MeanResidualLife = field(default_factory=MeanResidualLife)

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1 or self.smoothing < 1:
            raise DataError(f"{type(self).__name__}: quantile must be in (0, 1) and smoothing at least 1, got {self.quantile}, {self.smoothing}")
        if self.indicator not in ("rms", "peak", "kurtosis"):
            raise DataError(f"unknown health indicator {self.indicator!r}; known: rms, peak, kurtosis")

    @property
    def min_history(self) -> int:
        return MIN_BASELINE + self.persistence

    def _hi(self, unit: Unit) -> np.ndarray:
        return relative_log_hi(unit, self.indicator, self.smoothing, self.baseline_fraction)

    def _onset(self, unit: Unit) -> float | None:
        return onset_time(unit, self.indicator, self.smoothing, self.sigmas, self.persistence, self.baseline_fraction)

    def _floor(self, history: Unit, why: str) -> RulEstimate:
        floor = self.fallback.predict(history)
        return RulEstimate(floor.rul_s, None, f"{why}; {floor.how}")

    def _common(self) -> dict:
        return {"indicator": self.indicator, "quantile": self.quantile, "smoothing": self.smoothing}


@dataclass
class SimilarityRul(_PathModel):
    """Match the unit's recent relative log HI against the learning units' run-to-failure paths (module docstring)."""

    window: int = 10
    bandwidth: float = 0.25
    time_bandwidth: float = 0.0
    gate: bool = True
    kind: str = "similarity"
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    paths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.window < 2 or not self.bandwidth > 0:
            raise DataError(f"similarity settings out of range: window {self.window} (at least 2), bandwidth {self.bandwidth} (above 0)")

    def fit(self, units: list[Unit]) -> "SimilarityRul":
        units = _failed(units)
        self.fallback.fit(units)
        self.times = np.concatenate([u.time_s for u in units]).astype(np.float64)
        self.paths = np.concatenate([self._hi(u) for u in units])
        self.lengths = np.array([len(u) for u in units], dtype=np.float64)
        return self

    def _library(self) -> list[tuple[np.ndarray, np.ndarray]]:
        edges = np.concatenate([[0], np.cumsum(self.lengths.astype(np.int64))])
        return [(self.times[a:b], self.paths[a:b]) for a, b in zip(edges[:-1], edges[1:])]

    def predict(self, history: Unit) -> RulEstimate:
        _require(history, self.min_history, self.kind)
        if self.lengths.size == 0:
            raise DataError("the similarity model is not fitted")
        onset_s = self._onset(history)
        if onset_s is None and self.gate:
            return self._floor(history, "no onset yet")
        recent = self._hi(history)[-self.window:]
        lags = history.time_s[-1] - history.time_s[-recent.size:]
        logs, weights = [], []
        for times, path in self._library():
            usable = np.flatnonzero(times - lags[0] >= times[0])
            if usable.size == 0:
                continue
            laid = np.interp(times[usable, None] - lags[None, :], times, path)
            distance = np.sqrt(np.mean((laid - recent[None, :]) ** 2, axis=1))
            w = np.exp(-0.5 * (distance / self.bandwidth) ** 2)
            if self.time_bandwidth > 0:  # positions at a like elapsed time weigh more
                w = w * np.exp(-0.5 * (np.log(np.maximum(times[usable], FLOOR_S) / max(float(history.time_s[-1]), FLOOR_S)) / self.time_bandwidth) ** 2)
            rul = np.log(np.maximum(times[-1] - times[usable], FLOOR_S))
            best = int(np.argmin(distance))
            logs.append(float(np.sum(w * rul) / w.sum()) if w.sum() > 1e-300 else float(rul[best]))
            weights.append(max(float(w.max()), 1e-12))
        if not logs:
            return self._floor(history, f"no learning unit is as long as the last {self.window} snapshots")
        estimate = math.exp(weighted_quantile(np.array(logs), np.array(weights), self.quantile))
        return RulEstimate(estimate, onset_s, f"{self.indicator} path of the last {recent.size} snapshots matched against {len(logs)} "
                                              f"run-to-failure path(s), quantile {self.quantile:g}")

    def settings(self) -> dict:
        return {**self._common(), "window": self.window, "bandwidth": self.bandwidth, "time_bandwidth": self.time_bandwidth, "gate": self.gate}

    def state(self) -> dict[str, np.ndarray]:
        return {"times": self.times, "paths": self.paths, "lengths": self.lengths, **self.fallback.state()}

    def load_state(self, tensors: dict[str, np.ndarray]) -> None:
        self.times, self.paths, self.lengths = (np.asarray(tensors[k], np.float64) for k in ("times", "paths", "lengths"))
        if self.lengths.sum() != self.times.size or self.times.size != self.paths.size:
            raise DataError(f"similarity state: {self.times.size} times, {self.paths.size} path values, lengths summing to {self.lengths.sum():g}")
        self.fallback.load_state(tensors)


@dataclass
class BayesianExponential(_PathModel):
    """Exponential degradation after the onset with a prior from the learning units, updated by the unit (module docstring)."""

    prior_scale: float = 1.0
    kind: str = "bayesian-exponential"
    prior_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    prior_cov: np.ndarray = field(default_factory=lambda: np.zeros(0))
    noise: float = float("nan")
    threshold: float = float("nan")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.prior_scale > 0:
            raise DataError(f"bayesian-exponential prior_scale must be above 0, got {self.prior_scale}")

    def _line(self, unit: Unit, onset_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Post-onset (hours since the onset, relative log HI)."""
        after = unit.time_s >= onset_s
        return (unit.time_s[after] - onset_s) / HOUR, self._hi(unit)[after]

    def fit(self, units: list[Unit]) -> "BayesianExponential":
        units = _failed(units)
        self.fallback.fit(units)
        lines, residuals, at_failure = [], [], []
        for unit in units:
            onset_s = self._onset(unit)
            if onset_s is None:
                continue
            x, y = self._line(unit, onset_s)
            if x.size < 3 or np.ptp(x) <= 0:
                continue
            slope, intercept = np.polyfit(x, y, 1)
            lines.append((intercept, slope))
            residuals.append(y - (intercept + slope * x))
            at_failure.append(float(y[-1]))
        if len(lines) < 2:
            raise DataError(f"bayesian-exponential needs at least 2 fitted units with an onset and 3 snapshots after it, got {len(lines)}")
        lines_a = np.array(lines)
        self.prior_mean = lines_a.mean(axis=0)
        self.prior_cov = self.prior_scale * (np.cov(lines_a.T) + np.diag([1e-4, 1e-6]))
        self.noise = float(max(np.mean(np.concatenate(residuals) ** 2), 1e-6))
        self.threshold = float(np.median(at_failure))
        return self

    def predict(self, history: Unit) -> RulEstimate:
        _require(history, self.min_history, self.kind)
        if self.prior_mean.size == 0:
            raise DataError("the bayesian-exponential model is not fitted")
        onset_s = self._onset(history)
        if onset_s is None:
            return self._floor(history, "no onset yet")
        x, y = self._line(history, onset_s)
        if y[-1] >= self.threshold:
            return RulEstimate(0.0, onset_s, f"relative log {self.indicator} {y[-1]:.2f} at or above the failure level {self.threshold:.2f}")
        design = np.column_stack([np.ones_like(x), x])
        precision = np.linalg.inv(self.prior_cov)
        cov = np.linalg.inv(precision + design.T @ design / self.noise)
        mean = cov @ (precision @ self.prior_mean + design.T @ y / self.noise)
        draws = np.random.default_rng(0).multivariate_normal(mean, cov, DRAWS)
        rising = draws[:, 1] > 0
        hours = np.where(rising, (self.threshold - draws[:, 0]) / np.where(rising, draws[:, 1], 1.0), np.inf)
        rul = np.maximum(onset_s + hours * HOUR - float(history.time_s[-1]), 0.0)
        with np.errstate(invalid="ignore"):  # between two never-failing draws (inf) the quantile is nan: no failure, as inf
            estimate = float(np.quantile(rul, self.quantile))
        if not math.isfinite(estimate):
            return self._floor(history, f"{self.indicator} not rising after the onset (posterior)")
        return RulEstimate(estimate, onset_s, f"Bayesian exponential {self.indicator} path from {x.size} post-onset snapshots to the "
                                              f"failure level {self.threshold:.2f}, quantile {self.quantile:g}")

    def settings(self) -> dict:
        return {**self._common(), "prior_scale": self.prior_scale}

    def state(self) -> dict[str, np.ndarray]:
        return {"prior_mean": self.prior_mean, "prior_cov": self.prior_cov, "noise": np.array([self.noise]),
                "failure_level": np.array([self.threshold]), **self.fallback.state()}

    def load_state(self, tensors: dict[str, np.ndarray]) -> None:
        self.prior_mean = np.asarray(tensors["prior_mean"], np.float64)
        self.prior_cov = np.asarray(tensors["prior_cov"], np.float64).reshape(2, 2)
        self.noise = float(np.asarray(tensors["noise"])[0])
        self.threshold = float(np.asarray(tensors["failure_level"])[0])
        self.fallback.load_state(tensors)
