"""Custom datasets from a YAML spec: each file format, channel selection, paths, and every bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
from fixtures import write_csv, write_spec

from syndiag.data.custom import load_custom
from syndiag.errors import ConfigError, DataError

CLASSES = [{"name": "healthy", "prompt": "healthy pump"}, {"name": "cavitation", "prompt": "cavitation at the impeller"}]


def spec_with(tmp_path: Path, recordings: list[dict[str, Any]], **top: Any) -> Path:
    return write_spec(tmp_path / "dataset.yaml", {"name": "my-pump", "classes": CLASSES, "recordings": recordings, **top})


def entry(files: Any, label: str = "healthy", condition: str = "1500rpm", **more: Any) -> dict[str, Any]:
    return {"files": files, "label": label, "condition": condition, **more}


def signal(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


# --- formats -------------------------------------------------------------------------------------------------


def test_simulator_style_npz_spec(tmp_path: Path) -> None:
    de, fe = signal(100, 1), signal(100, 2)
    np.savez(tmp_path / "normal_1797rpm.npz", DE=de, FE=fe, fs=np.float64(12000))
    np.savez(tmp_path / "ball_1797rpm.npz", DE=fe, FE=de, fs=np.float64(12000))
    spec = write_spec(
        tmp_path / "dataset.yaml",
        {
            "name": "simulated",
            "classes": [{"name": "normal", "prompt": "normal bearing"}, {"name": "ball", "prompt": "ball fault"}],
            "recordings": [
                {"files": "normal_1797rpm.npz", "label": "normal", "condition": "1797rpm", "channels": ["DE"], "fs": 12000},
                {"files": "ball_1797rpm.npz", "label": "ball", "condition": "1797rpm", "channels": ["DE", "FE"]},
            ],
        },
    )
    data = load_custom(spec)
    assert data.name == "simulated" and data.class_names == ["normal", "ball"] and data.conditions == ["1797rpm"]
    normal, ball = data.recordings
    assert tuple(normal.channels) == ("DE",) and normal.fs == 12000.0 and normal.source == str(tmp_path / "normal_1797rpm.npz")
    np.testing.assert_array_equal(normal.signal, de[None, :])
    assert tuple(ball.channels) == ("DE", "FE") and ball.fs == 12000.0
    np.testing.assert_array_equal(ball.signal, np.stack([fe, de]))
    assert data.missing == []


def test_npz_fs_entry_yields_to_spec_fs_with_a_note(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", DE=signal(), fs=np.float64(48000))
    data = load_custom(spec_with(tmp_path, [entry("a.npz", channels="DE")], fs=12000))
    assert data.recordings[0].fs == 12000.0
    assert "48000" in data.recordings[0].notes[0]


def test_npz_int_column_of_single_array(tmp_path: Path) -> None:
    table = np.random.default_rng(3).standard_normal((50, 3))
    np.savez(tmp_path / "a.npz", x=table)
    rec = load_custom(spec_with(tmp_path, [entry("a.npz", channels=[2, 0], fs=1000)])).recordings[0]
    assert tuple(rec.channels) == ("x:2", "x:0")
    np.testing.assert_array_equal(rec.signal, table[:, [2, 0]].T)


def test_mat_single_variable_is_the_default(tmp_path: Path) -> None:
    x = signal(80)
    scipy.io.savemat(tmp_path / "a.mat", {"vib": x[None, :]})
    rec = load_custom(spec_with(tmp_path, [entry("a.mat", fs=2000)])).recordings[0]
    assert tuple(rec.channels) == ("vib",) and rec.signal.shape == (1, 80)
    np.testing.assert_array_equal(rec.signal[0], x)


def test_mat_named_variables_and_columns(tmp_path: Path) -> None:
    table = np.random.default_rng(4).standard_normal((60, 3))
    scipy.io.savemat(tmp_path / "a.mat", {"data": table, "DE_time": table[:, :1], "RPM": 1797.0})
    rec = load_custom(spec_with(tmp_path, [entry("a.mat", channels=["data:2", "DE_time"], fs=2000)])).recordings[0]
    assert tuple(rec.channels) == ("data:2", "DE_time")
    np.testing.assert_array_equal(rec.signal, np.stack([table[:, 2], table[:, 0]]))


def test_mat_scalar_fs_is_used_and_scalar_is_no_channel(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "a.mat", {"vib": signal(), "fs": 25600.0, "RPM": 1797.0})
    assert load_custom(spec_with(tmp_path, [entry("a.mat")])).recordings[0].fs == 25600.0
    with pytest.raises(DataError, match=r"RPM has shape \(1, 1\); a 1-D or 2-D array of samples"):
        load_custom(spec_with(tmp_path, [entry("a.mat", channels="RPM")]))


def test_mat_with_several_variables_needs_channels(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "a.mat", {"DE": signal(), "FE": signal()})
    with pytest.raises(DataError, match=r"dataset\.yaml: recordings\[0\].*a\.mat.*2 signal variables.*DE.*FE"):
        load_custom(spec_with(tmp_path, [entry("a.mat", fs=2000)]))


def test_mat_wide_variable_needs_a_column(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "a.mat", {"data": np.zeros((40, 3)) + 1.0})
    with pytest.raises(DataError, match=r"data has shape \(40, 3\).*'data:0' \.\.\. 'data:2'"):
        load_custom(spec_with(tmp_path, [entry("a.mat", channels="data", fs=2000)]))


def test_mat_missing_variable_lists_what_exists(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "a.mat", {"DE": signal(), "FE": signal()})
    with pytest.raises(DataError, match=r"no variable 'BA'; the file holds DE \(1, 64\), FE \(1, 64\)"):
        load_custom(spec_with(tmp_path, [entry("a.mat", channels="BA", fs=2000)]))


def test_mat_v73_is_refused_with_advice(tmp_path: Path) -> None:
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    (tmp_path / "a.mat").write_bytes(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM" + b"\x00" * 512)
    with pytest.raises(DataError, match=r"a\.mat\): MATLAB v7\.3 .*not supported.*-v7"):
        load_custom(spec_with(tmp_path, [entry("a.mat", fs=2000)]))


def test_corrupt_mat_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "a.mat").write_bytes(b"this is not a mat file at all" * 20)
    with pytest.raises(DataError, match=r"recordings\[0\].*a\.mat.*not a readable MATLAB"):
        load_custom(spec_with(tmp_path, [entry("a.mat", fs=2000)]))


def test_csv_with_header_by_name(tmp_path: Path) -> None:
    table = np.random.default_rng(5).standard_normal((30, 3))
    write_csv(tmp_path / "a.csv", table, header=["time", "accel x", "accel y"])
    rec = load_custom(spec_with(tmp_path, [entry("a.csv", channels=["accel y", 1], fs=100)])).recordings[0]
    assert tuple(rec.channels) == ("accel y", "accel x")
    np.testing.assert_array_equal(rec.signal, table[:, [2, 1]].T)


def test_csv_without_header_defaults_to_first_column(tmp_path: Path) -> None:
    table = np.random.default_rng(6).standard_normal((30, 2))
    write_csv(tmp_path / "a.csv", table)
    rec = load_custom(spec_with(tmp_path, [entry("a.csv", fs=100)])).recordings[0]
    assert tuple(rec.channels) == ("col0",)
    np.testing.assert_array_equal(rec.signal[0], table[:, 0])


def test_csv_semicolon_with_decimal_comma(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("t;v\n0,0;1,5\n0,1;-2,25\n0,2;3\n", encoding="utf-8")
    rec = load_custom(spec_with(tmp_path, [entry("a.csv", channels="v", fs=10)])).recordings[0]
    np.testing.assert_array_equal(rec.signal[0], [1.5, -2.25, 3.0])


@pytest.mark.parametrize("delimiter", ["\t", " ", ";"])
def test_csv_other_delimiters(tmp_path: Path, delimiter: str) -> None:
    table = np.random.default_rng(7).standard_normal((20, 2))
    write_csv(tmp_path / "a.txt", table, delimiter=delimiter)
    rec = load_custom(spec_with(tmp_path, [entry("a.txt", channels=[1], fs=100)])).recordings[0]
    np.testing.assert_array_equal(rec.signal[0], table[:, 1])


def test_csv_unknown_column_name_lists_header(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", np.ones((5, 2)), header=["x", "y"])
    with pytest.raises(DataError, match=r"a\.csv\): no column 'z'; the header names x, y"):
        load_custom(spec_with(tmp_path, [entry("a.csv", channels="z", fs=10)]))


def test_csv_name_without_header_is_an_error(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", np.ones((5, 2)))
    with pytest.raises(DataError, match=r"has no header row.*use an index 0\.\.1"):
        load_custom(spec_with(tmp_path, [entry("a.csv", channels="x", fs=10)]))


def test_csv_bad_row_names_line(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a,b\n1,2\n3,oops\n5,6\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"recordings\[0\].*a\.csv.*line 3: 'oops' is not a number"):
        load_custom(spec_with(tmp_path, [entry("a.csv", fs=10)]))


def test_npy_one_and_two_dimensional(tmp_path: Path) -> None:
    x = signal(50)
    table = np.random.default_rng(8).standard_normal((3, 50))
    np.save(tmp_path / "one.npy", x)
    np.save(tmp_path / "channels_first.npy", table)
    data = load_custom(
        spec_with(tmp_path, [entry("one.npy", fs=100), entry("channels_first.npy", channels=[2, 1], fs=100)])
    )
    one, two = data.recordings
    np.testing.assert_array_equal(one.signal[0], x)
    assert tuple(two.channels) == ("col2", "col1")
    np.testing.assert_array_equal(two.signal, table[[2, 1]])


def test_npy_column_out_of_range(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", signal())
    with pytest.raises(DataError, match=r"no column 1 \(columns 0\.\.0\)"):
        load_custom(spec_with(tmp_path, [entry("one.npy", channels=1, fs=100)]))


def test_npy_by_name_is_an_error(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", signal())
    with pytest.raises(DataError, match="chosen by index"):
        load_custom(spec_with(tmp_path, [entry("one.npy", channels="DE", fs=100)]))


def test_corrupt_npz_and_npy(tmp_path: Path) -> None:
    (tmp_path / "a.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "b.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"a\.npz\): not a readable \.npz"):
        load_custom(spec_with(tmp_path, [entry("a.npz", fs=100)]))
    with pytest.raises(DataError, match=r"b\.npy\): not a readable \.npy"):
        load_custom(spec_with(tmp_path, [entry("b.npy", fs=100)]))


def test_npz_missing_key_lists_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", DE=signal(), fs=np.float64(100))
    with pytest.raises(DataError, match=r"no key 'FE'; the file holds DE \(64,\), fs \(\)"):
        load_custom(spec_with(tmp_path, [entry("a.npz", channels=["FE"])]))


def test_channels_of_unequal_length(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", DE=signal(64), FE=signal(60))
    with pytest.raises(DataError, match=r"differ in length \(DE: 64, FE: 60\)"):
        load_custom(spec_with(tmp_path, [entry("a.npz", channels=["DE", "FE"], fs=100)]))


def test_format_override_for_unknown_suffix(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.dat", np.ones((5, 1)))
    with pytest.raises(DataError, match=r"unknown file type '\.dat'"):
        load_custom(spec_with(tmp_path, [entry("a.dat", fs=10)]))
    rec = load_custom(spec_with(tmp_path, [entry("a.dat", fs=10, format="csv")])).recordings[0]
    assert rec.n_samples == 5


# --- paths and globs -----------------------------------------------------------------------------------------


def test_globs_and_lists_relative_to_spec_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "project" / "data"
    data_dir.mkdir(parents=True)
    for i in range(3):
        np.save(data_dir / f"healthy_{i}.npy", signal(40, i))
    np.save(data_dir / "cav.npy", signal(40, 9))
    absolute = tmp_path / "elsewhere" / "cav2.npy"
    absolute.parent.mkdir()
    np.save(absolute, signal(40, 10))
    spec = write_spec(
        tmp_path / "project" / "dataset.yaml",
        {
            "name": "my-pump",
            "fs": 20000,
            "classes": CLASSES,
            "recordings": [
                entry("data/healthy_*.npy"),
                entry(["data/cav.npy", str(absolute)], label="cavitation"),
            ],
        },
    )
    monkeypatch.chdir(tmp_path)
    data = load_custom(spec)
    assert [Path(r.source).name for r in data.recordings] == [
        "healthy_0.npy",
        "healthy_1.npy",
        "healthy_2.npy",
        "cav.npy",
        "cav2.npy",
    ]
    assert all(r.fs == 20000.0 for r in data.recordings)
    np.testing.assert_array_equal(data.recordings[1].signal[0], signal(40, 1))


def test_glob_matching_nothing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"dataset\.yaml: recordings\[0\]: the pattern 'data/\*\.csv' matches no file"):
        load_custom(spec_with(tmp_path, [entry("data/*.csv", fs=10)]))


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"recordings\[0\]: file not found: .*nope\.npy"):
        load_custom(spec_with(tmp_path, [entry("nope.npy", fs=10)]))


def test_recording_listed_twice(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", signal())
    with pytest.raises(ConfigError, match=r"recordings\[1\]: .*a\.npy is listed twice \(also in recordings\[0\]\)"):
        load_custom(spec_with(tmp_path, [entry("a.npy"), entry("*.npy", label="cavitation")], fs=10))


# --- spec errors ---------------------------------------------------------------------------------------------


def test_unknown_label(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", signal())
    with pytest.raises(ConfigError, match=r"recordings\[0\]: unknown label 'broken'; the classes are healthy, cavitation"):
        load_custom(spec_with(tmp_path, [entry("a.npy", label="broken", fs=10)]))


def test_no_sampling_rate_anywhere(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", signal())
    with pytest.raises(ConfigError, match=r"dataset\.yaml: recordings\[0\].*no sampling rate"):
        load_custom(spec_with(tmp_path, [entry("a.npy")]))


def test_nan_is_reported_with_spec_and_entry(tmp_path: Path) -> None:
    x = signal()
    x[5] = np.nan
    np.save(tmp_path / "a.npy", x)
    with pytest.raises(DataError, match=r"dataset\.yaml: recordings\[0\] \(.*a\.npy\): .*NaN/Inf.*sample 5"):
        load_custom(spec_with(tmp_path, [entry("a.npy", fs=10)]))


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"recordings\.0\.chanels"):
        load_custom(spec_with(tmp_path, [entry("a.npy", chanels=[0])]))


def test_duplicate_class_names(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "dataset.yaml",
        {"name": "x", "classes": CLASSES + [CLASSES[0]], "recordings": [entry("a.npy")]},
    )
    with pytest.raises(ConfigError, match="listed twice: healthy"):
        load_custom(spec)


def test_bad_yaml_syntax(tmp_path: Path) -> None:
    path = tmp_path / "dataset.yaml"
    path.write_text("name: x\nclasses: [a, b\nrecordings:\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dataset\.yaml: not valid YAML"):
        load_custom(path)


def test_numeric_condition_and_missing_cells(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", signal())
    np.save(tmp_path / "b.npy", signal())
    np.save(tmp_path / "c.npy", signal())
    data = load_custom(
        spec_with(
            tmp_path,
            [entry("a.npy", condition=0), entry("b.npy", condition=1), entry("c.npy", "cavitation", condition=0)],
            fs=10,
        )
    )
    assert data.conditions == ["0", "1"]
    assert data.missing == ["cavitation (cavitation at the impeller) at 1: no recording"]
