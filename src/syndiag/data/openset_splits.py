"""Leave-one-family-out splits for open-set evaluation (issue 17): a family of CWRU classes is held out of training and
appears only at test time, as the fault nobody labelled.

Families: ``ball`` (every ball fault, both ends, all diameters), ``fan-end`` (every fan-end fault), ``diameter-007``,
``diameter-014``, ``diameter-021`` (one defect size at both ends and all fault types). The support set is the usual
K-shot set restricted to the known classes; the calibration windows are the known classes' other train-pool windows of
the source condition (held in, never tested); the test set is every test window of the target condition, known and held out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


def class_view(dataset, keep) -> object:
    """``dataset`` with only the classes ``keep`` (indices), renumbered 0..len(keep)-1 in that order; every window of
    another class gets label -1, so no support, pool or pretraining draw can reach it. Nothing is copied."""
    keep = [int(k) for k in keep]
    names = list(dataset.class_names)
    if not keep or len(set(keep)) != len(keep) or min(keep) < 0 or max(keep) >= len(names):
        raise ConfigError(f"classes to keep must be distinct indices into {len(names)} classes, got {keep}")
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    meta = {**dataset.meta, "classes": [dataset.meta["classes"][k] for k in keep]}
    return replace(dataset, labels=remap[np.asarray(dataset.labels)], meta=meta)


def zeroshot_classes(class_names: list[str], new: list[str], descriptions: dict[str, str], prompts: list[str]) -> tuple[list[int], list[int], list[str]]:
    """(seen, new) class indices and every class's description (a new class's from ``descriptions`` when given).

    Refused: a new class the data lacks, a description for a class that is not new, an empty description, one identical
    to another class's, a split that leaves fewer than two seen classes."""
    unknown = [n for n in new if n not in class_names]
    if unknown:
        raise ConfigError(f"zero-shot split: class(es) {', '.join(unknown)} not in the data ({', '.join(class_names)})")
    stray = [n for n in descriptions if n not in new]
    if stray:
        raise ConfigError(f"zero-shot split: description(s) given for {', '.join(stray)}, which are not new classes of the split")
    texts = list(prompts)
    for name, text in descriptions.items():
        texts[class_names.index(name)] = text.strip()
    for name in new:
        i = class_names.index(name)
        if not texts[i]:
            raise ConfigError(f"zero-shot split: the description of new class {name} is empty")
        twins = [class_names[j] for j in range(len(texts)) if j != i and texts[j].strip().lower() == texts[i].lower()]
        if twins:
            raise ConfigError(f"zero-shot split: the description of new class {name} ({texts[i]!r}) is identical to that of {', '.join(twins)}")
    new_ids = [class_names.index(n) for n in new]
    seen = [i for i in range(len(class_names)) if i not in new_ids]
    if len(seen) < 2:
        raise ConfigError(f"zero-shot split leaves {len(seen)} seen class(es); training needs at least two")
    return seen, new_ids, texts
