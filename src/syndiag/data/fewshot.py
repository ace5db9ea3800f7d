"""N-way K-shot tasks: supports drawn from the train pool by seed, fixed test sets, cross-condition pairs (§4.2, §5.1)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import Protocol

import numpy as np

from syndiag.data.windowing import POOL, TEST
from syndiag.errors import DataError

PAPER_SHOTS = (1, 3, 5, 7)


class WindowIndex(Protocol):
    """What a few-shot split needs to know about each window."""

    labels: np.ndarray
    conditions: np.ndarray
    split: np.ndarray
    class_names: list[str]
    condition_names: list[str]


@dataclass(frozen=True)
class FewShotTask:
    """Indices of an N-way K-shot training set and its test set."""

    k: int
    seed: int
    source: tuple[str, ...]
    target: str
    train: np.ndarray
    test: np.ndarray
    classes: tuple[str, ...]

    @property
    def name(self) -> str:
        source = "+".join(self.source)
        where = source if source == self.target else f"{source}->{self.target}"
        return f"{len(self.classes)}way-{self.k}shot-{where}-seed{self.seed}"


def _condition_id(index: WindowIndex, condition: str) -> int:
    if condition not in index.condition_names:
        raise DataError(f"unknown condition {condition!r}; known: {', '.join(index.condition_names)}")
    return index.condition_names.index(condition)


def _class_ids(index: WindowIndex, classes: list[str] | None) -> list[int]:
    if classes is None:
        return list(range(len(index.class_names)))
    unknown = [c for c in classes if c not in index.class_names]
    if unknown:
        raise DataError(f"unknown class(es) {unknown}; known: {', '.join(index.class_names)}")
    return [index.class_names.index(c) for c in classes]


def support(index: WindowIndex, condition: str, k: int, seed: int, classes: list[str] | None = None) -> np.ndarray:
    """K train-pool windows per class of ``condition``; a larger K extends a smaller one (same seed)."""
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}")
    cond = _condition_id(index, condition)
    chosen = []
    for cls in _class_ids(index, classes):
        pool = np.flatnonzero((index.labels == cls) & (index.conditions == cond) & (index.split == POOL))
        if pool.size < k:
            raise DataError(
                f"class {index.class_names[cls]!r} at {condition} has {pool.size} train-pool windows, {k}-shot asked"
            )
        order = np.random.default_rng([seed, cond, cls]).permutation(pool.size)
        chosen.append(np.sort(pool[order[:k]]))
    return np.concatenate(chosen)


def test_set(index: WindowIndex, condition: str, classes: list[str] | None = None) -> np.ndarray:
    """Every test window of ``condition`` (fixed: it does not depend on the seed)."""
    cond = _condition_id(index, condition)
    wanted = np.isin(index.labels, _class_ids(index, classes))
    return np.flatnonzero(wanted & (index.conditions == cond) & (index.split == TEST))


def few_shot_task(
    index: WindowIndex, k: int, seed: int, source: str, target: str | None = None, classes: list[str] | None = None
) -> FewShotTask:
    """Train on K shots of ``source``, test on all test windows of ``target`` (default: the same condition)."""
    target = source if target is None else target
    names = tuple(index.class_names[c] for c in _class_ids(index, classes))
    return FewShotTask(
        k=k,
        seed=seed,
        source=(source,),
        target=target,
        train=support(index, source, k, seed, classes),
        test=test_set(index, target, classes),
        classes=names,
    )


def pretraining_pool(index: WindowIndex, seed: int, k: int = 7, conditions: list[str] | None = None) -> np.ndarray:
    """The multi-condition K-shot pool of alignment pretraining: K windows per class from every condition (§5.1)."""
    conditions = index.condition_names if conditions is None else conditions
    return np.concatenate([support(index, c, k, seed) for c in conditions])


def cross_condition_tasks(index: WindowIndex, k: int, seed: int) -> list[FewShotTask]:
    """Every ordered pair A -> B of distinct conditions (Table 3)."""
    return [few_shot_task(index, k, seed, a, b) for a, b in permutations(index.condition_names, 2)]
