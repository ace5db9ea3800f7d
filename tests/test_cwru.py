import shutil

import numpy as np
import pytest
import scipy.io

from syndiag.config.data import CWRUOptions
from syndiag.data.cwru import (
    cwru_file_map,
    find_cwru_files,
    load_cwru,
    primary_file,
    read_cwru_mat,
)
from syndiag.data.cwru_classes import cwru_classes
from syndiag.errors import DataError


def test_file_map_covers_the_19_class_4_load_setup():
    table = cwru_file_map()
    for load in range(4):
        for fault_class in cwru_classes():
            entry = primary_file(fault_class.name, load)
            assert entry.load_hp == load and entry.class_name == fault_class.name
    assert table[97].fs_hz == 48000 and table[105].fs_hz == 12000
    assert [table[n].load_hp for n in (97, 98, 99, 100)] == [0, 1, 2, 3]
    assert table[105].location == "drive_end" and table[105].fault_type == "inner_race" and table[105].diameter_in == 0.007
    assert table[309].or_position == "@3" and table[313].or_position == "@6"
    assert not table[310].primary and table[310].class_name == "FE_OR014"
    assert [table[n].rpm for n in (105, 106, 107, 108)] == [1797, 1772, 1750, 1730]


def test_prompts_are_the_papers():
    prompts = {c.name: c.prompt for c in cwru_classes()}
    assert len(prompts) == 19
    assert prompts["normal"] == "normal operation"
    assert prompts["DE_IR007"] == "inner race fault at motor end with diameter 0.007 inches"
    assert prompts["FE_OR021"] == "outer race fault at fan end with diameter 0.021 inches"


def test_reads_the_recordings_own_variables(cwru_dir):
    direct = scipy.io.loadmat(str(cwru_dir / "105.mat"))
    signal = read_cwru_mat(cwru_dir / "105.mat", 105, ["DE", "FE"])
    assert signal.shape == (2, direct["X105_DE_time"].size)
    np.testing.assert_array_equal(signal[0], direct["X105_DE_time"].ravel())
    np.testing.assert_array_equal(signal[1], direct["X105_FE_time"].ravel())


def test_a_file_carrying_another_recordings_variables_is_read_by_its_own_number(tmp_path):
    other, own = np.ones((600, 1)), np.arange(600.0)[:, None]
    scipy.io.savemat(tmp_path / "99.mat", {"X098_DE_time": other, "X099_DE_time": own, "X098_FE_time": other})
    np.testing.assert_array_equal(read_cwru_mat(tmp_path / "99.mat", 99, ["DE"])[0], own.ravel())
    with pytest.raises(DataError, match=r"X099_FE_time not found; the file holds .*X098_FE_time"):
        read_cwru_mat(tmp_path / "99.mat", 99, ["FE"])


def test_misnamed_file_is_reported_with_the_variables_it_holds(tmp_path, cwru_dir):
    shutil.copy(cwru_dir / "106.mat", tmp_path / "105.mat")
    with pytest.raises(DataError, match=r"X105_DE_time not found.*X106_DE_time.*named after its CWRU number"):
        read_cwru_mat(tmp_path / "105.mat", 105, ["DE"])


def test_corrupt_and_truncated_files_are_errors(tmp_path, cwru_dir):
    (tmp_path / "105.mat").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match="105.mat: not a readable MATLAB file"):
        read_cwru_mat(tmp_path / "105.mat", 105, ["DE"])
    data = (cwru_dir / "106.mat").read_bytes()
    (tmp_path / "106.mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="106.mat: not a readable MATLAB file"):
        read_cwru_mat(tmp_path / "106.mat", 106, ["DE"])


def test_nan_in_a_recording_is_an_error(tmp_path, cwru_dir):
    signal = scipy.io.loadmat(str(cwru_dir / "105.mat"))["X105_DE_time"].copy()
    signal[1234] = np.nan
    scipy.io.savemat(tmp_path / "105.mat", {"X105_DE_time": signal})
    with pytest.raises(DataError, match="NaN/Inf value.*sample 1234"):
        load_cwru(tmp_path, CWRUOptions(loads=[0]))


def test_full_folder_gives_19_classes_at_4_loads_with_the_normal_fallback_logged(cwru_dir):
    recordings = load_cwru(cwru_dir, CWRUOptions(channels=["DE", "FE"]))
    assert len(recordings.recordings) == 76 and recordings.missing == []
    assert recordings.conditions == ["1797rpm", "1772rpm", "1750rpm", "1730rpm"]
    normals = [r for r in recordings.recordings if r.label == "normal"]
    assert [r.condition for r in normals] == recordings.conditions
    assert all(r.fs == 12000.0 and r.signal.shape[0] == 2 for r in recordings.recordings)
    lengths = {r.n_samples for r in normals}
    assert lengths <= {15246, 15247}
    assert any("97.mat split into 4 disjoint quarters" in note for note in recordings.notes)
    assert any("97.mat resampled from 48000 Hz to 12000 Hz" in note for note in recordings.notes)
    sources = [r.source for r in normals]
    assert len(set(sources)) == 4


def test_normal_segment_of_a_load_does_not_depend_on_the_other_loads_requested(cwru_dir):
    alone = load_cwru(cwru_dir, CWRUOptions(loads=[3])).cell("1730rpm", "normal")[0]
    together = load_cwru(cwru_dir, CWRUOptions(loads=[0, 3])).cell("1730rpm", "normal")[0]
    np.testing.assert_array_equal(alone.signal, together.signal)


def test_baseline_is_resampled_from_48_khz_not_read_as_12_khz(cwru_dir):
    recordings = load_cwru(cwru_dir, CWRUOptions(loads=[0], missing_normal="reuse_97"))
    normal = recordings.cell("1797rpm", "normal")[0]
    assert normal.n_samples == int(np.ceil(243_938 / 4))
    spectrum = np.abs(np.fft.rfft(normal.signal[0] * np.hanning(normal.n_samples)))
    freqs = np.fft.rfftfreq(normal.n_samples, 1 / 12000.0)
    band = (freqs > 20) & (freqs < 40)
    assert abs(freqs[band][np.argmax(spectrum[band])] - 1796 / 60) < 1.0


def test_missing_normal_policies(cwru_dir):
    with pytest.raises(DataError, match=r"98.mat \(1 HP\).*not found.*missing_normal"):
        load_cwru(cwru_dir, CWRUOptions(loads=[1], missing_normal="error"))
    reused = load_cwru(cwru_dir, CWRUOptions(loads=[1, 2], missing_normal="reuse_97"))
    a, b = reused.cell("1772rpm", "normal")[0], reused.cell("1750rpm", "normal")[0]
    np.testing.assert_array_equal(a.signal, b.signal)
    assert any("reuse_97" in n for n in reused.notes)


def test_nested_layout_missing_files_and_duplicates(tmp_path, cwru_dir):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(cwru_dir / "108.mat", tmp_path / "a" / "b" / "108.mat")
    shutil.copy(cwru_dir / "97.mat", tmp_path / "a" / "97.mat")
    assert set(find_cwru_files(tmp_path)) == {97, 108}
    recordings = load_cwru(tmp_path, CWRUOptions(loads=[3]))
    assert {r.label for r in recordings.recordings} == {"normal", "DE_IR007"}
    assert any(m.startswith("172.mat (DE_IR014, 3 HP") for m in recordings.missing)
    assert len(recordings.missing) == 17
    shutil.copy(cwru_dir / "108.mat", tmp_path / "108.mat")
    with pytest.raises(DataError, match="found twice"):
        find_cwru_files(tmp_path)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="CWRU data folder not found"):
        load_cwru(tmp_path / "nope", CWRUOptions())
