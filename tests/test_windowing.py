import numpy as np
import pytest

from syndiag.config.data import WindowConfig
from syndiag.data.recording import Recording
from syndiag.data.windowing import (
    POOL,
    TEST,
    cut_windows,
    plan_windows,
    share_counts,
    split_boundary,
    uniform_starts,
)
from syndiag.errors import DataError


def recording(n: int) -> Recording:
    signal = np.arange(n, dtype=np.float64)[None]
    return Recording.from_signal(signal, 12000.0, ("DE",), label="a", condition="c", source="ramp")


def test_pool_and_test_windows_share_no_sample():
    config = WindowConfig(per_class=200)
    rec = recording(121_265)
    plan = plan_windows(rec, config, config.n_pool, config.n_test)
    pool, test = plan.starts[plan.split == POOL], plan.starts[plan.split == TEST]
    assert pool.size == 100 and test.size == 100
    assert (pool + config.length).max() <= plan.boundary <= test.min()
    windows = cut_windows(rec, plan.starts, config.length)
    pool_samples = set(windows[plan.split == POOL].ravel().astype(int).tolist())
    test_samples = set(windows[plan.split == TEST].ravel().astype(int).tolist())
    assert not pool_samples & test_samples


def test_windows_use_the_configured_step_when_enough_fit():
    starts, note = uniform_starts(0, 256 * 9 + 512, 512, 256, 10, "x")
    assert note is None
    np.testing.assert_array_equal(starts, np.arange(10) * 256)


def test_uniform_selection_spans_the_whole_range():
    starts, _ = uniform_starts(0, 60_000, 512, 256, 100, "x")
    assert starts[0] == 0 and starts[-1] > 59_000 - 512 * 2
    assert np.all(np.diff(starts) % 256 == 0)


def test_short_range_lowers_the_step_and_says_so():
    starts, note = uniform_starts(1000, 1000 + 7623, 512, 256, 100, "97.mat pool")
    assert starts.size == 100 and starts.min() >= 1000 and starts.max() + 512 <= 1000 + 7623
    assert note is not None and "step lowered" in note and "97.mat pool" in note


def test_window_longer_than_the_signal_is_an_error():
    with pytest.raises(DataError, match="window length 512 is longer than the 300 samples"):
        plan_windows(recording(600), WindowConfig(), 1, 1)


def test_too_many_windows_for_a_tiny_range_is_an_error():
    with pytest.raises(DataError, match="distinct windows"):
        uniform_starts(0, 520, 512, 256, 50, "x")


def test_share_counts_is_proportional_and_exact():
    assert share_counts([100, 100, 200], 8) == [2, 2, 4]
    assert sum(share_counts([3, 5, 7], 11)) == 11


def test_split_boundary():
    assert split_boundary(1000, 0.5) == 500
    assert split_boundary(1000, 0.25) == 750


def test_windows_are_cut_in_place_per_channel():
    rec = Recording.from_signal(np.vstack([np.arange(2000.0), -np.arange(2000.0)]), 1000.0, ("DE", "FE"), label="a", condition="c", source="s")
    windows = cut_windows(rec, np.array([0, 700]), 512)
    assert windows.shape == (2, 2, 512) and windows.dtype == np.float32
    assert windows[1, 0, 0] == 700 and windows[1, 1, 511] == -1211
