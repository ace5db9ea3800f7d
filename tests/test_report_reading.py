"""A recording read as its user names it (issue 31): a CWRU file's speed, rate and identity from its own variables and
the catalogue whatever it is called, the evidence on every vibration channel's own bearing, the ISO zone's machine group
a setting of the machine (the CWRU rig's declared), and bad input refused with exit 2 and no report folder."""

import json

import numpy as np
import scipy.io
import yaml
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.data.cwru import catalogue_entry, identify_cwru
from syndiag.data.model_input import read_model_input

runner = CliRunner()


def renamed(source, target, number=None, keep=("DE", "FE", "RPM"), samples=None):
    """A copy of a CWRU file under another name, its variables renumbered ``number`` (default: kept)."""
    content = scipy.io.loadmat(str(source))
    out = {}
    for key, value in content.items():
        if key.startswith("__") or not any(key.endswith(k) or f"_{k}_" in key for k in keep):
            continue
        new = key if number is None else f"X{number:03d}" + key[4:]
        out[new] = value[:samples] if samples and value.size > 1 else value
    scipy.io.savemat(str(target), out)
    return target


def report(out, *args):
    result = runner.invoke(app, ["report", *map(str, args), "--template-only", "--out", str(out)])
    return result, (json.loads((out / "findings.json").read_text()) if result.exit_code == 0 else None)


def test_a_cwru_file_under_its_download_name_is_read_by_its_own_variables(tmp_path, cwru_dir):
    path = renamed(cwru_dir / "234.mat", tmp_path / "12k_Drive_End_OR021@6_0_234.mat")
    identity = identify_cwru(path)
    assert (identity.number, identity.entry.number, identity.fs, identity.channels, identity.rpm) == (234, 234, 12000.0, ("DE", "FE"), 1796.0)
    result, found = report(tmp_path / "rep", path)
    assert result.exit_code == 0, result.output
    e = found["evidence"]
    assert e["recording"] == "CWRU 234 (12k_drive_end, DE_OR021, @6, 0 HP)" and e["rpm_from"] == "its own X234RPM"
    assert [c["channel"] for c in e["channels"]] == ["DE", "FE"] and e["channel"] == "DE" and e["strongest"] == "outer_race"
    assert [c["bearing"][:8] for c in e["channels"]] == ["SKF 6205", "SKF 6203"]
    assert e["machine_group"] == "iso-10816-1:class1" and "2 hp (about 1.5 kW)" in e["machine_group_from"]
    assert found["fs_hz"] == 12000.0


def test_files_whose_variables_carry_another_number_keep_their_catalogued_rate_and_identity(tmp_path, cwru_dir):
    # 174.mat (48 kHz drive end, inner race 0.014 in, 0 HP) holds X173_*; 3001.mat holds X056_*, 3005.mat X048_*
    assert catalogue_entry(tmp_path / "174.mat", 173).number == 174 and catalogue_entry(tmp_path / "x.mat", 56).number == 3001
    assert catalogue_entry(tmp_path / "x.mat", 48).class_name == "DE_B028" and catalogue_entry(tmp_path / "x.mat", 999) is None
    path = renamed(cwru_dir / "105.mat", tmp_path / "174.mat", number=173, keep=("DE", "FE"))
    identity = identify_cwru(path)
    assert (identity.number, identity.entry.number, identity.fs, identity.rpm) == (173, 174, 48000.0, 1797.0)
    assert identity.rpm_how.startswith("the nominal speed of 0 HP in the CWRU catalogue (it holds no RPM variable)")
    assert read_model_input(path, ["DE"], None, 12000.0).fs == 48000.0  # diagnose's reader: the catalogue's rate, not "pass --fs"
    odd = renamed(cwru_dir / "105.mat", tmp_path / "IR028_0.mat", number=56, keep=("DE",))
    assert identify_cwru(odd).describe() == "CWRU 3001 (12k_drive_end, DE_IR028, 0 HP)"
    result, found = report(tmp_path / "rep", odd)
    assert result.exit_code == 0, result.output
    assert found["evidence"]["recording"].startswith("CWRU 3001") and [c["channel"] for c in found["evidence"]["channels"]] == ["DE"]


def test_the_evidence_follows_the_channels_not_a_label_and_fs_is_a_real_option(tmp_path, cwru_dir):
    path = renamed(cwru_dir / "278.mat", tmp_path / "fan_end_inner.mat")  # fan-end inner race 0.007 in
    result, found = report(tmp_path / "rep", path)
    assert result.exit_code == 0, result.output
    assert found["evidence"]["channel"] == "FE" and found["evidence"]["strongest"] == "inner_race"
    x = scipy.io.loadmat(str(cwru_dir / "130.mat"))["X130_DE_time"].ravel()[:24000]
    np.save(tmp_path / "r.npy", x)
    result, found = report(tmp_path / "npy", tmp_path / "r.npy", "--fs", "12000", "--rpm", "1796")
    assert result.exit_code == 0, result.output
    assert found["fs_hz"] == 12000.0 and found["evidence"]["strongest"] == "outer_race"
    assert found["evidence"]["machine_group_from"].startswith("assumed, as no machine or machine group is given")
    result, found = report(tmp_path / "g", tmp_path / "r.npy", "--fs", "12000", "--rpm", "1796", "--machine-group", "iso-20816-3:group2-rigid")
    assert result.exit_code == 0 and found["evidence"]["machine_group"] == "iso-20816-3:group2-rigid"


def test_bad_input_is_refused_naming_the_problem_with_exit_2_and_no_folder(tmp_path, cwru_dir):
    own = tmp_path / "pump.yaml"
    own.write_text(yaml.safe_dump({"name": "pump bearing", "rolling_elements": 9, "ball_diameter": 7.9, "pitch_diameter": 39.0}))
    fast = tmp_path / "fast.yaml"
    fast.write_text(yaml.safe_dump({"name": "slow bearing", "rolling_elements": 9, "ball_diameter": 7.9, "pitch_diameter": 39.0, "max_rpm": 1000}))
    x = scipy.io.loadmat(str(cwru_dir / "130.mat"))["X130_DE_time"].ravel()[:24000]
    np.save(tmp_path / "r.npy", x)
    short = renamed(cwru_dir / "130.mat", tmp_path / "short_130.mat", samples=3000)
    cases = [
        ([tmp_path / "r.npy", "--fs", "12000", "--rpm", "1796", "--bearing", own], "no machine group for the ISO zone"),
        ([tmp_path / "r.npy", "--fs", "12000", "--rpm", "1796", "--bearing", fast, "--machine-group", "iso-10816-1:class1"],
         "above the 1000 rpm limiting speed of the bearing slow bearing"),
        ([cwru_dir / "130.mat", "--bearing", "skf-6205-typo"], "unknown bearing 'skf-6205-typo'"),
        ([cwru_dir / "130.mat", "--machine-group", "group-9"], "unknown machine group 'group-9'"),
        ([short], "shorter than the 1.00 s an envelope spectrum with 1 Hz resolution needs"),
        ([cwru_dir / "130.mat", "--set", "resolution_hz=0.01"], "shorter than the 100.00 s an envelope spectrum with 0.01 Hz"),
    ]
    for args, message in cases:
        out = tmp_path / "rep"
        result, _ = report(out, *args)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (args, result.output)
        assert not out.exists()


def test_a_file_without_its_own_speed_takes_the_catalogues_and_a_speed_outside_the_rigs_range_is_warned_about(tmp_path, cwru_dir):
    x = scipy.io.loadmat(str(cwru_dir / "275.mat"))["X275_DE_time"]
    scipy.io.savemat(str(tmp_path / "FE_IR014_1.mat"), {"X275_DE_time": x})  # no X275RPM: the catalogue's nominal 1772 rpm
    result, found = report(tmp_path / "rep", tmp_path / "FE_IR014_1.mat")
    assert result.exit_code == 0 and found["evidence"]["rpm_from"].startswith("the nominal speed of 1 HP") and found["evidence"]["warnings"] == []
    result, found = report(tmp_path / "slow", tmp_path / "FE_IR014_1.mat", "--rpm", "1500")
    assert result.exit_code == 0 and found["evidence"]["warnings"][0].startswith("the shaft speed given, 1500 rpm, differs from the recording's own catalogued speed of 1772 rpm")
