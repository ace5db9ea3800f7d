"""SEU gearbox loader: original CSV layout, header detection, missing and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures import write_seu_fixture

from syndiag.config.data import SEUOptions
from syndiag.data.seu import SEU_CLASSES, load_seu, read_seu_csv
from syndiag.errors import DataError

LABELS = ["Chipped", "Health", "Miss", "Root", "Surface"]
CODES = ["20_0", "30_2"]


def write_all(folder: Path, n_rows: int = 40, **kwargs) -> dict[tuple[str, str], np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        (label, code): write_seu_fixture(folder / f"{label}_{code}.csv", n_rows, rng, **kwargs)
        for code in CODES
        for label in LABELS
    }


def test_nested_tab_separated_files_load_with_labels_conditions_and_values(tmp_path: Path) -> None:
    tables = write_all(tmp_path / "gearbox" / "gearset")
    data = load_seu(tmp_path, SEUOptions())
    assert data.name == "seu-gearset"
    assert [c.name for c in data.classes] == LABELS
    assert [c.prompt for c in data.classes] == [
        "Chipped tooth fault",
        "Healthy working state",
        "Missing tooth fault",
        "Root fault",
        "Surface fault",
    ]
    assert data.conditions == ["20Hz-0V", "30Hz-2V"]
    assert data.missing == []
    assert len(data.recordings) == 10
    names = {"20_0": "20Hz-0V", "30_2": "30Hz-2V"}
    for (label, code), table in tables.items():
        (rec,) = data.cell(names[code], label)
        assert tuple(rec.channels) == ("col1",)
        assert rec.fs == 5120.0
        assert rec.signal.dtype == np.float64 and rec.signal.shape == (1, 40)
        np.testing.assert_array_equal(rec.signal[0], table[:, 1])
        assert Path(rec.source).name == f"{label}_{code}.csv"


def test_comma_separated_trailing_separator_flat_mixed_case(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    chipped = write_seu_fixture(tmp_path / "chipped_20_0.CSV", 30, rng, sep=",", trailing_sep=True)
    surface = write_seu_fixture(tmp_path / "SURFACE_30_2.csv", 25, rng, sep="\t", trailing_sep=True)
    data = load_seu(tmp_path, SEUOptions(column=6))
    np.testing.assert_array_equal(data.cell("20Hz-0V", "Chipped")[0].signal[0], chipped[:, 6])
    np.testing.assert_array_equal(data.cell("30Hz-2V", "Surface")[0].signal[0], surface[:, 6])
    assert tuple(data.recordings[0].channels) == ("col6",)


@pytest.mark.parametrize("header_lines", [0, 3, 16, 20])
def test_header_length_is_detected(tmp_path: Path, header_lines: int) -> None:
    table = write_seu_fixture(tmp_path / "Root_20_0.csv", 12, np.random.default_rng(2), header_lines=header_lines)
    np.testing.assert_array_equal(read_seu_csv(tmp_path / "Root_20_0.csv"), table)


def test_windows_line_endings(tmp_path: Path) -> None:
    table = write_seu_fixture(tmp_path / "Miss_30_2.csv", 10, np.random.default_rng(3), newline="\r\n")
    np.testing.assert_array_equal(read_seu_csv(tmp_path / "Miss_30_2.csv"), table)


def test_missing_files_are_listed(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    write_seu_fixture(tmp_path / "Chipped_20_0.csv", 10, rng)
    write_seu_fixture(tmp_path / "Health_30_2.csv", 10, rng)
    data = load_seu(tmp_path, SEUOptions())
    assert [(r.label, r.condition) for r in data.recordings] == [("Chipped", "20Hz-0V"), ("Health", "30Hz-2V")]
    assert len(data.missing) == 8
    assert "Chipped_30_2.csv (Chipped tooth fault, 30Hz-2V)" in data.missing
    assert "Surface_20_0.csv (Surface fault, 20Hz-0V)" in data.missing


def test_selected_conditions_only(tmp_path: Path) -> None:
    write_all(tmp_path, n_rows=8)
    data = load_seu(tmp_path, SEUOptions(conditions=["30_2"]))
    assert data.conditions == ["30Hz-2V"]
    assert len(data.recordings) == len(SEU_CLASSES)
    assert {r.condition for r in data.recordings} == {"30Hz-2V"}


def test_gearset_copy_wins_and_bearingset_is_ignored(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    write_seu_fixture(tmp_path / "gearbox" / "bearingset" / "health_20_0.csv", 10, rng)
    gear = write_seu_fixture(tmp_path / "gearbox" / "gearset" / "Health_20_0.csv", 10, rng)
    data = load_seu(tmp_path, SEUOptions())
    np.testing.assert_array_equal(data.cell("20Hz-0V", "Health")[0].signal[0], gear[:, 1])


def test_same_file_in_two_folders_is_an_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    write_seu_fixture(tmp_path / "a" / "Root_20_0.csv", 10, rng)
    write_seu_fixture(tmp_path / "b" / "Root_20_0.csv", 10, rng)
    with pytest.raises(DataError, match="root_20_0.csv found more than once"):
        load_seu(tmp_path, SEUOptions())


def test_empty_root_names_root_and_expected_files(tmp_path: Path) -> None:
    (tmp_path / "other.csv").write_text("1,2,3\n")
    with pytest.raises(DataError, match=r"no SEU gear-subset file.*Chipped_20_0\.csv.*Surface_30_2\.csv") as info:
        load_seu(tmp_path, SEUOptions())
    assert str(tmp_path) in str(info.value)


def test_root_that_is_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="SEU data folder not found"):
        load_seu(tmp_path / "absent", SEUOptions())
    (tmp_path / "file.csv").write_text("1\n")
    with pytest.raises(DataError, match="SEU data folder is not a folder"):
        load_seu(tmp_path / "file.csv", SEUOptions())


def test_truncated_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "Chipped_20_0.csv"
    write_seu_fixture(path, 10, np.random.default_rng(7))
    text = path.read_text(encoding="latin-1").rstrip("\n")
    path.write_text(text[: text.rindex("\t") - 3], encoding="latin-1")
    with pytest.raises(DataError, match=r"Chipped_20_0\.csv: line 26 has 7 numbers, expected 8"):
        load_seu(tmp_path, SEUOptions())


def test_garbage_value_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "Miss_20_0.csv"
    write_seu_fixture(path, 10, np.random.default_rng(8))
    lines = path.read_text(encoding="latin-1").split("\n")
    fields = lines[19].split("\t")
    fields[3] = "1.2.3x"
    lines[19] = "\t".join(fields)
    path.write_text("\n".join(lines), encoding="latin-1")
    with pytest.raises(DataError, match=r"Miss_20_0\.csv: line 20: '1\.2\.3x' is not a number"):
        load_seu(tmp_path, SEUOptions())


def test_file_without_numeric_rows_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "Root_30_2.csv").write_text("just\na header\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"Root_30_2\.csv: no row of 8 numeric columns"):
        load_seu(tmp_path, SEUOptions())


def test_nan_in_selected_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Health_20_0.csv"
    write_seu_fixture(path, 10, np.random.default_rng(9))
    lines = path.read_text(encoding="latin-1").split("\n")
    fields = lines[18].split("\t")
    fields[1] = "nan"
    lines[18] = "\t".join(fields)
    path.write_text("\n".join(lines), encoding="latin-1")
    with pytest.raises(DataError, match=r"Health_20_0\.csv: .*NaN"):
        load_seu(tmp_path, SEUOptions())
