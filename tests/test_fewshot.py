from dataclasses import dataclass, field

import numpy as np
import pytest

from syndiag.data.fewshot import (
    cross_condition_tasks,
    few_shot_task,
    pretraining_pool,
    support,
)
from syndiag.data.fewshot import test_set as fixed_test_set
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import DataError


@dataclass
class Index:
    labels: np.ndarray
    conditions: np.ndarray
    split: np.ndarray
    class_names: list[str] = field(default_factory=list)
    condition_names: list[str] = field(default_factory=list)


def make_index(n_classes=19, n_conditions=4, per_split=10) -> Index:
    labels, conditions, split = [], [], []
    for c in range(n_conditions):
        for k in range(n_classes):
            for s in (POOL, TEST):
                labels += [k] * per_split
                conditions += [c] * per_split
                split += [s] * per_split
    return Index(
        np.array(labels), np.array(conditions), np.array(split),
        [f"class{k}" for k in range(n_classes)], [f"cond{c}" for c in range(n_conditions)],
    )


def test_same_seed_same_indices_and_other_seed_other_indices():
    index = make_index()
    a = support(index, "cond2", 5, seed=3)
    np.testing.assert_array_equal(a, support(index, "cond2", 5, seed=3))
    assert not np.array_equal(a, support(index, "cond2", 5, seed=4))


def test_support_draws_k_pool_windows_per_class_of_the_condition():
    index = make_index()
    chosen = support(index, "cond1", 3, seed=0)
    assert chosen.size == 19 * 3
    assert (index.split[chosen] == POOL).all() and (index.conditions[chosen] == 1).all()
    assert np.bincount(index.labels[chosen]).tolist() == [3] * 19


def test_larger_k_extends_smaller_k():
    index = make_index()
    for small, large in [(1, 3), (3, 5), (5, 7)]:
        assert set(support(index, "cond0", small, 9)) <= set(support(index, "cond0", large, 9))


def test_test_set_is_fixed_and_disjoint_from_training():
    index = make_index()
    task = few_shot_task(index, 5, 1, "cond0")
    assert task.test.size == 19 * 10
    np.testing.assert_array_equal(task.test, few_shot_task(index, 1, 7, "cond0").test)
    assert not set(task.train) & set(task.test)
    assert (index.split[task.test] == TEST).all()
    assert task.name == "19way-5shot-cond0-seed1"


def test_cross_condition_trains_on_source_and_tests_on_target():
    index = make_index()
    tasks = cross_condition_tasks(index, 5, 0)
    assert len(tasks) == 12
    for task in tasks:
        src, tgt = index.condition_names.index(task.source[0]), index.condition_names.index(task.target)
        assert src != tgt
        assert (index.conditions[task.train] == src).all() and (index.conditions[task.test] == tgt).all()


def test_pretraining_pool_is_seven_shots_from_every_condition():
    index = make_index()
    pool = pretraining_pool(index, seed=0)
    assert pool.size == 7 * 19 * 4 and np.unique(pool).size == pool.size
    assert (index.split[pool] == POOL).all()


def test_class_subset_and_unknown_names():
    index = make_index()
    task = few_shot_task(index, 2, 0, "cond0", classes=["class3", "class5"])
    assert set(index.labels[task.train]) == {3, 5} and set(index.labels[task.test]) == {3, 5}
    with pytest.raises(DataError, match="unknown class"):
        few_shot_task(index, 1, 0, "cond0", classes=["bogus"])
    with pytest.raises(DataError, match="unknown condition 'cond9'"):
        support(index, "cond9", 1, 0)
    with pytest.raises(DataError, match="11-shot asked"):
        support(index, "cond0", 11, 0)
    with pytest.raises(DataError, match="at least 1"):
        support(index, "cond0", 0, 0)
    assert fixed_test_set(index, "cond3", ["class0"]).size == 10
