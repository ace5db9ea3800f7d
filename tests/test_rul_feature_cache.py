"""The RUL feature cache records the sha256 of its content: a changed, damaged or older cache file is read again from the
snapshots instead of feeding its numbers to a fit (issue 27)."""

import json
import logging

import numpy as np
import pytest
from test_rul import write_fleet

from syndiag.prognostics.units import read_unit


@pytest.fixture(scope="module")
def bearing(tmp_path_factory):
    return write_fleet(tmp_path_factory.mktemp("femto"), {"Bearing1_1": 12}, {}) / "femto" / "Learning_set" / "Bearing1_1"


def rewrite_cache(path, change):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def test_a_cache_whose_features_changed_is_read_again_from_the_snapshots(bearing, tmp_path, caplog):
    fresh = read_unit(bearing, "learning", cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.npz")
    rewrite_cache(cached, lambda arrays: arrays["features"].__setitem__((0, 0), 99.0))
    with caplog.at_level(logging.WARNING, logger="syndiag.prognostics.units"):
        again = read_unit(bearing, "learning", cache_dir=tmp_path)
    assert np.array_equal(again.features.values, fresh.features.values) and again.features.values[0, 0] != 99.0
    assert "feature cache not used (its content does not match the sha256 it records)" in caplog.text
    assert np.array_equal(read_unit(bearing, "learning", cache_dir=tmp_path).features.values, fresh.features.values)


def test_a_cache_without_a_digest_or_damaged_is_read_again(bearing, tmp_path, caplog):
    fresh = read_unit(bearing, "learning", cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.npz")

    def older(arrays):
        meta = json.loads(str(arrays["meta"]))
        arrays["meta"] = np.array(json.dumps({k: v for k, v in meta.items() if k != "sha256"}))
        arrays["time_s"] = arrays["time_s"] * 2
    rewrite_cache(cached, older)
    assert np.array_equal(read_unit(bearing, "learning", cache_dir=tmp_path).time_s, fresh.time_s)
    cached.write_bytes(b"PK\x03\x04 not a zip")
    with caplog.at_level(logging.WARNING, logger="syndiag.prognostics.units"):
        assert np.array_equal(read_unit(bearing, "learning", cache_dir=tmp_path).features.values, fresh.features.values)
    assert "feature cache not used" in caplog.text


def test_a_bearings_temperature_is_read_at_each_snapshot_cached_and_cut_with_its_history(shared_data, tmp_path):
    learning = shared_data / "femto" / "Learning_set"
    unit = read_unit(learning / "Bearing1_1", "learning", cache_dir=tmp_path)
    cached = read_unit(learning / "Bearing1_1", "learning", cache_dir=tmp_path)
    assert unit.temperature_c is not None and unit.temperature_c.shape == unit.time_s.shape
    assert np.isfinite(unit.temperature_c).mean() > 0.95 and 50 < np.nanmedian(unit.temperature_c) < 200, "deg C of a running bearing"
    assert np.nanmean(unit.temperature_c[-20:]) > np.nanmean(unit.temperature_c[:20]) + 5, "it warms up as it fails"
    np.testing.assert_array_equal(cached.temperature_c, unit.temperature_c)
    np.testing.assert_array_equal(unit.history(30).temperature_c, unit.temperature_c[:30])
    assert read_unit(learning / "Bearing2_2", "learning").temperature_c is None, "a folder without temp files: none, not zeros"


def test_the_survival_temperature_covariate_is_the_causal_rise_and_zero_without_temperature():
    from syndiag.prognostics.rul_survival import temperature_rise

    celsius = np.array([np.nan, 60.0, 60.0, 60.0, 60.0, np.nan, 70.0, 80.0])
    rise = temperature_rise(celsius, 8, smoothing=1, baseline_fraction=0.5)
    assert rise[:5].tolist() == [0.0] * 5 and rise[5] == 0.0, "a gap carries the last reading forward"
    assert rise[-1] > rise[-2] > 0, "then it rises above the baseline"
    assert temperature_rise(celsius[:6], 6, 1, 0.5).tolist() == rise[:6].tolist(), "each snapshot sees only its past"
    assert temperature_rise(None, 4, 1, 0.5).tolist() == [0.0] * 4
