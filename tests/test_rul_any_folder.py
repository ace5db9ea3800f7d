"""`rul predict` on any unit folder (issue 32): condition from flags, official RUL by content, bad input, the fast reader."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.data.femto_files import clock_seconds, read_acc, read_table
from syndiag.prognostics import units as units_module
from syndiag.prognostics.features import FeatureTable, feature_names
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_checkpoint import save_rul
from syndiag.prognostics.rul_models import MeanResidualLife
from syndiag.prognostics.units import Unit, femto_unit

runner = CliRunner()
ACC_FS = 25600.0


def write_snapshot(path: Path, start_s: float, rng: np.random.Generator, rows: int = 2560, fs: float = ACC_FS) -> None:
    t = start_s + np.arange(rows) / fs
    clock = t % 86400
    table = np.column_stack([clock // 3600, clock % 3600 // 60, np.floor(clock % 60), np.round((t % 1) * 1e6), rng.normal(0, 0.4, (rows, 2))])
    np.savetxt(path, table, fmt=["%d", "%d", "%d", "%d", "%.3f", "%.3f"], delimiter=",")


def write_unit(folder: Path, count: int, start_s: float = 3600.0) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for k in range(count):
        write_snapshot(folder / f"acc_{k + 1:05d}.csv", start_s + 10 * k, rng)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """The floor fitted on two made-up lives (it reads no sensor): enough to run `rul predict` end to end."""
    table = FeatureTable(feature_names(), np.zeros((3, len(feature_names()))))
    lives = [Unit(f"u{i}", "x", np.array([0.0, life / 2, life]), table, True) for i, life in enumerate((20000.0, 30000.0))]
    folder = tmp_path_factory.mktemp("ckpt") / "rul-model"
    return save_rul(folder, "mean-residual-life", MeanResidualLife().fit(lives), ConformalIntervals(tuple(np.linspace(-0.4, 0.4, 9))), [0.8],
                    {"bands": 8})


def predict(folder: Path, checkpoint: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["rul", "predict", str(folder), "--checkpoint", str(checkpoint), *extra])
    return result.exit_code, result.output if "--json" in extra else " ".join(result.output.split())


def test_a_folder_with_any_name_predicts_with_the_condition_from_the_flags(tmp_path, checkpoint):
    folder = write_unit(tmp_path / "pump 7 (north)", 12)
    code, output = predict(folder, checkpoint, "--rpm", "1500", "--load", "5000", "--png", str(tmp_path / "p.png"), "--json")
    assert code == 0, output
    found = json.loads(output)
    assert found["unit"] == "pump 7 (north)" and found["condition"] == "1500rpm_5000N" and found["rul_s"] > 0
    assert found["actual_rul_s"] is None and found["official"] is None and (tmp_path / "p.png").is_file()
    assert not found["degrading"] and found["at_least_s"]["0.8"] == pytest.approx(found["rul_s"] * math.exp(-0.3))  # 2nd of 9 residuals
    code, output = predict(folder, checkpoint, "--png", str(tmp_path / "p.png"))
    hours = found["at_least_s"]["0.8"] / 3600
    assert code == 0 and f"no degradation yet: at least {hours:.2f} h" in output and "with 80% confidence" in output and "interval" not in output


def test_a_folder_named_like_a_test_bearing_gets_no_official_rul_unless_its_content_is_one(tmp_path, checkpoint, shared_data):
    fake = write_unit(tmp_path / "Bearing1_3", 12)
    code, output = predict(fake, checkpoint, "--png", str(tmp_path / "a.png"), "--json")
    assert code == 0, output
    found = json.loads(output)
    assert found["actual_rul_s"] is None and found["official"] is None and found["condition"] == "unspecified"
    real = shared_data / "femto" / "Test_set" / "Bearing2_7"
    if not real.is_dir():
        pytest.skip(f"no FEMTO data at {real}")
    copy = tmp_path / "renamed-unit"
    shutil.copytree(real, copy)
    code, output = predict(copy, checkpoint, "--png", str(tmp_path / "b.png"))
    assert code == 0, output
    assert "official actual RUL of FEMTO test bearing Bearing2_7 (this folder's last snapshot is its truncation snapshot, by sha256" in output
    assert "0.16 h (580 s)" in output and "operating condition: unspecified" in output
    (copy / "acc_00172.csv").unlink()  # its last snapshot is no longer the truncation point: no official RUL
    code, output = predict(copy, checkpoint, "--png", str(tmp_path / "c.png"), "--json")
    assert code == 0 and json.loads(output)["official"] is None


def test_bad_unit_folders_exit_2_name_the_file_and_write_nothing(tmp_path, checkpoint):
    png = tmp_path / "x.png"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no snapshots here")
    code, output = predict(empty, checkpoint, "--png", str(png))
    assert code == 2 and "empty: no acc_NNNNN.csv vibration files" in output
    unequal = write_unit(tmp_path / "unequal", 10)
    write_snapshot(unequal / "acc_00006.csv", 3650.0, np.random.default_rng(1), rows=2000)
    code, output = predict(unequal, checkpoint, "--png", str(png))
    assert code == 2 and "acc_00006.csv: 2000 samples, acc_00001.csv has 2560; a unit's snapshots need one length" in output
    back = write_unit(tmp_path / "back", 10)
    write_snapshot(back / "acc_00009.csv", 3000.0, np.random.default_rng(1))
    write_snapshot(back / "acc_00010.csv", 3010.0, np.random.default_rng(1))
    code, output = predict(back, checkpoint, "--png", str(png))
    assert code == 2 and "acc_00009.csv: starts at 00:50:00.000, before acc_00008.csv (01:01:10.000): the clock goes back" in output
    spec = tmp_path / "units.yaml"
    spec.write_text("run_to_failure:\n  channels: [0, 1]\n  snapshots: '*.csv'\n  period_s: 600\n  learning: {folder: learning}\n")
    code, output = predict(unequal, checkpoint, "--spec", str(spec), "--png", str(png))
    assert code == 2 and "units.yaml" in output and "fs" in output
    code, output = predict(unequal, checkpoint, "--rpm", "-5", "--png", str(png))
    assert code == 2 and "--rpm must be above 0" in output
    assert not png.exists()


def test_the_fast_reader_gives_the_bytes_values_of_the_table_reader(tmp_path, shared_data):
    files = sorted((shared_data / "femto" / "Learning_set" / "Bearing3_2").glob("acc_*.csv"))[::20]
    if not files:
        pytest.skip("no FEMTO data")
    odd = tmp_path / "acc_00001.csv"  # an exponent and a '+': the table reader's path, same values
    odd.write_text("\n".join(f"9,0,{s // 100},{(s % 100) * 1e4:.3e},+1.5e-1,-{s}" for s in range(2560)) + "\n")
    for path in [*files, odd]:
        start, horizontal, vertical = read_acc(path, ACC_FS if path != odd else 100.0)
        table = read_table(path, 6)
        assert start == clock_seconds(table[:1], 1e-6)[0]
        assert np.array_equal(horizontal, table[:, 4]) and np.array_equal(vertical, table[:, 5])


def test_a_folder_read_in_parallel_chunks_equals_the_one_process_read(tmp_path, monkeypatch):
    folder = write_unit(tmp_path / "unit", 11)
    monkeypatch.setattr(units_module, "CHUNK", 3)
    monkeypatch.setattr(units_module, "PARALLEL_FROM", 4)
    one, two = femto_unit(folder, "test", workers=1), femto_unit(folder, "test", workers=2)
    assert np.array_equal(one.features.values, two.features.values) and np.array_equal(one.time_s, two.time_s)
    assert np.allclose(one.time_s, 10.0 * np.arange(11), atol=1e-4) and one.condition == "unspecified"
