"""The learned RUL model on the sensor model's fused representation (issue 16; LLaVA-for-Sensors, RUL as a head).

Per fold of leave-one-bearing-out (and once on every learning bearing for the test units) the sensor model is trained
on the FEMTO degradation stages of the fold's training bearings (:mod:`syndiag.workflows.sensor_stages`, the recipe
``sensor_recipe`` with ``sensor_overrides``); every snapshot of every unit goes through it once; its fused vector
``h`` (and the severity head's stage estimate) is reduced by a PCA fitted on the training bearings' snapshots to
``sensor_components`` numbers per snapshot: the learned health indicator. The RUL head is
:class:`~syndiag.prognostics.rul_models.HistoryRegression` on a history of those indicators, its settings chosen by
LOBO like every other family. Stochastic (the sensor model's training): one results line per seed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from syndiag.config.rul import RulConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.femto import FemtoBearing, read_femto
from syndiag.errors import DataError
from syndiag.prognostics.features import FeatureTable
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.femto_stages import femto_stage_set, snapshot_windows
from syndiag.prognostics.rul_models import HistoryRegression
from syndiag.prognostics.score import rul_errors
from syndiag.prognostics.units import Unit
from syndiag.workflows.rul_lobo import LoboRow, held_out_rows, lobo_summary, predict_unit, score_units
from syndiag.workflows.sensor_stages import femto_root, train_stages

FAMILY = "sensor-regression"


def stage_config(config: RulConfig, seed: int, fold: str) -> SensorRunConfig:
    overrides = {"seed": seed, "output_dir": str(Path(config.output_dir) / "sensor-indicator" / f"seed{seed}" / fold), **config.sensor_overrides}
    return SensorRunConfig.from_yaml(config.sensor_recipe, overrides)


@torch.inference_mode()
def fused_indicators(trained: Any, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Every window through the trained model: fused vectors (n, hidden) and the severity head's stage estimate (n,)."""
    model, inputs = trained.model, trained.inputs
    model.eval()
    fused, stage = [], []
    for first in range(0, len(inputs.windows.labels), batch_size):
        rows = np.arange(first, min(first + batch_size, len(inputs.windows.labels)))
        output = model(inputs.batch(rows))
        fused.append(output.fused.float().cpu().numpy())
        stage.append(output.severity_mean.float().cpu().numpy() if output.severity_mean is not None else np.zeros(rows.size))
    return np.concatenate(fused), np.concatenate(stage)


def per_unit(windows: Any, values: np.ndarray, units: list[Unit]) -> dict[str, np.ndarray]:
    """Rows of ``values`` (one per window) regrouped per unit in time order, checked against the unit's snapshot times."""
    groups, times = windows.groups, windows.extra["time_s"]
    found = {}
    for unit in units:
        rows = np.flatnonzero(groups == unit.name)
        rows = rows[np.argsort(times[rows], kind="stable")]
        if rows.size != len(unit) or not np.allclose(times[rows], unit.time_s, atol=1e-3):
            raise DataError(f"{unit.name}: {rows.size} sensor windows do not match its {len(unit)} snapshots")
        found[unit.name] = values[rows]
    return found


def indicator_units(units: list[Unit], fused: dict[str, np.ndarray], stage: dict[str, np.ndarray], fit_names: list[str],
                    components: int) -> list[Unit]:
    """Units whose features are the PCA of the fused vectors (fitted on ``fit_names``' snapshots) and the stage estimate."""
    pca = PCA(n_components=components, random_state=0).fit(np.concatenate([fused[n] for n in fit_names]))
    names = [f"pc{i}" for i in range(components)] + ["stage"]
    return [replace(u, features=FeatureTable(names, np.column_stack([pca.transform(fused[u.name]), stage[u.name]]))) for u in units]


def fold_units(config: RulConfig, seed: int, read: list[FemtoBearing], held: list[str], units: list[Unit], fold: str) -> list[Unit]:
    """Train the sensor model on the stages of ``read`` minus ``held``; the units with its learned indicators."""
    sensor = stage_config(config, seed, fold)
    sensor_set, trajectories = femto_stage_set(None, read=read, **sensor.femto.stage_options())
    windows = snapshot_windows(sensor_set, sensor.channels, held)
    trained = train_stages(sensor, (windows, trajectories))
    fused, stage = fused_indicators(trained)
    fit_names = [u.name for u in units if u.name not in held]
    return indicator_units(units, per_unit(windows, fused, units), per_unit(windows, stage, units), fit_names, config.sensor_components)


def sensor_regression_record(config: RulConfig, seed: int, learning: list[Unit], tests: list[Unit], say) -> dict[str, Any]:
    """LOBO over the grid on per-fold indicators, then the final model (all learning bearings) scored once on the test units."""
    started = time.perf_counter()
    root = femto_root(config.resolved_data_root())
    names = [u.name for u in learning]
    learning_read = read_femto(root, ("learning",), names)
    grid = config.grid[FAMILY]
    rows: dict[int, list[LoboRow]] = {i: [] for i in range(len(grid))}
    for held in learning:
        fold = fold_units(config, seed, learning_read, [held.name], learning, held.name)
        mine = next(u for u in fold if u.name == held.name)
        for i, settings in enumerate(grid):
            model = HistoryRegression(**settings, features="sensor").fit([u for u in fold if u.name != held.name])
            rows[i] += held_out_rows(model, mine, config.cuts)
        say(f"{FAMILY} seed {seed}: fold {held.name} done ({time.perf_counter() - started:.0f} s)")
    tried = []
    for i, settings in enumerate(grid):
        errors = rul_errors([r.actual_s for r in rows[i]], [r.predicted_s for r in rows[i]])
        tried.append({"settings": settings, "score": errors["score"], "rmse_s": errors["rmse_s"]})
    best = max(range(len(grid)), key=lambda i: (tried[i]["score"], -tried[i]["rmse_s"]))
    test_read = read_femto(root, ("test",), [u.name for u in tests])
    every = fold_units(config, seed, learning_read + test_read, [u.name for u in tests], learning + tests, "final")
    model = HistoryRegression(**grid[best], features="sensor").fit([u for u in every if u.name in names])
    intervals = ConformalIntervals.calibrate([r.actual_s for r in rows[best]], [r.predicted_s for r in rows[best]])
    test = score_units([predict_unit(model, intervals, config.levels, u) for u in every if u.name not in names], config.levels)
    return {"settings": grid[best], "tried": tried, "lobo": lobo_summary(rows[best], config.levels), "test": test,
            "lobo_rows": [asdict(r) for r in rows[best]], "seed": seed, "sensor_recipe": str(config.sensor_recipe),
            "sensor_overrides": config.sensor_overrides, "components": config.sensor_components,
            "seconds": round(time.perf_counter() - started, 2)}
