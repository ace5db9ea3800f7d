"""Own-data specs: channel patterns for per-file variable names, literal file names with glob characters, and
folders that exist but cannot be read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
from fixtures import write_spec

from syndiag.config.data import CWRUOptions
from syndiag.data.custom import load_custom
from syndiag.data.cwru import find_cwru_files, load_cwru
from syndiag.errors import ConfigError, DataError

CLASSES = [{"name": "normal", "prompt": "normal operation"}, {"name": "ir", "prompt": "inner race fault"}]


def spec_with(tmp_path: Path, recordings: list[dict[str, Any]], **top: Any) -> Path:
    return write_spec(tmp_path / "dataset.yaml", {"name": "cwru-like", "classes": CLASSES, "recordings": recordings, **top})


def cwru_style(folder: Path, number: int, n: int = 300, extra: dict[str, Any] | None = None) -> np.ndarray:
    de = np.random.default_rng(number).standard_normal((n, 1))
    scipy.io.savemat(folder / f"{number}.mat", {f"X{number:03d}_DE_time": de, f"X{number:03d}_FE_time": -de,
                                                 f"X{number:03d}RPM": 1797.0, **(extra or {})})
    return de.ravel()


# --- item 11: one entry for files whose variable names change per file ----------------------------------------


@pytest.mark.parametrize("pattern", ["X*_DE_time", r"re:^X\d+_DE_time$"])
def test_one_pattern_reads_each_files_own_variable(tmp_path: Path, pattern: str) -> None:
    a, b = cwru_style(tmp_path, 97), cwru_style(tmp_path, 105)
    data = load_custom(spec_with(tmp_path, [
        {"files": "97.mat", "label": "normal", "condition": "0hp", "channels": pattern},
        {"files": "105.mat", "label": "ir", "condition": "0hp", "channels": [pattern, "X*_FE_time"]},
    ], fs=12000))
    normal, fault = data.recordings
    np.testing.assert_array_equal(normal.signal[0], a)
    np.testing.assert_array_equal(fault.signal, np.stack([b, -b]))
    assert tuple(normal.channels) == (pattern,) and tuple(fault.channels) == (pattern, "X*_FE_time")


def test_a_pattern_matching_several_variables_is_refused_naming_them(tmp_path: Path) -> None:
    cwru_style(tmp_path, 99, extra={"X098_DE_time": np.ones((300, 1))})
    with pytest.raises(DataError, match=r"99\.mat\): the pattern 'X\*_DE_time' matches 2 variables \(X098_DE_time, X099_DE_time\)"):
        load_custom(spec_with(tmp_path, [{"files": "99.mat", "label": "normal", "condition": "c", "channels": "X*_DE_time"}], fs=1))
    data = load_custom(spec_with(tmp_path, [{"files": "99.mat", "label": "normal", "condition": "c",
                                             "channels": "re:^X099_DE_time$"}], fs=1))
    assert data.recordings[0].n_samples == 300


def test_a_pattern_matching_nothing_lists_the_variables(tmp_path: Path) -> None:
    cwru_style(tmp_path, 105)
    with pytest.raises(DataError, match=r"the pattern 'X\*_BA_time' matches no variable; the file holds X105_DE_time"):
        load_custom(spec_with(tmp_path, [{"files": "105.mat", "label": "ir", "condition": "c", "channels": "X*_BA_time"}], fs=1))


def test_a_bad_regular_expression_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'re:X\(' is not a valid regular expression"):
        load_custom(spec_with(tmp_path, [{"files": "a.mat", "label": "ir", "condition": "c", "channels": "re:X("}], fs=1))


def test_patterns_over_csv_headers_and_npz_keys(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("time,accel_x [g]\n0,1.5\n1,2.5\n2,3.5\n")
    np.savez(tmp_path / "b.npz", sensor_7=np.arange(5.0), fs=np.float64(10))
    data = load_custom(spec_with(tmp_path, [
        {"files": "a.csv", "label": "normal", "condition": "c", "channels": "accel_*", "fs": 10},
        {"files": "b.npz", "label": "ir", "condition": "c", "channels": "sensor_?"},
    ]))
    np.testing.assert_array_equal(data.recordings[0].signal[0], [1.5, 2.5, 3.5])
    np.testing.assert_array_equal(data.recordings[1].signal[0], np.arange(5.0))
    # a header that itself holds glob characters is matched literally first
    data = load_custom(spec_with(tmp_path, [{"files": "a.csv", "label": "normal", "condition": "c",
                                             "channels": "accel_x [g]", "fs": 10}]))
    assert tuple(data.recordings[0].channels) == ("accel_x [g]",)


# --- item 6: literal file names with glob characters ----------------------------------------------------------


def test_an_existing_file_with_brackets_in_its_name_is_a_path_not_a_glob(tmp_path: Path) -> None:
    np.save(tmp_path / "run[1].npy", np.arange(10.0))
    np.save(tmp_path / "run1.npy", np.zeros(10))
    data = load_custom(spec_with(tmp_path, [{"files": "run[1].npy", "label": "normal", "condition": "c"}], fs=10))
    assert [Path(r.source).name for r in data.recordings] == ["run[1].npy"]
    np.testing.assert_array_equal(data.recordings[0].signal[0], np.arange(10.0))
    data = load_custom(spec_with(tmp_path, [{"files": "run[0-9].npy", "label": "normal", "condition": "c"}], fs=10))
    assert [Path(r.source).name for r in data.recordings] == ["run1.npy"]


# --- item 6: unreadable folders are reported as unreadable, not as missing -----------------------------------


@pytest.fixture
def lock(monkeypatch: pytest.MonkeyPatch):
    """Make folders unreadable: chmod 000, and (root ignores modes) os.scandir refusing them."""
    locked: list[Path] = []
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if any(Path(os.fsdecode(path)).resolve() == p for p in locked):
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)

    def apply(folder: Path) -> Path:
        locked.append(folder.resolve())
        folder.chmod(0)
        return folder

    yield apply
    for folder in locked:
        folder.chmod(0o755)


def test_an_unreadable_cwru_folder_is_reported_as_unreadable(tmp_path: Path, lock) -> None:
    root = tmp_path / "cwru"
    (root / "sub").mkdir(parents=True)
    cwru_style(root, 105)
    lock(root / "sub")
    with pytest.raises(DataError, match=r"cannot list every folder: .*sub.* is unreadable \(permission denied\)"):
        find_cwru_files(root)
    lock(root)
    with pytest.raises(DataError, match=r"CWRU data folder .*cwru cannot be read: .*unreadable \(permission denied\)"):
        load_cwru(root, CWRUOptions(loads=[0]))


def test_an_unreadable_data_root_is_reported_as_unreadable(tmp_path: Path, lock) -> None:
    from conftest import small_config

    from syndiag.data.prepare import prepare

    (tmp_path / "data").mkdir()
    lock(tmp_path / "data")
    with pytest.raises(DataError, match=r"data root .*data cannot be read: .*unreadable \(permission denied\)"):
        prepare(small_config(tmp_path, data_root=str(tmp_path / "data")))


def test_a_glob_in_an_unreadable_folder_says_unreadable(tmp_path: Path, lock) -> None:
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "a.npy", np.arange(10.0))
    lock(tmp_path / "data")
    with pytest.raises(DataError, match=r"recordings\[0\]: folder .*data cannot be read: .*unreadable \(permission denied\)"):
        load_custom(spec_with(tmp_path, [{"files": "data/*.npy", "label": "normal", "condition": "c"}], fs=10))
