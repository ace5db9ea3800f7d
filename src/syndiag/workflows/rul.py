"""Remaining useful life (issue 16) as library functions: leave-one-bearing-out selection, fit, predict, the rul suite.

Protocol (MANIFEST §3): every setting is chosen by leave-one-bearing-out (LOBO) on the learning units only: each
held-out unit is cut at ``config.cuts`` fractions of its snapshots and predicted from the model fitted on the others;
the settings with the best challenge score win (RMSE breaks ties). Interval residuals are those LOBO predictions; the
coverage reported for a held-out unit uses only the other units' residuals. Test units are scored once per family,
one prediction at their last snapshot, and every such scoring is a line in the results file.

Every family runs the same way: its indicators (:data:`INDICATORS`, by the ``features`` kind its model reads) re-express
the units of each fold; a family on learned indicators runs once per seed, and `rul fit` saves it with the indicator
trained on every learning unit (its first seed), which `rul predict` reads a unit folder through (:data:`SAVED_INDICATORS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.rul import RulConfig
from syndiag.errors import ConfigError, DataError
from syndiag.evaluation.provenance import check_committed_code, provenance
from syndiag.prognostics.rul_checkpoint import IndicatorParts, RulCheckpoint, load_rul, save_rul
from syndiag.prognostics.rul_families import build_model, features_of
from syndiag.prognostics.rul_models import HealthFeatures, Indicators
from syndiag.prognostics.units import Unit, default_cache_dir, read_unit, read_units, spec_unit, spec_units_read
from syndiag.prognostics.rul_prediction import RulPrediction, RulPredictor, UnitIndicators, predict_unit
from syndiag.workflows.rul_lobo import Selection, fit_selected, lobo_summary, score_units, select


def learning_units(config: RulConfig) -> list[Unit]:
    if config.spec is not None:
        return spec_units_read(config.spec, "learning", config.learning, config.bands)
    return read_units(_root(config), "learning", config.learning, config.bands, _cache(config))


def test_units(config: RulConfig) -> list[Unit]:
    if config.spec is not None:
        return spec_units_read(config.spec, "test", config.test, config.bands)
    return read_units(_root(config), "test", config.test, config.bands, _cache(config))


def _root(config: RulConfig) -> Path:
    root = config.resolved_data_root()
    if root is None:
        raise ConfigError("no data: pass --data-root (the folder holding femto/) or set $SYNDIAG_DATA")
    return root


def _cache(config: RulConfig) -> Path:
    return Path(config.cache_dir) if config.cache_dir is not None else default_cache_dir()


def _sensor_indicators(config: RulConfig, say: Callable[[str], None]) -> Indicators:
    # deferred: the sensor model's indicators need torch and sklearn; the health families need neither
    from syndiag.workflows.rul_sensor import SensorIndicators

    return SensorIndicators(config, say)


INDICATORS: dict[str, Callable[[RulConfig, Callable[[str], None]], Indicators]] = {
    "health": lambda config, say: HealthFeatures(), "sensor": _sensor_indicators}
"""The indicators of each ``features`` kind a RUL model reads."""


def indicators_of(family: str, config: RulConfig, say: Callable[[str], None] = print) -> Indicators:
    return INDICATORS[features_of(family)](config, say)


def _saved_sensor_indicator(parts: IndicatorParts) -> UnitIndicators:
    # deferred: reading a unit through the sensor model needs torch; a model on health features does not
    from syndiag.workflows.rul_sensor import SavedSensorIndicator

    return SavedSensorIndicator.from_parts(parts)


SAVED_INDICATORS: dict[str, Callable[[IndicatorParts], UnitIndicators]] = {"sensor": _saved_sensor_indicator}
"""The reader of each learned ``features`` kind a saved RUL model may read, from the parts `rul fit` saved beside it."""


def rul_predictor(checkpoint: Path | str) -> RulPredictor:
    """The predictor of a `rul fit` checkpoint, with the learned indicator it reads when it reads one."""
    saved: RulCheckpoint = load_rul(checkpoint)
    kind = saved.model.features
    if kind == HealthFeatures.kind:
        return RulPredictor(saved, Path(checkpoint))
    if saved.indicator is None or kind not in SAVED_INDICATORS:
        raise DataError(f"{checkpoint}: its {saved.family} model reads {kind} indicators, and the checkpoint holds no model that "
                        "computes them (no indicator/ folder); run `syndiag rul fit` again")
    return RulPredictor(saved, Path(checkpoint), SAVED_INDICATORS[kind](saved.indicator))


@dataclass
class RulFitOutcome:
    checkpoint: Path
    selection: Selection
    lobo: dict[str, Any]
    seconds: float
    units: list[Unit]
    """The learning units as the saved model read them (with its learned indicator when it reads one)."""


def run_rul_fit(config: RulConfig, say: Callable[[str], None] | None = None) -> RulFitOutcome:
    """``syndiag rul fit``: select the family's settings by LOBO, fit on every learning unit, save the checkpoint. A family on
    learned indicators (sensor-regression) trains its indicator per fold for the selection, then once on every learning
    unit (the first of ``seeds``), saved beside the model."""
    started = time.perf_counter()
    if config.model not in config.grid:
        raise ConfigError(f"grid: no settings for the model {config.model!r} (grid families: {', '.join(config.grid)})")
    indicators = indicators_of(config.model, config, say or (lambda line: None))
    seed = config.seeds[0] if indicators.learned else None
    units = learning_units(config)
    selection = select(config.model, config.grid[config.model], units, config.cuts, say, indicators, seed)
    units, parts = indicators.fit_all(units, seed)
    model, intervals = fit_selected(selection, units)
    lobo = lobo_summary(selection.rows, config.levels)
    learned = {**indicators.record(), "seed": seed} if indicators.learned else {}
    folder = save_rul(Path(config.output_dir) / "rul-model", config.model, model, intervals, config.levels, {
        "units": [u.name for u in units], "bands": config.bands, "cuts": config.cuts, "lobo": {k: v for k, v in lobo.items() if k != "per_unit"},
        "tried": selection.tried, "config_hash": config.config_hash(config.model), **learned, **provenance()}, parts)
    return RulFitOutcome(folder, selection, lobo, time.perf_counter() - started, units)


def operating_label(rpm: float | None, load_n: float | None) -> str | None:
    """``1800rpm_4000N`` (or the half given) from the flags; None when neither is given."""
    for name, value in (("rpm", rpm), ("load", load_n)):
        if value is not None and not value > 0:
            raise ConfigError(f"--{name} must be above 0, got {value}")
    parts = [f"{rpm:g}rpm" if rpm is not None else "", f"{load_n:g}N" if load_n is not None else ""]
    return "_".join(p for p in parts if p) or None


def run_rul_predict(checkpoint: Path, folder: Path, png: Path | None = None, spec: Path | None = None, rpm: float | None = None,
                    load_n: float | None = None) -> tuple[RulPrediction, Path | None]:
    """``syndiag rul predict``: one unit's folder of snapshots (FEMTO layout, or ``spec``'s) -> RUL, intervals, onset, the PNG.
    Any folder name: the condition comes from ``rpm``/``load_n`` (or the spec), never from the name; the official RUL only for
    a folder whose last snapshot is an official test bearing's by content."""
    predictor = rul_predictor(checkpoint)
    condition = operating_label(rpm, load_n)
    if spec is not None:
        if predictor.indicators is not None:
            raise ConfigError(f"--spec: {checkpoint}'s {predictor.family} model reads its units through a sensor model trained on the "
                              "FEMTO layout (acc_NNNNN.csv snapshots); predict a folder of that layout, without --spec")
        unit = spec_unit(folder, spec, predictor.bands, condition)
    else:
        unit = read_unit(folder, "test", predictor.bands, cache_dir=None, condition=condition or "unspecified")
    operating = None if rpm is None else (rpm, float("nan") if load_n is None else load_n)
    prediction = predictor.predict(unit if spec is not None else predictor.express(unit, Path(folder), operating))
    if png is None:
        return prediction, None
    # deferred: the plot's module imports matplotlib and the metrics (sklearn); reading and predicting need neither
    from syndiag.evaluation.rul_plot import write_prediction_png

    written = write_prediction_png(unit, prediction, png)
    return prediction, written


def run_rul_suite(config: RulConfig, results: Path, figure_dir: Path, say: Callable[[str], None] = print,
                  allow_dirty: bool = False) -> tuple[int, int]:
    """Every family of the grid (one on learned indicators once per seed): LOBO selection, then the test units scored once;
    one results line each (resumable)."""
    # deferred: the metrics (sklearn) and the plots (matplotlib) are the suite's, not `rul predict`'s
    from syndiag.evaluation.metrics import append_result, read_results
    from syndiag.evaluation.rul_plot import write_lobo_png

    previous = read_results(results) if results.is_file() else []
    families = dict.fromkeys([*config.grid, *(r["method"] for r in previous)])
    indicators = {family: indicators_of(family, config, say) for family in families}
    done = {(r["method"], r["config_hash"], r.get("seed")) for r in previous}
    runs = [(f, seed) for f in config.grid for seed in (config.seeds if indicators[f].learned else [None])]
    pending = [(f, seed) for f, seed in runs if (f, config.config_hash(f), seed) not in done]
    if pending:
        check_committed_code(results, allow_dirty)
    learning, tests = (learning_units(config), test_units(config)) if pending else ([], [])
    for family, seed in pending:
        common = {"suite": "rul", "method": family, "grid_size": len(config.grid[family]), "config_hash": config.config_hash(family),
                  "data": {"learning": [u.name for u in learning], "test": [u.name for u in tests],
                           "root": str(config.spec if config.spec is not None else _root(config))},
                  "cuts": config.cuts, "levels": config.levels}
        record = {**common, **family_record(config, family, seed, indicators[family], learning, tests)}
        append_result(results, {**record, **provenance()})
        say(f"rul {family}{'' if seed is None else f' seed {seed}'} {record['settings']}: LOBO score {record['lobo']['score']:.3f}, "
            f"test score {record['test']['score']:.3f} (RMSE {record['test']['rmse_s']:.0f} s)")
    records = {r["method"]: r for r in read_results(results) if not indicators[r["method"]].learned} if results.is_file() else {}
    if records:
        learning = learning or learning_units(config)
        trajectories = {family: trajectory(family, r["settings"], learning) for family, r in records.items()}
        write_lobo_png(learning, trajectories, figure_dir / f"{results.stem}_lobo.png")
    return len(pending), 0


def family_record(config: RulConfig, family: str, seed: int | None, indicators: Indicators, learning: list[Unit],
                  tests: list[Unit]) -> dict[str, Any]:
    """LOBO selection on the learning units, the selected settings fitted on all of them, the test units scored once."""
    started = time.perf_counter()
    selection = select(family, config.grid[family], learning, config.cuts, None, indicators, seed)
    final = indicators.express(learning + tests, [u.name for u in tests], "final", seed)
    model, intervals = fit_selected(selection, final[:len(learning)])
    test = score_units([predict_unit(model, intervals, config.levels, u) for u in final[len(learning):]], config.levels)
    return {"settings": selection.settings, "tried": selection.tried, "lobo": lobo_summary(selection.rows, config.levels), "test": test,
            "lobo_rows": [asdict(r) for r in selection.rows], "seed": seed, **indicators.record(),
            "seconds": round(time.perf_counter() - started, 2)}


def trajectory(family: str, settings: dict[str, Any], units: list[Unit], points: int = 25) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per held-out unit, LOBO predictions at ``points`` snapshots over its life: (times, predicted RULs)."""
    found = {}
    for held in units:
        model = build_model(family, settings).fit([u for u in units if u is not held])
        counts = np.unique(np.linspace(model.min_history, len(held), points).round().astype(int))
        found[held.name] = (held.time_s[counts - 1], np.array([model.predict(held.history(int(c))).rul_s for c in counts]))
    return found
