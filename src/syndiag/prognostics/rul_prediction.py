"""A RUL estimate with its intervals (issues 16, 32) and the predictor that serves a `syndiag rul fit` checkpoint to every
consumer (`rul predict`, the live service): loaded and checked once, then ``predict(unit) -> RulPrediction``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from syndiag.errors import DataError
from syndiag.prognostics.features import DEFAULT_BANDS, FeatureTable, feature_names, snapshot_features
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_checkpoint import RulCheckpoint, load_rul
from syndiag.prognostics.rul_models import HealthFeatures, RulModel
from syndiag.prognostics.units import Unit


@dataclass
class RulPrediction:
    """A RUL estimate at a unit's last snapshot with its intervals ``{level: (low, high)}`` (s) and onset (s, None: not yet)."""

    unit: str
    time_s: float
    rul_s: float
    intervals: dict[float, tuple[float, float]]
    onset_s: float | None
    how: str
    actual_rul_s: float | None = None
    official: str | None = None
    condition: str = ""
    degrading: bool = True
    at_least_s: dict[float, float] = field(default_factory=dict)
    """No onset yet: per level, the RUL the unit exceeds with that confidence ("no degradation yet: at least X h")."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "intervals": {str(k): list(v) for k, v in self.intervals.items()},
                "at_least_s": {str(k): v for k, v in self.at_least_s.items()}}


def predict_unit(model: RulModel, intervals: ConformalIntervals, levels: list[float], unit: Unit) -> RulPrediction:
    estimate = model.predict(unit)
    degrading = estimate.onset_s is not None
    bounds = {level: tuple(float(b) for b in intervals.bounds(estimate.rul_s, level, degrading)) for level in levels}
    at_least = {} if degrading else {level: intervals.at_least(estimate.rul_s, level, False) for level in levels}
    return RulPrediction(unit.name, float(unit.time_s[-1]), float(estimate.rul_s), bounds, estimate.onset_s, estimate.how, unit.actual_rul_s,
                         unit.official, unit.condition, degrading, at_least)


class UnitIndicators(Protocol):
    """A learned indicator saved with a RUL model: re-expresses a unit read from its folder (its snapshots through the model)."""

    def express(self, unit: Unit, folder: Path, operating: tuple[float, float] | None = None) -> Unit: ...


class RulPredictor:
    """A RUL checkpoint: ``express`` gives a unit read from its folder the indicators the model reads (its health features
    as read, or a learned indicator's: ``indicators``), ``predict`` a history a RulPrediction; ``snapshot`` turns live signals
    into a health-feature row (a model on learned indicators is refused there)."""

    def __init__(self, saved: RulCheckpoint, folder: Path, indicators: UnitIndicators | None = None) -> None:
        if saved.model.features != HealthFeatures.kind and indicators is None:
            raise DataError(f"{folder}: its {saved.family} model reads {saved.model.features} indicators, which its indicator/ model "
                            f"computes from a unit folder's recorded snapshots (`syndiag rul predict`); live snapshots give "
                            f"{HealthFeatures.kind} features only")
        self.saved, self.folder, self.indicators = saved, Path(folder), indicators
        self.bands = int(saved.meta.get("bands", DEFAULT_BANDS))

    @classmethod
    def from_pretrained(cls, folder: Path | str) -> "RulPredictor":
        return cls(load_rul(folder), Path(folder))

    @property
    def family(self) -> str:
        return self.saved.family

    @property
    def min_history(self) -> int:
        return int(self.saved.model.min_history)

    def snapshot(self, horizontal: np.ndarray, vertical: np.ndarray, fs: float) -> np.ndarray:
        """The health-feature row of one snapshot (one sensor: the same signal for both axes)."""
        return snapshot_features(np.asarray(horizontal)[None, :], np.asarray(vertical)[None, :], fs, self.bands).values[0]

    def unit(self, name: str, time_s: np.ndarray, rows: np.ndarray, condition: str = "live") -> Unit:
        """A running (truncated) unit of snapshot times (s from its first) and feature rows."""
        return Unit(name, condition, np.asarray(time_s, np.float64), FeatureTable(feature_names(self.bands), np.asarray(rows, np.float64)), False)

    def express(self, unit: Unit, folder: Path, operating: tuple[float, float] | None = None) -> Unit:
        """``unit``, read from ``folder``, with the indicators this model reads."""
        return unit if self.indicators is None else self.indicators.express(unit, folder, operating)

    def predict(self, unit: Unit) -> RulPrediction:
        return predict_unit(self.saved.model, self.saved.intervals, self.saved.levels, unit)
