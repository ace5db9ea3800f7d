"""FEMTO PRONOSTIA in its original layout: file counts, clock times, temperature alignment, RUL, bad input."""

import time
from pathlib import Path

import numpy as np
import pytest

from syndiag.data.femto import (
    ACC_FS,
    align_temperature,
    official_rul,
    read_bearing,
    read_femto,
)
from syndiag.data.femto_files import numbered_files, unwrap_days
from syndiag.data.femto_sensors import femto_sensor_set
from syndiag.errors import DataError

# MANIFEST §3: bearing -> (snapshots kept, temperature files)
LEARNING = {"Bearing1_1": (282, 466), "Bearing1_2": (88, 144), "Bearing2_1": (92, 151), "Bearing2_2": (81, 0), "Bearing3_1": (53, 89), "Bearing3_2": (165, 0)}
TEST = {
    "Bearing1_3": (208, 0), "Bearing1_4": (141, 188), "Bearing1_5": (258, 383), "Bearing1_6": (258, 383), "Bearing1_7": (178, 250),
    "Bearing2_3": (148, 0), "Bearing2_4": (89, 101), "Bearing2_5": (228, 335), "Bearing2_6": (85, 0), "Bearing2_7": (45, 28), "Bearing3_3": (63, 58),
}


@pytest.fixture(scope="module")
def femto_dir(shared_data):
    folder = shared_data / "femto"
    if not folder.is_dir():
        pytest.skip(f"no FEMTO data at {folder}")
    return folder


@pytest.fixture(scope="module")
def two_bearings(femto_dir):
    return {b.name: b for b in read_femto(femto_dir, ("learning",), ["Bearing3_1", "Bearing2_2"])}


def clock_row(seconds: float) -> tuple[int, int, int]:
    s = seconds % 86400
    return int(s // 3600), int(s % 3600 // 60), int(s % 60)


def write_acc(path: Path, start: float, rows: int = 2560, fs: float = ACC_FS, sep: str = ",", columns: int = 6) -> None:
    lines = []
    for k in range(rows):
        t = start + k / fs
        h, m, s = clock_row(t)
        values = [h, m, s, f"{(t % 1) * 1e6:.5g}", f"{np.sin(k):.3f}", f"{np.cos(k):.3f}", "0"][:columns]
        lines.append(sep.join(map(str, values)))
    path.write_text("\n".join(lines) + "\n")


def write_temp(path: Path, start: float, rows: int = 600, celsius: float = 40.0, sep: str = ";") -> None:
    lines = []
    for k in range(rows):
        t = start + k / 10
        h, m, s = clock_row(t)
        lines.append(sep.join(map(str, [f"{h:02d}", f"{m:02d}", f"{s:02d}", round(t * 10) % 10, f"{celsius + k / 600:.3f}"])))
    path.write_text("\n".join(lines))


def synthetic_bearing(root: Path, name: str = "Bearing2_9", start: float = 86400 - 50) -> Path:
    """Snapshots acc_00001 (23:59:10), acc_00005 (23:59:50) and acc_00009 (00:00:30 next day), temperature around."""
    folder = root / "Learning_set" / name
    folder.mkdir(parents=True)
    for i, number in enumerate((1, 5, 9)):
        write_acc(folder / f"acc_{number:05d}.csv", start - 40 + 40 * i)
    write_temp(folder / "temp_00001.csv", start - 40.5, rows=900)
    return folder


def test_file_counts_per_bearing_match_the_manifest(femto_dir):
    for set_folder, table in (("Learning_set", LEARNING), ("Test_set", TEST)):
        found = sorted(p.name for p in (femto_dir / set_folder).iterdir())
        assert found == sorted(table)
        for name, (kept, temps) in table.items():
            folder = femto_dir / set_folder / name
            assert (len(numbered_files(folder, "acc")), len(numbered_files(folder, "temp"))) == (kept, temps), name


def test_a_bearing_reads_with_monotonic_times_from_its_clock_columns(two_bearings):
    bearing = two_bearings["Bearing3_1"]
    assert (bearing.condition, bearing.rpm, bearing.load_n, bearing.set) == (3, 1500.0, 5000.0, "learning")
    assert len(bearing.snapshots) == 53 and len(bearing.temperature.files) == 89
    t = bearing.time_s
    assert t[0] == 0.0 and np.all(np.diff(t) > 0)
    assert np.allclose(np.diff(t)[:-1], 100.0, atol=0.01)  # every 10th snapshot kept, one every 10 s
    assert {s.horizontal.size for s in bearing.snapshots} == {2560} and bearing.snapshots[0].horizontal.dtype == np.float64
    assert bearing.snapshots[0].horizontal[0] == 0.338 and bearing.snapshots[0].vertical[0] == -0.263  # acc_00001.csv, row 1
    assert np.all(np.diff(bearing.temperature.time_s) > 0)
    assert bearing.temperature.time_s[0] == pytest.approx(58.0 + 0.6 - 0.11879, abs=1e-3)  # 09:11:37.6 vs 09:10:39.11879
    rul, life = bearing.rul_s, bearing.life_fraction
    assert rul[-1] == 0.0 and np.all(np.diff(rul) < 0) and rul[0] == t[-1]
    assert life[0] == 0.0 and life[-1] == 1.0


def test_snapshot_temperature_comes_from_the_same_moment(two_bearings):
    bearing = two_bearings["Bearing3_1"]
    aligned = align_temperature(bearing, samples=8)
    assert aligned.values.shape == aligned.time_s.shape == (53, 8)
    assert not aligned.present[0] and aligned.present[1:].all()  # temperature starts ~1 min after the first snapshot
    starts = bearing.time_s[aligned.present]
    latest = aligned.time_s[aligned.present, -1]
    assert np.all(np.abs(latest - starts) <= 1.0)
    assert np.all(latest <= starts + 2560 / ACC_FS)  # never after the snapshot's end
    assert np.allclose(np.diff(aligned.time_s[aligned.present], axis=1), 0.1, atol=1e-6)
    assert np.all(np.abs(aligned.celsius_at[aligned.present] - aligned.values[aligned.present, -1]) < 0.5)
    assert np.isnan(aligned.values[0]).all() and np.isnan(aligned.celsius_at[0])


def test_bearings_without_temperature_are_noted_not_refused(two_bearings):
    bearing = two_bearings["Bearing2_2"]
    assert bearing.temperature is None and align_temperature(bearing) is None
    assert "Bearing2_2: no temperature files; channel 'temperature' absent" in bearing.notes
    sensors = femto_sensor_set(None, read=list(two_bearings.values()))
    assert "Bearing2_2: no temperature files; channel 'temperature' absent" in sensors.notes
    by_group = {}
    for rec in sensors.recordings:
        by_group.setdefault(rec.group, []).append(rec)
    assert all("temperature" not in r.channels for r in by_group["Bearing2_2"])
    with_temp = by_group["Bearing3_1"]
    assert sum("temperature" in r.channels for r in with_temp) == 52
    rec = with_temp[10]
    assert rec.specs["acc_h"].fs == 25600.0 and rec.specs["temperature"].fs == 10.0 and rec.specs["speed"].fs == 1.0
    assert rec.severity is None and rec.condition == "1500rpm_5000N" and rec.channels["speed"][0] == 1500.0
    assert rec.start_s["acc_h"] - 1.0 <= rec.start_s["temperature"] and rec.end_s("temperature") <= rec.end_s("acc_h") + 0.1
    assert rec.extra["life_fraction"] == pytest.approx(rec.extra["time_s"] / with_temp[-1].extra["time_s"])
    assert sensors.conditions == ["1650rpm_4200N", "1500rpm_5000N"]


def test_test_bearings_carry_the_official_rul(femto_dir):
    (bearing,) = read_femto(femto_dir, ("test",), ["Bearing2_7"])
    assert bearing.set == "test" and bearing.actual_rul_s == 580.0 == official_rul()["Bearing2_7"]
    assert len(bearing.snapshots) == 45 and bearing.rul_s is None and bearing.life_fraction is None
    assert bearing.scoring_rul_s()[-1] == 580.0 and len(official_rul()) == 11


def test_time_comes_from_the_clock_across_gaps_and_midnight(tmp_path):
    synthetic_bearing(tmp_path)
    bearing = read_bearing(tmp_path / "Learning_set" / "Bearing2_9")
    assert [s.number for s in bearing.snapshots] == [1, 5, 9]
    assert np.allclose(bearing.time_s, [0.0, 40.0, 80.0], atol=1e-4)
    assert np.allclose(bearing.temperature.time_s[[0, -1]], [-0.5, 89.4], atol=1e-6)
    aligned = align_temperature(bearing, samples=1)
    assert aligned.present.all() and np.all(np.abs(aligned.time_s[:, 0] - bearing.time_s) <= 0.1)
    assert unwrap_days(np.array([86399.0, 5.0]), "x").tolist() == [86399.0, 86405.0]


def test_an_isolated_out_of_order_clock_time_is_repaired_and_noted(tmp_path):
    folder = synthetic_bearing(tmp_path, start=40000.0)
    write_acc(folder / "acc_00005.csv", 20000.0)  # like Bearing1_1 acc_02121.csv
    bearing = read_bearing(folder)
    assert np.allclose(bearing.time_s, [0.0, 40.0, 80.0], atol=1e-4)
    assert any("acc_00005.csv: clock time 05:33:20.000 out of order" in note for note in bearing.notes)
    write_acc(folder / "acc_00009.csv", 20000.0)  # the last two go back: not a glitch
    with pytest.raises(DataError, match=r"Bearing2_9 \(first time of each acc file.*time goes back"):
        read_bearing(folder)


def test_a_line_with_a_wrong_column_count_is_named(tmp_path):
    folder = synthetic_bearing(tmp_path)
    path = folder / "acc_00005.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"acc_00005.csv: line 3 has 5 columns, 6 expected"):
        read_bearing(folder)
    write_acc(path, 86400 - 50, columns=7)
    with pytest.raises(DataError, match=r"acc_00005.csv: line 1 has 7 columns, 6 expected \(2560 such"):
        read_bearing(folder)
    write_acc(path, 86400 - 50)
    path.write_text(path.read_text().replace("0.841", "abc", 1))
    with pytest.raises(DataError, match=r"acc_00005.csv: holds a value that is not a number"):
        read_bearing(folder)
    write_acc(path, 86400 - 50)
    temp = folder / "temp_00001.csv"
    temp.write_text(temp.read_text().replace(";", ",").replace("40.000", "nan"))  # commas work as well as semicolons
    with pytest.raises(DataError, match=r"temp_00001.csv: line 1 holds NaN or Inf"):
        read_bearing(folder)


def test_a_temperature_file_that_does_not_overlap_is_refused(tmp_path):
    folder = synthetic_bearing(tmp_path)
    write_temp(folder / "temp_00001.csv", 3 * 3600.0)  # 03:00, the snapshots are around midnight
    with pytest.raises(DataError, match=r"temp_00001.csv: temperature from 03:00:00.000 to 03:00:59.900 does not overlap"):
        read_bearing(folder)
    write_temp(folder / "temp_00001.csv", 86400 - 90)
    write_temp(folder / "temp_00002.csv", 86400 - 60.5)  # starts before the previous file ends
    with pytest.raises(DataError, match=r"temp_00002.csv: starts at 23:58:59.500, before .*temp_00001.csv ends"):
        read_bearing(folder)


def test_a_channel_rate_that_disagrees_is_refused(tmp_path):
    folder = synthetic_bearing(tmp_path)
    write_acc(folder / "acc_00005.csv", 86400 - 50, fs=12800.0)
    with pytest.raises(DataError, match=r"acc_00005.csv: channel 'acceleration \(horizontal, vertical\)'.*12800.* declared at 25600 Hz"):
        read_bearing(folder)


def test_unknown_bearings_sets_and_conditions_are_named(tmp_path, femto_dir):
    with pytest.raises(DataError, match=r"bearing\(s\) \['Bearing9_9'\] not found"):
        read_femto(femto_dir, ("learning",), ["Bearing9_9"])
    with pytest.raises(DataError, match=r"unknown FEMTO set"):
        read_femto(femto_dir, ("training",))
    folder = synthetic_bearing(tmp_path, name="Bearing4_1")
    with pytest.raises(DataError, match=r"Bearing4_1: operating condition 4 is unknown"):
        read_bearing(folder)


@pytest.mark.slow
def test_all_learning_bearings_read_fast_and_match_the_manifest(femto_dir):
    started = time.perf_counter()
    bearings = read_femto(femto_dir.parent, ("learning",))
    seconds = time.perf_counter() - started
    assert seconds < 30, f"reading the learning set took {seconds:.1f} s"
    for b in bearings:
        kept, temps = LEARNING[b.name]
        assert len(b.snapshots) == kept and (0 if b.temperature is None else len(b.temperature.files)) == temps
        assert np.all(np.diff(b.time_s) > 0) and (b.temperature is None or np.all(np.diff(b.temperature.time_s) > 0))
    first = next(b for b in bearings if b.name == "Bearing1_1")
    assert any("acc_02121.csv: clock time 09:38:46" in note for note in first.notes)
