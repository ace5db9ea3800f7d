"""The shipped CWRU catalogue (every public CWRU file) and how a file's own variables identify its recording."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from syndiag.data.cwru import cwru_file_map, cwru_numbers, own_number
from syndiag.errors import DataError

# The CWRU Bearing Data Center tables, one group per row: numbers at 0, 1, 2, 3 HP.
TWELVE_K_DE = {
    "DE_IR007": [105, 106, 107, 108], "DE_B007": [118, 119, 120, 121], "DE_OR007@6": [130, 131, 132, 133],
    "DE_OR007@3": [144, 145, 146, 147], "DE_OR007@12": [156, 158, 159, 160],
    "DE_IR014": [169, 170, 171, 172], "DE_B014": [185, 186, 187, 188], "DE_OR014@6": [197, 198, 199, 200],
    "DE_IR021": [209, 210, 211, 212], "DE_B021": [222, 223, 224, 225], "DE_OR021@6": [234, 235, 236, 237],
    "DE_OR021@3": [246, 247, 248, 249], "DE_OR021@12": [258, 259, 260, 261],
    "DE_IR028": [3001, 3002, 3003, 3004], "DE_B028": [3005, 3006, 3007, 3008],
}
FORTY_EIGHT_K_DE = {
    "DE_IR007": [109, 110, 111, 112], "DE_B007": [122, 123, 124, 125], "DE_OR007@6": [135, 136, 137, 138],
    "DE_OR007@3": [148, 149, 150, 151], "DE_OR007@12": [161, 162, 163, 164],
    "DE_IR014": [174, 175, 176, 177], "DE_B014": [189, 190, 191, 192], "DE_OR014@6": [201, 202, 203, 204],
    "DE_IR021": [213, 214, 215, 217], "DE_B021": [226, 227, 228, 229], "DE_OR021@6": [238, 239, 240, 241],
    "DE_OR021@3": [250, 251, 252, 253], "DE_OR021@12": [262, 263, 264, 265],
}
TWELVE_K_FE = {
    "FE_IR007": [278, 279, 280, 281], "FE_B007": [282, 283, 284, 285], "FE_OR007@6": [294, 295, 296, 297],
    "FE_OR007@3": [298, 299, 300, 301], "FE_OR007@12": [302, 305, 306, 307],
    "FE_IR014": [274, 275, 276, 277], "FE_B014": [286, 287, 288, 289], "FE_OR014@3": [310, 309, 311, 312],
    "FE_IR021": [270, 271, 272, 273], "FE_B021": [290, 291, 292, 293],
}


def _check(groups: dict[str, list[int]], fs: float, set_name: str) -> None:
    table = cwru_file_map()
    for group, numbers in groups.items():
        name, _, position = group.partition("@")
        for load, number in enumerate(numbers):
            entry = table[number]
            assert (entry.class_name, entry.load_hp, entry.fs_hz, entry.set) == (name, load, fs, set_name), number
            assert entry.or_position == (f"@{position}" if position else ""), number
            assert entry.rpm == (1797, 1772, 1750, 1730)[load]


def test_the_whole_public_catalogue_ships():
    table = cwru_file_map()
    assert len(table) == 161
    _check(TWELVE_K_DE, 12000, "12k_drive_end")
    _check(FORTY_EIGHT_K_DE, 48000, "48k_drive_end")
    _check(TWELVE_K_FE, 12000, "12k_fan_end")
    assert [table[n].fs_hz for n in (97, 98, 99, 100)] == [48000] * 4
    assert (table[313].or_position, table[313].load_hp, table[315].or_position, table[315].load_hp) == ("@6", 0, "@6", 0)
    assert [table[n].load_hp for n in (316, 317, 318)] == [1, 2, 3]
    assert table[3001].diameter_in == 0.028 and table[3005].fault_type == "ball"
    assert not any(table[n].primary for n in (122, 144, 3001, 310))


def test_existing_entries_and_columns_are_unchanged():
    text = resources.files("syndiag.data").joinpath("cwru_files.csv").read_text(encoding="utf-8")
    assert "https://engineering.case.edu/bearingdatacenter" in text.split("number,")[0]
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert list(rows[0])[:10] == ["number", "class_name", "location", "fault_type", "diameter_in", "or_position",
                                  "load_hp", "rpm", "fs_hz", "primary"]
    primaries = {int(r["number"]) for r in rows if r["primary"] == "true"}
    assert len(primaries) == 76 and 310 not in primaries


def test_uncertain_entries_say_so(shared_data):
    table = cwru_file_map()
    here = {int(p.stem) for p in (shared_data / "cwru").glob("*.mat") if p.stem.isdigit()}
    assert {n for n, e in table.items() if e.source == "table+file"} == here
    assert all(e.source == "table" for n, e in table.items() if n not in here)
    assert "X173" in table[174].note and "assumed" in table[98].note


def test_a_files_own_number_comes_from_its_variables(tmp_path: Path):
    names = ["X098_DE_time", "X098_FE_time", "X099_DE_time", "X099_FE_time", "X099RPM"]
    assert cwru_numbers(names) == [98, 99]
    assert own_number(tmp_path / "99.mat", names) == 99
    assert own_number(tmp_path / "174.mat", ["X173_DE_time", "X173_FE_time"]) == 173
    assert own_number(tmp_path / "renamed.mat", ["X122_DE_time", "X122RPM"]) == 122
    assert own_number(tmp_path / "a.mat", ["vib", "fs"]) is None
    with pytest.raises(DataError, match="recordings 98, 99; name the file after its CWRU number"):
        own_number(tmp_path / "mixed.mat", names)


def test_an_original_48k_file_missing_from_the_old_map_is_read_by_its_own_variables(tmp_path: Path):
    from syndiag.data.model_input import read_signal

    x = np.random.default_rng(0).standard_normal((48_000, 1))
    scipy.io.savemat(tmp_path / "122.mat", {"X122_DE_time": x, "X122_FE_time": x[::-1], "X122RPM": 1796.0})
    signal, fs = read_signal(tmp_path / "122.mat", ["DE"], None, 12000.0)
    assert fs == 12000.0 and signal.shape == (1, 12_000)  # resampled from the catalogue's 48 kHz


def test_files_holding_another_numbers_variables_are_catalogued_with_it():
    table = cwru_file_map()
    assert [table[n].variable_number for n in (174, 3001, 3004, 3005, 3008, 105)] == [173, 56, 59, 48, 51, 105]
    assert table[174].variable("DE") == "X173_DE_time" and table[3001].variable("FE") == "X056_FE_time"
    held = {e.variable_number for e in table.values()}
    assert len(held) == len(table)  # no two catalogued files hold the same number's variables
