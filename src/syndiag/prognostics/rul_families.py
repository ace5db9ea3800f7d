"""The RUL model families by name (issues 16, 32): the registry `rul fit`, the suite and checkpoints build models from.

Baselines: ``mean-residual-life`` (the floor), ``exponential-trend`` and ``linear-trend`` (the practitioner's trends),
``history-regression`` and ``sensor-regression`` (ridge on health features or the sensor model's indicators), all in
:mod:`syndiag.prognostics.rul_models`; from the learning units' degradation paths (:mod:`syndiag.prognostics.rul_degradation`):
``similarity`` (trajectory matching) and ``bayesian-exponential`` (a prior from the learning units, updated by the unit);
``survival``, a Weibull accelerated-failure-time model on every learning snapshot as a landmark, its covariates the health
indicators then (:mod:`syndiag.prognostics.rul_survival`).
"""

from __future__ import annotations

from functools import partial

from syndiag.errors import DataError
from syndiag.prognostics.rul_degradation import BayesianExponential, SimilarityRul
from syndiag.prognostics.rul_models import DegradationTrend, HistoryRegression, MeanResidualLife, RulModel
from syndiag.prognostics.rul_survival import WeibullSurvival

MODELS = {"mean-residual-life": MeanResidualLife, "exponential-trend": partial(DegradationTrend, model="exponential"),
          "linear-trend": partial(DegradationTrend, model="linear"), "history-regression": HistoryRegression,
          "sensor-regression": partial(HistoryRegression, features="sensor"), "similarity": SimilarityRul,
          "bayesian-exponential": BayesianExponential, "survival": WeibullSurvival}


def build_model(family: str, settings: dict) -> RulModel:
    """A fresh model of ``family`` (a key of :data:`MODELS`) with ``settings``."""
    if family not in MODELS:
        raise DataError(f"unknown RUL model {family!r}; known: {', '.join(MODELS)}")
    try:
        return MODELS[family](**settings)
    except TypeError as error:
        raise DataError(f"RUL model {family!r}: bad settings {settings}: {error}") from None


def features_of(family: str) -> str:
    """The indicators ``family`` reads (its ``features`` kind)."""
    return build_model(family, {}).features


def describe(model: RulModel) -> dict:
    return {"kind": model.kind, "settings": model.settings()}
