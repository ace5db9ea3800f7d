"""The discriminant spectrum path as a method of the benchmark harness: fitted once per seed on the seed's pretraining
pool (the multi-condition K-shot pool that alignment pretraining reads), its prototypes on each task's support set."""

from __future__ import annotations

import re
import time

import numpy as np

from syndiag.config.spectral import SpectralPathConfig
from syndiag.data.fewshot import FewShotTask, pretraining_pool
from syndiag.data.prepare import PreparedDataset
from syndiag.data.windowing import POOL
from syndiag.errors import ConfigError
from syndiag.models.spectral_discriminant import SpectralPath
from syndiag.training.spectral import fit_prototypes, fit_spectral_path
from syndiag.workflows.cells import Trained


def condition_rpm(conditions: list[str], codes: np.ndarray) -> np.ndarray:
    """The shaft speed of each window from its condition's name ("1730rpm"), for the order view."""
    speeds = []
    for name in conditions:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*rpm", name)
        if not match:
            raise ConfigError(f"spectral.order_view needs the shaft speed of condition {name!r}; name conditions like '1730rpm'")
        speeds.append(float(match.group(1)))
    return np.asarray(speeds)[np.asarray(codes)]


def spectral_path(bench, seed: int, config: SpectralPathConfig, task: FewShotTask) -> SpectralPath:
    """The seed's path, fitted once per harness run on the seed's pretraining pool (without the task's conditions when
    ``config.pool`` says so)."""
    cache = bench.__dict__.setdefault("_spectral_paths", {})
    dataset: PreparedDataset = bench.dataset
    conditions = dataset.condition_names
    if config.pool == "other conditions":
        conditions = [c for c in conditions if c not in (*task.source, task.target)]
    key = (seed, tuple(conditions), config.model_dump_json())
    if key not in cache:
        pool = pretraining_pool(dataset, seed, k=bench.recipe.pretrain.shots, conditions=conditions)
        rpm = condition_rpm(dataset.condition_names, dataset.conditions[pool]) if config.order_view else None
        started = time.perf_counter()
        unlabelled = None
        if config.labels == "none":
            train_half = (dataset.split == POOL) & np.isin(dataset.conditions, [dataset.condition_names.index(c) for c in conditions])
            unlabelled = np.asarray(dataset.windows[np.flatnonzero(train_half)])
        cache[key] = fit_spectral_path(np.asarray(dataset.windows[pool]), dataset.labels[pool], dataset.conditions[pool], dataset.fs,
                                        config, seed, rpm, unlabelled)
        bench._pretraining_seconds += time.perf_counter() - started
    return cache[key]


def train_spectral(bench, method: str, dataset: PreparedDataset, task: FewShotTask, seed: int) -> Trained:
    """Prototypes of the task's support windows on the seed's spectrum path; predicts any dataset's windows."""
    config = bench.settings.spectral_config(method)
    path = spectral_path(bench, seed, config, task)
    started = time.perf_counter()
    rpm = condition_rpm(dataset.condition_names, dataset.conditions[task.train]) if config.order_view else None
    head = fit_prototypes(path, np.asarray(dataset.windows[task.train]), dataset.labels[task.train], len(dataset.class_names), dataset.fs,
                          config, seed, rpm)

    def predict(view: PreparedDataset, indices: np.ndarray) -> np.ndarray:
        speeds = condition_rpm(view.condition_names, view.conditions[indices]) if config.order_view else None
        return head.predict(path.features(np.asarray(view.windows[indices]), view.fs, speeds))

    extra = {"backbone": "none", "spectral_components": path.components,
             "spectral_validation": {str(k): round(v, 4) for k, v in path.validation.items()}}
    if path.segment_validation:
        extra |= {"spectral_segment": path.grid.segment(dataset.fs),
                  "spectral_segment_validation": {str(k): round(v, 4) for k, v in path.segment_validation.items()}}
    return Trained(predict, time.perf_counter() - started, extra)
