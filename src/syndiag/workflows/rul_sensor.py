"""The learned RUL model on the sensor model's fused representation (issue 16; LLaVA-for-Sensors, RUL as a head).

Per fold of leave-one-bearing-out (and once on every learning bearing for the test units) the sensor model is trained
on the FEMTO degradation stages of the fold's training bearings (:mod:`syndiag.workflows.sensor_stages`, the recipe
``sensor_recipe`` with ``sensor_overrides``); every snapshot of every unit goes through it once; its fused vector
``h`` (and the severity head's stage estimate) is reduced by a PCA fitted on the training bearings' snapshots to
``sensor_components`` numbers per snapshot: the learned health indicator (:class:`SensorIndicators`, the ``sensor`` kind
of :class:`~syndiag.prognostics.rul_models.Indicators`). The family ``sensor-regression`` is
:class:`~syndiag.prognostics.rul_models.HistoryRegression` on a history of those indicators, its settings chosen by
LOBO like every other family (:mod:`syndiag.workflows.rul_lobo`). Stochastic (the sensor model's training): one results
line per seed. `rul fit` saves it with the sensor model trained on every learning bearing (``indicator/``) and the PCA
(:class:`SavedSensorIndicator` reads a unit folder through them again at `rul predict`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from syndiag.config.rul import RulConfig
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.femto import FemtoBearing, read_bearing, read_femto
from syndiag.data.femto_sensors import femto_sensor_set
from syndiag.errors import ConfigError, DataError
from syndiag.prognostics.features import FeatureTable
from syndiag.prognostics.femto_stages import STAGE_CLASSES, femto_stage_set, snapshot_windows
from syndiag.prognostics.health import STAGES
from syndiag.prognostics.rul_checkpoint import IndicatorParts
from syndiag.prognostics.units import Unit
from syndiag.serving.predictor import SensorPredictor, WindowBatch, load_predictor
from syndiag.workflows.sensor_stages import femto_root, train_stages


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


def indicator_table(mean: np.ndarray, components: np.ndarray, fused: np.ndarray, stage: np.ndarray) -> FeatureTable:
    """The learned indicator per snapshot: the fused vectors projected on the PCA (``mean``, ``components``), the stage estimate."""
    names = [f"pc{i}" for i in range(components.shape[0])] + ["stage"]
    return FeatureTable(names, np.column_stack([(fused - mean) @ components.T, stage]))


def indicator_units(units: list[Unit], fused: dict[str, np.ndarray], stage: dict[str, np.ndarray], fit_names: list[str],
                    components: int) -> tuple[list[Unit], dict[str, np.ndarray]]:
    """Units whose features are the PCA of the fused vectors (fitted on ``fit_names``' snapshots) and the stage estimate;
    the PCA's numbers (``pca_mean``, ``pca_components``)."""
    pca = PCA(n_components=components, random_state=0).fit(np.concatenate([fused[n] for n in fit_names]))
    numbers = {"pca_mean": pca.mean_, "pca_components": pca.components_}
    return [replace(u, features=indicator_table(pca.mean_, pca.components_, fused[u.name], stage[u.name])) for u in units], numbers


def fold_parts(config: RulConfig, seed: int, read: list[FemtoBearing], held: list[str], units: list[Unit],
               fold: str) -> tuple[list[Unit], IndicatorParts]:
    """Train the sensor model on the stages of ``read`` minus ``held`` (none: every bearing); the units with its learned
    indicators, and what computes them (the saved sensor model and the PCA)."""
    sensor = stage_config(config, seed, fold)
    sensor_set, trajectories = femto_stage_set(None, read=read, **sensor.femto.stage_options())
    windows = snapshot_windows(sensor_set, sensor.channels, held, held_out=bool(held))
    trained = train_stages(sensor, (windows, trajectories))
    fused, stage = fused_indicators(trained)
    fit_names = [u.name for u in units if u.name not in held]
    found, numbers = indicator_units(units, per_unit(windows, fused, units), per_unit(windows, stage, units), fit_names, config.sensor_components)
    return found, IndicatorParts(trained.checkpoint, numbers)


def fold_units(config: RulConfig, seed: int, read: list[FemtoBearing], held: list[str], units: list[Unit], fold: str) -> list[Unit]:
    """Train the sensor model on the stages of ``read`` minus ``held``; the units with its learned indicators."""
    return fold_parts(config, seed, read, held, units, fold)[0]


@dataclass
class SensorIndicators:
    """The sensor model's learned indicators of a fold's units, the model trained per fold (FEMTO bearings only)."""

    config: RulConfig
    say: Callable[[str], None] = print
    learned: bool = True
    bearings: dict[tuple[str, tuple[str, ...]], list[FemtoBearing]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.config.spec is not None:
            raise ConfigError("sensor-regression reads FEMTO bearings through the sensor model; with a spec, leave it out of the grid")

    def express(self, units: list[Unit], held: list[str], fold: str, seed: int | None) -> list[Unit]:
        """The sensor model trained on the stages of the units not ``held``; every unit with its indicators."""
        started = time.perf_counter()
        read = self.read("learning", [u.name for u in units if u.failed]) + self.read("test", [u.name for u in units if not u.failed])
        found = fold_units(self.config, seed, read, held, units, fold)
        self.say(f"sensor-regression seed {seed}: fold {fold} done ({time.perf_counter() - started:.0f} s)")
        return found

    def fit_all(self, units: list[Unit], seed: int | None) -> tuple[list[Unit], IndicatorParts]:
        """The sensor model trained on the stages of every unit (all ran to failure); the units with its indicators, and
        what computes them, for `rul fit` to save."""
        started = time.perf_counter()
        found = fold_parts(self.config, seed, self.read("learning", [u.name for u in units]), [], units, "all")
        self.say(f"sensor-regression seed {seed}: the indicator of every learning unit done ({time.perf_counter() - started:.0f} s)")
        return found

    def read(self, set_name: str, names: list[str]) -> list[FemtoBearing]:
        """The FEMTO bearings of ``set_name`` named, read once (a unit that ran to failure is a learning bearing)."""
        key = (set_name, tuple(names))
        if names and key not in self.bearings:
            self.bearings[key] = read_femto(femto_root(self.config.resolved_data_root()), (set_name,), names)
        return self.bearings.get(key, [])

    def record(self) -> dict[str, Any]:
        return {"sensor_recipe": str(self.config.sensor_recipe), "sensor_overrides": self.config.sensor_overrides,
                "components": self.config.sensor_components}


@dataclass
class SavedSensorIndicator:
    """The learned indicator of a saved ``sensor-regression`` RUL model: a unit folder's snapshots (FEMTO layout) through
    the sensor model of its ``indicator/`` folder (the one :class:`~syndiag.serving.predictor.Predictor` interface), then its PCA."""

    predictor: SensorPredictor
    mean: np.ndarray
    components: np.ndarray
    batch_size: int = 64

    @classmethod
    def from_parts(cls, parts: IndicatorParts) -> "SavedSensorIndicator":
        predictor = load_predictor(parts.folder)
        if not isinstance(predictor, SensorPredictor):
            raise DataError(f"{parts.folder}: the indicator of a sensor-regression model must be a sensor-model checkpoint")
        mean, components = parts.tensors.get("pca_mean"), parts.tensors.get("pca_components")
        if mean is None or components is None or components.ndim != 2 or mean.shape != components.shape[1:]:
            raise DataError(f"{parts.folder.parent}: model.safetensors lacks the indicator's PCA (indicator.pca_mean, indicator.pca_components)"
                            " of matching shapes; run `syndiag rul fit` again")
        return cls(predictor, mean, components)

    def express(self, unit: Unit, folder: Path, operating: tuple[float, float] | None = None) -> Unit:
        """``unit`` (read from ``folder``) with the learned indicator of each of its snapshots in place of its health features;
        ``operating``: the speed (rpm) and load (N) for a folder not named ``Bearing<c>_<n>``."""
        bearing = read_bearing(folder, "test")
        if operating is not None:
            bearing.operating = operating
        recordings = femto_sensor_set(None, read=[bearing], classes=STAGE_CLASSES, label_of=lambda b, i: STAGES[0],
                                      speed="speed" in self.predictor.plan.names)
        windows = snapshot_windows(recordings, self.predictor.plan.layout, [], held_out=False)
        fused, stage = [], []
        for first in range(0, len(windows.labels), self.batch_size):
            rows = np.arange(first, min(first + self.batch_size, len(windows.labels)))
            found = self.predictor.predict(WindowBatch({n: v[rows] for n, v in windows.signals.items()}, windows.present[rows]))
            fused.append(found.fused)
            stage.append(found.severity_mean if found.severity_mean is not None else np.zeros(rows.size))
        fused_all = np.concatenate(fused)
        if fused_all.shape[1] != self.mean.size:
            raise DataError(f"{folder}: the indicator model gives {fused_all.shape[1]} numbers per snapshot, its PCA reads {self.mean.size}")
        times = windows.extra["time_s"]
        if times.size != len(unit) or not np.allclose(times - times[0], unit.time_s, atol=1e-3):
            raise DataError(f"{folder}: {times.size} sensor windows do not match its {len(unit)} snapshots")
        return replace(unit, features=indicator_table(self.mean, self.components, fused_all, np.concatenate(stage)))
