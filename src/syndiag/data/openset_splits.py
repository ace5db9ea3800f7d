"""Leave-one-family-out splits for open-set evaluation (issue 17): a family of CWRU classes is held out of training and
appears only at test time, as the fault nobody labelled.

Families: ``ball`` (every ball fault, both ends, all diameters), ``fan-end`` (every fan-end fault), ``diameter-007``,
``diameter-014``, ``diameter-021`` (one defect size at both ends and all fault types). The support set is the usual
K-shot set restricted to the known classes; the calibration windows are the known classes' other train-pool windows of
the source condition (held in, never tested); the test set is every test window of the target condition, known and held out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.data.fewshot import few_shot_task
from syndiag.data.windowing import POOL
from syndiag.errors import ConfigError

FAMILIES = {
    "ball": lambda name: "_B0" in name,
    "fan-end": lambda name: name.startswith("FE_"),
    "diameter-007": lambda name: name.endswith("007"),
    "diameter-014": lambda name: name.endswith("014"),
    "diameter-021": lambda name: name.endswith("021"),
}


@dataclass(frozen=True)
class OpenSetTask:
    family: str
    known: tuple[int, ...]
    unknown: tuple[int, ...]
    k: int
    seed: int
    source: str
    target: str
    support: np.ndarray
    calibration: np.ndarray
    test: np.ndarray

    @property
    def name(self) -> str:
        return f"without-{self.family}-{self.k}shot-{self.source}-to-{self.target}-seed{self.seed}"


def family_split(class_names: list[str], family: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(known, held-out) class indices; a family that is unknown, empty, or leaves fewer than two known classes is refused."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown class family {family!r}; known: {', '.join(FAMILIES)}")
    unknown = tuple(i for i, name in enumerate(class_names) if FAMILIES[family](name))
    known = tuple(i for i in range(len(class_names)) if i not in unknown)
    if not unknown:
        raise ConfigError(f"family {family!r} holds none of the classes {', '.join(class_names)}")
    if len(known) < 2:
        raise ConfigError(f"holding out {family!r} leaves {len(known)} known class(es); open-set needs at least two")
    return known, unknown


def openset_task(index, family: str, k: int, seed: int, source: str, target: str | None = None) -> OpenSetTask:
    """The K-shot support of the known classes, their other train-pool windows of ``source`` (calibration), all test windows."""
    task = few_shot_task(index, k, seed, source, target)
    known, unknown = family_split(list(index.class_names), family)
    labels = np.asarray(index.labels)
    support = task.train[np.isin(labels[task.train], known)]
    source_id = list(index.condition_names).index(source)
    pool = np.flatnonzero((np.asarray(index.split) == POOL) & (np.asarray(index.conditions) == source_id) & np.isin(labels, known))
    calibration = np.setdiff1d(pool, task.train)
    short = [index.class_names[c] for c in known if not (labels[calibration] == c).any()]
    if short:
        raise ConfigError(f"no held-in calibration window for class(es) {', '.join(short)} at {source}: raise data.window.per_class")
    return OpenSetTask(family, known, unknown, k, seed, source, task.target, support, calibration, task.test)
