"""Leave-one-bearing-out (LOBO): held-out predictions, the settings with the best challenge score, errors and coverage.

Each fold re-expresses the units with the family's indicators (learned without the held-out unit) once, and every setting
of the grid is fitted on that fold: one sensor model per fold for a family on learned indicators, not one per setting."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from syndiag.errors import ConfigError
from syndiag.prognostics.intervals import FLOOR_S, ConformalIntervals
from syndiag.prognostics.rul_families import build_model
from syndiag.prognostics.rul_models import HealthFeatures, Indicators, RulModel
from syndiag.prognostics.rul_prediction import RulPrediction
from syndiag.prognostics.score import interval_coverage, percent_error, rul_errors
from syndiag.prognostics.units import Unit


@dataclass
class LoboRow:
    unit: str
    cut: float
    count: int
    time_s: float
    actual_s: float
    predicted_s: float
    how: str
    degrading: bool = True
    """Whether the prediction was made after the unit's onset (its interval state, :mod:`syndiag.prognostics.intervals`)."""


@dataclass
class Selection:
    family: str
    settings: dict[str, Any]
    rows: list[LoboRow]
    tried: list[dict[str, Any]] = field(default_factory=list)


def lobo_rows(family: str, settings: dict[str, Any], units: list[Unit], cuts: list[float]) -> list[LoboRow]:
    """Each unit held out in turn, cut at each fraction (at least the model's history), predicted by the model fitted on the others."""
    return lobo_grid(family, [settings], units, cuts)[0]


def lobo_grid(family: str, grid: list[dict[str, Any]], units: list[Unit], cuts: list[float], indicators: Indicators = HealthFeatures(),
              seed: int | None = None) -> list[list[LoboRow]]:
    """Per settings of ``grid``, the LOBO rows: each unit held out in turn, the others re-expressed by ``indicators`` for the fold."""
    if len(units) < 2:
        raise ConfigError(f"leave-one-bearing-out needs at least 2 learning units, got {len(units)}")
    rows: list[list[LoboRow]] = [[] for _ in grid]
    for held in units:
        fold = indicators.express(units, [held.name], held.name, seed)
        others, mine = [u for u in fold if u.name != held.name], next(u for u in fold if u.name == held.name)
        for found, settings in zip(rows, grid):
            found += held_out_rows(build_model(family, settings).fit(others), mine, cuts)
    return rows


def held_out_rows(model: RulModel, held: Unit, cuts: list[float]) -> list[LoboRow]:
    """The held-out unit cut at each fraction of its snapshots (at least the model's history), predicted by ``model``."""
    rows = []
    for cut in cuts:
        count = min(len(held), max(math.ceil(cut * len(held)), model.min_history))
        history = held.history(count)
        estimate = model.predict(history)
        rows.append(LoboRow(held.name, cut, count, float(history.time_s[-1]), max(float(history.actual_rul_s), FLOOR_S),
                            float(estimate.rul_s), estimate.how, estimate.onset_s is not None))
    return rows


def lobo_summary(rows: list[LoboRow], levels: list[float]) -> dict[str, Any]:
    """Errors over all LOBO predictions and per held-out unit; coverage of each level with the other units' residuals."""
    actual, predicted = np.array([r.actual_s for r in rows]), np.array([r.predicted_s for r in rows])
    found = rul_errors(actual, predicted)
    units = sorted({r.unit for r in rows})
    found["per_unit"] = {u: rul_errors(actual[m], predicted[m]) for u in units if (m := np.array([r.unit == u for r in rows])).any()}
    degrading = np.array([r.degrading for r in rows])
    for level in levels:
        low, high = np.zeros(len(rows)), np.zeros(len(rows))
        for unit in units:
            mine = np.array([r.unit == unit for r in rows])
            intervals = ConformalIntervals.calibrate(actual[~mine], predicted[~mine], degrading[~mine])
            for i in np.flatnonzero(mine):
                low[i], high[i] = (float(b) for b in intervals.bounds(predicted[i], level, bool(degrading[i])))
            found["per_unit"][unit][f"coverage_{level:g}"] = interval_coverage(actual[mine], low[mine], high[mine])
        found[f"coverage_{level:g}"] = interval_coverage(actual, low, high)
        found[f"interval_ratio_{level:g}_median"] = float(np.median(high / low))
    found["degrading_share"] = float(degrading.mean())
    return found


def select(family: str, grid: list[dict[str, Any]], units: list[Unit], cuts: list[float], say: Callable[[str], None] | None = None,
           indicators: Indicators = HealthFeatures(), seed: int | None = None) -> Selection:
    """The settings of ``grid`` with the best LOBO challenge score (then the lowest RMSE)."""
    best, tried = None, []
    for settings, rows in zip(grid, lobo_grid(family, grid, units, cuts, indicators, seed)):
        errors = rul_errors([r.actual_s for r in rows], [r.predicted_s for r in rows])
        tried.append({"settings": settings, "score": errors["score"], "rmse_s": errors["rmse_s"]})
        if best is None or (errors["score"], -errors["rmse_s"]) > (best[0], -best[1]):
            best = (errors["score"], errors["rmse_s"], settings, rows)
        if say:
            say(f"{family} {settings}: LOBO score {errors['score']:.3f}, RMSE {errors['rmse_s']:.0f} s")
    assert best is not None
    return Selection(family, best[2], best[3], tried)


def fit_selected(selection: Selection, units: list[Unit]) -> tuple[RulModel, ConformalIntervals]:
    """The selected settings fitted on every learning unit, with intervals calibrated on the LOBO predictions."""
    model = build_model(selection.family, selection.settings).fit(units)
    rows = selection.rows
    return model, ConformalIntervals.calibrate([r.actual_s for r in rows], [r.predicted_s for r in rows], [r.degrading for r in rows])


def score_units(predictions: list[RulPrediction], levels: list[float]) -> dict[str, Any]:
    """Challenge score, RMSE, MAE, late count, coverage per level and per-unit percent errors of predictions with known RULs."""
    known = [p for p in predictions if p.actual_rul_s is not None]
    if not known:
        raise ConfigError("no test unit has a known actual RUL to score against")
    actual, predicted = np.array([p.actual_rul_s for p in known]), np.array([p.rul_s for p in known])
    found = rul_errors(actual, predicted)
    errors = percent_error(actual, predicted)
    found["per_unit"] = {p.unit: {"actual_s": p.actual_rul_s, "predicted_s": p.rul_s, "percent_error": float(e),
                                  "intervals": {str(k): list(v) for k, v in p.intervals.items()}} for p, e in zip(known, errors)}
    for level in levels:
        low, high = np.array([p.intervals[level][0] for p in known]), np.array([p.intervals[level][1] for p in known])
        found[f"coverage_{level:g}"] = interval_coverage(actual, low, high)
        found[f"interval_ratio_{level:g}_median"] = float(np.median(high / low))
        bounded = [(p.actual_rul_s, p.at_least_s[level]) for p in known if level in p.at_least_s]
        if bounded:
            found[f"at_least_{level:g}_held"] = f"{sum(a >= b for a, b in bounded)} of {len(bounded)}"
    found["degrading"] = sum(p.degrading for p in known)
    for p, e in zip(known, errors):
        found["per_unit"][p.unit].update({"degrading": p.degrading, "at_least_s": {str(k): v for k, v in p.at_least_s.items()}})
    return found
