"""RUL models behind one interface (issue 16): ``fit(units)``, ``predict(history) -> RulEstimate``.

- :class:`MeanResidualLife`, the floor: the mean remaining life of the fitted units that lived longer than the history
  has run (0 when none did: "due now"); it reads no sensor.
- :class:`DegradationTrend`, the practitioner's baseline: a health indicator (peak, RMS or kurtosis), causally smoothed,
  its onset found as in :mod:`syndiag.prognostics.health`; after the onset an exponential (a line in log HI) or a linear
  trend of the last ``window`` snapshots is extrapolated to the failure threshold (the challenge's 20 g on the peak, or
  the median smoothed HI of the fitted units at their failure). No onset yet, or no rising trend: the floor's estimate.
- :class:`HistoryRegression`, learned: ridge regression of log RUL on a history of the last ``history`` snapshots'
  features (their mean and their slope per hour) and the log elapsed time; each fitted unit weighs the same. The
  features are the handcrafted health features (:mod:`syndiag.prognostics.features`) or any per-snapshot embedding,
  such as the sensor model's fused representation (:mod:`syndiag.prognostics.sensor_indicator`). ``shrink`` < 1 moves
  every estimate earlier (the challenge punishes late estimates four times harder); it is a setting, chosen by
  leave-one-bearing-out like the others.

What a model reads per snapshot is its ``features`` kind ("health": the handcrafted health features of the units as read;
"sensor": the sensor model's fused representation). An :class:`Indicators` of that kind re-expresses the units of each
leave-one-bearing-out fold before the model is fitted, learned on the fold's training units only; the health features
need nothing (:class:`HealthFeatures`), a learned indicator is trained per fold (``syndiag.workflows.rul_sensor``). The
family ``sensor-regression`` is the ridge head on the sensor indicators, registered in
:data:`syndiag.prognostics.rul_families.MODELS` like the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from syndiag.errors import DataError
from syndiag.prognostics.features import indicator
from syndiag.prognostics.health import MIN_BASELINE, onset_index, smooth
from syndiag.prognostics.intervals import FLOOR_S
from syndiag.prognostics.units import Unit

CHALLENGE_FAILURE_G = 20.0


@dataclass
class RulEstimate:
    """One RUL estimate (s) at a history's last snapshot, the onset time (s, None: not yet) and how it was made."""

    rul_s: float
    onset_s: float | None = None
    how: str = ""


class RulModel(Protocol):
    kind: str
    min_history: int
    features: str

    def fit(self, units: list[Unit]) -> "RulModel": ...

    def predict(self, history: Unit) -> RulEstimate: ...

    def settings(self) -> dict: ...

    def state(self) -> dict[str, np.ndarray]: ...


class Indicators(Protocol):
    """The per-snapshot indicators a family's model reads; ``learned``: trained per fold (stochastic: one suite run per seed;
    `rul fit` saves the indicator trained on every learning unit beside the model)."""

    learned: bool

    def express(self, units: list[Unit], held: list[str], fold: str, seed: int | None) -> list[Unit]:
        """``units`` with these indicators as features, in the same order, learned without the units named in ``held``."""
        ...

    def record(self) -> dict:
        """What a results line records about these indicators beyond the family's settings."""
        ...

    def fit_all(self, units: list[Unit], seed: int | None) -> tuple[list[Unit], Any]:
        """``units`` with these indicators learned on all of them, and what computes them for a checkpoint (None: nothing)."""
        ...


@dataclass(frozen=True)
class HealthFeatures:
    """The handcrafted health features the units were read with: nothing to learn."""

    kind: ClassVar[str] = "health"
    learned: bool = False

    def express(self, units: list[Unit], held: list[str], fold: str, seed: int | None) -> list[Unit]:
        return units

    def record(self) -> dict:
        return {}

    def fit_all(self, units: list[Unit], seed: int | None) -> tuple[list[Unit], None]:
        return units, None


def onset_time(unit: Unit, name: str = "rms", smoothing: int = 5, sigmas: float = 3.0, persistence: int = 3,
               baseline_fraction: float = 0.1) -> float | None:
    """Time (s) of the onset of ``name``'s causally smoothed indicator (:mod:`syndiag.prognostics.health`), None: none yet,
    too few snapshots to tell, or features without that indicator (a learned embedding)."""
    if len(unit) < MIN_BASELINE + persistence or f"h_log_{name}" not in unit.features.names:
        return None
    raw = indicator(unit.features, name)
    hi = smooth(raw, smoothing, causal=True)
    baseline = min(max(MIN_BASELINE, int(round(baseline_fraction * hi.size))), hi.size - persistence)
    onset = onset_index(hi, baseline, sigmas, persistence, float(raw[:baseline].std()))
    return None if onset is None else float(unit.time_s[onset])


def _require(history: Unit, count: int, kind: str) -> None:
    if len(history) < count:
        raise DataError(f"{history.name}: {len(history)} snapshot(s); the {kind} RUL model needs a history of at least {count}")


def _failed(units: list[Unit]) -> list[Unit]:
    if not units:
        raise DataError("fitting a RUL model needs at least one unit that ran to failure")
    bad = [u.name for u in units if not u.failed]
    if bad:
        raise DataError(f"fitting a RUL model needs units that ran to failure; {', '.join(bad)} did not")
    return units


@dataclass
class MeanResidualLife:
    """The floor: E[life - t | life > t] over the fitted units' lives."""

    kind: str = "mean-residual-life"
    min_history: int = 1
    features: ClassVar[str] = "health"
    lives_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, units: list[Unit]) -> "MeanResidualLife":
        self.lives_s = np.array([u.time_s[-1] for u in _failed(units)], dtype=np.float64)
        return self

    def predict(self, history: Unit) -> RulEstimate:
        _require(history, self.min_history, self.kind)
        if self.lives_s.size == 0:
            raise DataError("the mean-residual-life model is not fitted")
        t = float(history.time_s[-1])
        longer = self.lives_s[self.lives_s > t]
        if longer.size == 0:
            return RulEstimate(0.0, onset_time(history), f"no fitted unit lived past {t:.0f} s: due now")
        return RulEstimate(float(longer.mean() - t), onset_time(history), f"mean remaining life of {longer.size} unit(s) that lived past {t:.0f} s")

    def settings(self) -> dict:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        return {"lives_s": self.lives_s.astype(np.float64)}

    def load_state(self, tensors: dict[str, np.ndarray]) -> None:
        self.lives_s = np.asarray(tensors["lives_s"], np.float64)


@dataclass
class DegradationTrend:
    """Exponential or linear trend of a health indicator after its onset, extrapolated to a failure threshold."""

    model: str = "exponential"
    indicator: str = "peak"
    window: int = 10
    threshold: float | None = CHALLENGE_FAILURE_G
    smoothing: int = 5
    sigmas: float = 3.0
    persistence: int = 3
    baseline_fraction: float = 0.1
    kind: str = "trend"
    features: ClassVar[str] = "health"
    fallback: MeanResidualLife = field(default_factory=MeanResidualLife)
    fitted_threshold: float = float("nan")

    def __post_init__(self) -> None:
        if self.model not in ("exponential", "linear"):
            raise DataError(f"trend model must be exponential or linear, got {self.model!r}")
        if self.window < 3:
            raise DataError(f"trend window must be at least 3 snapshots, got {self.window}")
        self.kind = f"{self.model}-trend"

    @property
    def min_history(self) -> int:
        return MIN_BASELINE + self.persistence

    def _smoothed(self, unit: Unit) -> np.ndarray:
        return smooth(indicator(unit.features, self.indicator), self.smoothing, causal=True)

    def fit(self, units: list[Unit]) -> "DegradationTrend":
        self.fallback.fit(units)
        at_failure = [float(self._smoothed(u)[-1]) for u in _failed(units)]
        self.fitted_threshold = float(self.threshold if self.threshold is not None else np.median(at_failure))
        return self

    def predict(self, history: Unit) -> RulEstimate:
        _require(history, self.min_history, self.kind)
        hi = self._smoothed(history)
        t = history.time_s
        onset_s = onset_time(history, self.indicator, self.smoothing, self.sigmas, self.persistence, self.baseline_fraction)
        if onset_s is None:
            floor = self.fallback.predict(history)
            return RulEstimate(floor.rul_s, None, f"no onset yet; {floor.how}")
        onset = int(np.searchsorted(t, onset_s))
        if hi[-1] >= self.fitted_threshold:
            return RulEstimate(0.0, onset_s, f"{self.indicator} {hi[-1]:.3g} at or above the threshold {self.fitted_threshold:.3g}")
        since = np.arange(max(onset, hi.size - self.window), hi.size)
        if since.size < 3:
            floor = self.fallback.predict(history)
            return RulEstimate(floor.rul_s, onset_s, f"onset {since.size} snapshot(s) ago, too few for a trend; {floor.how}")
        exponential = self.model == "exponential"
        y = np.log(np.maximum(hi[since], 1e-12)) if exponential else hi[since]
        slope, intercept = np.polyfit(t[since], y, 1)
        if not slope > 0:
            floor = self.fallback.predict(history)
            return RulEstimate(floor.rul_s, onset_s, f"{self.indicator} not rising after the onset; {floor.how}")
        target = math.log(self.fitted_threshold) if exponential else self.fitted_threshold
        return RulEstimate(max(0.0, float((target - intercept) / slope - t[-1])), onset_s,
                           f"{self.model} trend of the {self.indicator} over {since.size} snapshots to {self.fitted_threshold:.3g}")

    def settings(self) -> dict:
        return {"indicator": self.indicator, "window": self.window, "threshold": self.threshold,
                "smoothing": self.smoothing, "sigmas": self.sigmas, "persistence": self.persistence, "baseline_fraction": self.baseline_fraction}

    def state(self) -> dict[str, np.ndarray]:
        return {"threshold": np.array([self.fitted_threshold]), **self.fallback.state()}

    def load_state(self, tensors: dict[str, np.ndarray]) -> None:
        self.fitted_threshold = float(np.asarray(tensors["threshold"])[0])
        self.fallback.load_state(tensors)


def history_design(values: np.ndarray, time_s: np.ndarray, end: int, history: int) -> np.ndarray:
    """The regression inputs at snapshot ``end`` (inclusive): mean and slope per hour of the last ``history`` rows, log elapsed time."""
    rows = slice(end - history + 1, end + 1)
    block, t = values[rows], time_s[rows]
    mean = block.mean(axis=0)
    if history > 1 and np.ptp(t) > 0:
        centred = (t - t.mean()) / 3600.0
        slope = (centred[:, None] * (block - mean)).sum(axis=0) / (centred**2).sum()
    else:
        slope = np.zeros_like(mean)
    return np.concatenate([mean, slope, [math.log(max(float(time_s[end]), FLOOR_S))]])


@dataclass
class HistoryRegression:
    """Ridge regression of log RUL on a history of per-snapshot features (see the module docstring)."""

    history: int = 6
    alpha: float = 10.0
    shrink: float = 1.0
    features: str = "health"
    kind: str = "history-regression"
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.history < 1 or self.alpha < 0 or not 0 < self.shrink <= 2:
            raise DataError(f"history-regression settings out of range: history {self.history}, alpha {self.alpha}, shrink {self.shrink}")

    @property
    def min_history(self) -> int:
        return self.history

    def fit(self, units: list[Unit]) -> "HistoryRegression":
        xs, ys, ws = [], [], []
        for unit in _failed(units):
            ends = range(self.history - 1, len(unit))
            if not ends:
                continue
            xs.extend(history_design(unit.features.values, unit.time_s, e, self.history) for e in ends)
            ys.extend(math.log(max(float(unit.rul_s[e]), FLOOR_S)) for e in ends)
            ws.extend([1.0 / len(ends)] * len(ends))
        if not xs:
            raise DataError(f"no fitted unit has the {self.history} snapshots the history needs")
        x, y, w = np.array(xs), np.array(ys), np.array(ws)
        self.mean = np.average(x, axis=0, weights=w)
        self.scale = np.sqrt(np.average((x - self.mean) ** 2, axis=0, weights=w))
        self.scale[self.scale < 1e-9] = 1.0
        z = (x - self.mean) / self.scale
        y_mean = float(np.average(y, weights=w))
        gram = (z * w[:, None]).T @ z + self.alpha * np.eye(z.shape[1]) * w.sum() / len(w)
        self.coef = np.linalg.solve(gram, (z * w[:, None]).T @ (y - y_mean))
        self.intercept = y_mean
        return self

    def predict(self, history: Unit) -> RulEstimate:
        _require(history, self.min_history, self.kind)
        if self.coef.size == 0:
            raise DataError("the history-regression model is not fitted")
        x = history_design(history.features.values, history.time_s, len(history) - 1, self.history)
        if x.size != self.mean.size:
            raise DataError(f"{history.name}: {history.features.values.shape[1]} features per snapshot; the model was fitted on "
                            f"{(self.mean.size - 1) // 2}")
        log_rul = float(((x - self.mean) / self.scale) @ self.coef + self.intercept)
        return RulEstimate(self.shrink * math.exp(log_rul), onset_time(history), f"ridge on the last {self.history} snapshots' {self.features} features")

    def settings(self) -> dict:
        return {"history": self.history, "alpha": self.alpha, "shrink": self.shrink, "features": self.features}

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": np.array([self.intercept])}

    def load_state(self, tensors: dict[str, np.ndarray]) -> None:
        self.mean, self.scale, self.coef = (np.asarray(tensors[k], np.float64) for k in ("mean", "scale", "coef"))
        self.intercept = float(np.asarray(tensors["intercept"])[0])
