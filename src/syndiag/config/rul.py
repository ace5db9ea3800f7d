"""The RUL recipe (issue 16): which units, the leave-one-bearing-out cuts and settings grids, which model ``rul fit`` keeps."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from syndiag.config.base import StrictModel
from syndiag.config.data import DATA_ROOT_ENV, resolve_data_root

Family = Literal["mean-residual-life", "exponential-trend", "linear-trend", "history-regression", "sensor-regression", "similarity",
                 "bayesian-exponential", "survival"]
FITTABLE = get_args(Family)
"""Families `syndiag rul fit` saves: every one (sensor-regression with the sensor model that computes its indicator)."""
INTERVALS = "by-state"
"""How intervals are calibrated (issue 32: Mondrian conformal by onset state, with width recorded); part of every family's
config hash but the sensor family's, whose three seeds were scored before it and are not rerun (20-29 min per seed)."""


def _default_grid() -> dict[str, list[dict[str, Any]]]:
    trends = [{"indicator": i, "threshold": t, "window": w} for i, t in (("peak", 20.0), ("rms", None), ("kurtosis", None)) for w in (10, 20)]
    regressions = [{"history": h, "alpha": a, "shrink": s} for h in (1, 6, 12) for a in (1.0, 10.0, 100.0) for s in (0.5, 0.75, 1.0)]
    sensor = [{"history": h, "alpha": a, "shrink": s} for h in (1, 6) for a in (10.0, 100.0) for s in (0.75, 1.0)]
    similarity = [{"indicator": "rms", "window": w, "bandwidth": b, "quantile": q, "time_bandwidth": tb, "gate": g}
                  for w in (5, 10, 20) for b in (0.5, 1.0) for q in (0.3, 0.5) for tb in (0.0, 0.5, 1.0) for g in (False, True)]
    bayesian = [{"indicator": i, "prior_scale": p, "quantile": q} for i in ("rms", "peak") for p in (1.0, 4.0) for q in (0.3, 0.5)]
    survival = [{"covariates": v, "window": w, "quantile": q, "clip": c} for v in (["level", "slope", "kurtosis"], ["level", "slope", "kurtosis", "age"],
                                                                                  ["level", "slope", "kurtosis", "temperature"])
                for w in (5, 20) for q in (0.3, 0.5) for c in (False, True)]
    return {"mean-residual-life": [{}], "exponential-trend": trends, "linear-trend": trends, "history-regression": regressions,
            "sensor-regression": sensor, "similarity": similarity, "bayesian-exponential": bayesian, "survival": survival}


class RulConfig(StrictModel):
    """Settings are chosen by leave-one-bearing-out on the learning units only; the test units are scored once per family."""

    profile: str = "custom"
    data_root: Path | None = Field(None, description=f"folder holding femto/ (or Learning_set/ and Test_set/); falls back to ${DATA_ROOT_ENV}")
    spec: Path | None = Field(None, description="your own run-to-failure units: a YAML spec with a run_to_failure section "
                              "(syndiag/data/run_to_failure.py); unset: FEMTO under data_root")
    learning: list[str] | None = Field(None, description="learning bearings (None: every one in Learning_set)")
    test: list[str] | None = Field(None, description="test bearings scored by the suite (None: every one in Test_set)")
    bands: int = Field(8, ge=1, le=64, description="spectral bands per axis among the health features")
    cuts: list[float] = Field(default_factory=lambda: [0.3, 0.5, 0.7, 0.8, 0.9], min_length=1,
                              description="leave-one-bearing-out: each held-out bearing is cut at these fractions of its snapshots")
    levels: list[float] = Field(default_factory=lambda: [0.8, 0.95], min_length=1, description="nominal levels of the prediction intervals")
    model: Family = Field("history-regression", description="the family `syndiag rul fit` selects, fits and saves")
    grid: dict[Family, list[dict[str, Any]]] = Field(default_factory=_default_grid, description="settings tried per family")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="seeds of the stochastic family (sensor-regression)")
    sensor_recipe: Path = Field(Path("sensor/femto.yaml"), description="the sensor model whose fused representation is the learned indicator")
    sensor_overrides: dict[str, Any] = Field(default_factory=lambda: {"model.num_layers": 4},
                                             description="dotted overrides of the sensor recipe (cheaper than the stages recipe: 4 LM blocks)")
    sensor_components: int = Field(8, ge=1, description="PCA components of the fused vector kept as the learned indicator")
    output_dir: Path = Path("runs/rul")
    results_file: Path = Path("runs/results.jsonl")
    cache_dir: Path | None = Field(None, description="health-feature cache (default: $SYNDIAG_CACHE/rul-features, else .syndiag-cache)")

    @field_validator("cuts")
    @classmethod
    def _cuts(cls, value: list[float]) -> list[float]:
        if any(not 0 < c <= 1 for c in value):
            raise ValueError(f"every cut must be a fraction in (0, 1], got {value}")
        return value

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in value):
            raise ValueError(f"every interval level must be in (0, 1), got {value}")
        return value

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict) -> dict:
        empty = [name for name, settings in value.items() if not settings]
        if empty:
            raise ValueError(f"grid: family {', '.join(empty)} has no settings to try")
        return value

    def resolved_data_root(self) -> Path | None:
        return resolve_data_root(self.data_root)

    def config_hash(self, family: str | None = None) -> str:
        material = self.model_dump(mode="json", include={"learning", "test", "bands", "cuts", "levels"} | ({"spec"} if self.spec else set()))
        if family == "sensor-regression":
            material.update(self.model_dump(mode="json", include={"sensor_recipe", "sensor_overrides", "sensor_components"}))
        else:
            material["intervals"] = INTERVALS
        material["grid"] = self.grid.get(family) if family else self.grid
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:12]
