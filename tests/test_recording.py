"""Recordings: channels at their own rates and their validation, the uniform view of one-rate channels, and CWRU as DE + FE
vibration at 12 kHz with a speed channel."""

import numpy as np
import pytest

from syndiag.data.cwru import cwru_sensor_set
from syndiag.data.recording import (
    SPEED_FS,
    Channel,
    FaultClass,
    Recording,
    RecordingSet,
    check_rate,
)
from syndiag.errors import ConfigError, DataError

FEW = (97, 105, 106, 275, 278, 279)
"""Normal baseline, DE IR 0.007" at 0 and 1 HP, FE IR 0.014" at 1 HP (no RPM variable), FE IR 0.007" at 0 and 1 HP
(279's own RPM variable is wrong)."""


@pytest.fixture(scope="module")
def few_cwru(tmp_path_factory, cwru_dir):
    folder = tmp_path_factory.mktemp("cwru-few")
    for number in FEW:
        (folder / f"{number}.mat").symlink_to(cwru_dir / f"{number}.mat")
    return cwru_sensor_set(folder, loads=[0, 1])


def recording(**overrides):
    fields = {
        "channels": {"a": np.zeros(1000), "t": np.full(10, 20.0)},
        "specs": {"a": Channel("a", "vibration", 1000.0), "t": Channel("t", "temperature", 10.0)},
        "start_s": {"a": 0.0, "t": 0.0},
        "label": "ok",
        "condition": "c",
        "source": "rec.mat",
        "duration_s": 1.0,
    }
    fields.update(overrides)
    return Recording(**fields)


def test_cwru_sensor_set_has_three_channels_at_their_rates(few_cwru):
    assert few_cwru.name == "cwru" and few_cwru.conditions == ["1797rpm", "1772rpm"]
    assert len(few_cwru.recordings) == 7  # normal (a quarter of 97 per load) + 5 fault files
    for rec in few_cwru.recordings:
        assert list(rec.channels) == ["DE", "FE", "speed"]
        assert [(s.kind, s.fs) for s in rec.specs.values()] == [("vibration", 12000.0), ("vibration", 12000.0), ("speed", SPEED_FS)]
        assert rec.channels["DE"].size == rec.channels["FE"].size == round(rec.duration_s * 12000)
        assert rec.channels["speed"].size == int(rec.duration_s) + 1 and np.unique(rec.channels["speed"]).size == 1
        assert rec.channels["DE"].dtype == np.float64 and set(rec.start_s.values()) == {0.0}
    assert any("DE_B007" in m for m in few_cwru.missing)


def test_cwru_severity_is_the_defect_diameter_and_speed_the_files_own(few_cwru):
    by = {(r.label, r.condition): r for r in few_cwru.recordings}
    assert by["normal", "1797rpm"].severity == 0.0 and by["normal", "1772rpm"].severity == 0.0
    assert by["DE_IR007", "1772rpm"].severity == 0.007 and by["FE_IR014", "1772rpm"].severity == 0.014
    speed = {key: float(r.channels["speed"][0]) for key, r in by.items()}
    assert speed["DE_IR007", "1797rpm"] == 1797.0 and speed["DE_IR007", "1772rpm"] == 1772.0  # X105RPM, X106RPM
    assert speed["normal", "1772rpm"] == 1796.0  # the 1 HP normal stands in from 97.mat, recorded at 1796 rpm
    assert speed["FE_IR014", "1772rpm"] == 1772.0 and speed["FE_IR007", "1772rpm"] == 1772.0  # nominal: none / wrong
    notes = " ".join(few_cwru.notes)
    assert "275.mat: speed set to the nominal 1772 rpm of 1 HP (the file has no RPM variable)" in notes
    assert "279.mat: speed set to the nominal 1772 rpm" in notes and "X279RPM = 1732" in notes
    assert "97.mat resampled from 48000 Hz to 12000 Hz" in notes
    assert by["normal", "1797rpm"].channels["DE"].size == pytest.approx(243938 / 4 / 4, abs=2)


def test_a_channel_whose_rate_disagrees_with_its_declaration_is_named():
    with pytest.raises(DataError, match=r"rec.mat: channel 't': 20 samples at the declared 10 Hz .* disagrees"):
        recording(channels={"a": np.zeros(1000), "t": np.full(20, 20.0)})
    recording(channels={"a": np.zeros(1005), "t": np.full(11, 20.0)})  # within 1 % and a sample
    assert recording(duration_s=None, channels={"a": np.zeros(10), "t": np.zeros(3)}).end_s("a") == 0.01


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"channels": {"a": np.r_[np.zeros(999), np.nan], "t": np.zeros(10)}}, r"rec.mat: channel 'a': the signal holds 1 NaN/Inf.*sample 999"),
        ({"specs": {"a": Channel("a", "vibration", 0.0), "t": Channel("t", "temperature", 10.0)}}, r"channel 'a': sampling rate must be a positive"),
        ({"specs": {"a": Channel("a", "sound", 1000.0), "t": Channel("t", "temperature", 10.0)}}, r"channel 'a': kind 'sound' is not one of"),
        ({"specs": {"a": Channel("b", "vibration", 1000.0), "t": Channel("t", "temperature", 10.0)}}, r"channel 'a': its spec is named 'b'"),
        ({"start_s": {"a": 0.0}}, r"must name the same channels"),
        ({"channels": {"a": np.zeros((2, 500)), "t": np.zeros(10)}}, r"channel 'a': samples must be 1-D"),
        ({"channels": {"a": np.zeros(0), "t": np.zeros(10)}, "duration_s": None}, r"channel 'a': the signal is empty"),
        ({"severity": float("nan")}, r"severity nan is not finite"),
    ],
)
def test_bad_recordings_are_refused_by_name(overrides, message):
    with pytest.raises(DataError, match=message):
        recording(**overrides)


def test_sensor_set_checks_labels_and_conditions():
    classes = [FaultClass("ok", "fine")]
    assert RecordingSet("s", classes, ["c"], [recording()]).channel_names == ["a", "t"]
    with pytest.raises(DataError, match=r"rec.mat: unknown class 'ok'"):
        RecordingSet("s", [FaultClass("bad", "x")], ["c"], [recording()])
    with pytest.raises(DataError, match=r"rec.mat: unknown condition 'c'"):
        RecordingSet("s", classes, ["d"], [recording()])


def test_time_stamps_that_disagree_with_the_rate_are_refused():
    check_rate(np.arange(100) / 10.0, 10.0, "t", "f.csv")
    with pytest.raises(DataError, match=r"f.csv: channel 't': 100 samples .* i.e. 5 Hz, but the channel is declared at 10 Hz"):
        check_rate(np.arange(100) / 5.0, 10.0, "t", "f.csv")


def test_bad_cwru_options_are_config_errors(cwru_dir):
    with pytest.raises(ConfigError, match="loads"):
        cwru_sensor_set(cwru_dir, loads=[7])


def test_one_rate_channels_have_a_uniform_view_and_several_rates_none():
    signal = np.vstack([np.arange(6.0), -np.arange(6.0)])
    rec = Recording.from_signal(signal, 2.0, ("DE", "FE"), label="ok", condition="c", source="two.npy")
    assert rec.signal is signal and rec.fs == 2.0 and rec.n_samples == 6 and rec.seconds == 3.0
    assert list(rec.channels) == ["DE", "FE"] and rec.channels["FE"].tolist() == [0, -1, -2, -3, -4, -5]
    assert {n: (s.kind, s.fs) for n, s in rec.specs.items()} == {"DE": ("vibration", 2.0), "FE": ("vibration", 2.0)}
    with_speed = rec.with_speed(1797.0, severity=0.007)
    assert with_speed.channels["speed"].tolist() == [1797.0] * 4 and with_speed.duration_s == 3.0 and with_speed.severity == 0.007
    assert with_speed.specs["speed"] == Channel("speed", "speed", SPEED_FS) and rec.severity is None
    with pytest.raises(DataError, match=r"two.npy: channels DE \(2 Hz, 6 samples from 0 s\), .*speed \(1 Hz, 4 samples.*no one \(channels, samples\)"):
        with_speed.fs
    with pytest.raises(DataError, match="differ in rate, length or start"):
        recording().signal
    np.testing.assert_array_equal(Recording(dict(rec.channels), dict(rec.specs), "ok", "c", "copy").signal, signal)


@pytest.mark.parametrize(
    "signal, fs, message",
    [
        (np.zeros(5), 1.0, r"x.npy: signal must have shape \(channels, samples\), got \(5,\)"),
        (np.zeros((2, 5)), 1.0, r"x.npy: 2 signal rows but 1 channel names \('a',\)"),
        (np.r_[np.zeros(3), np.inf][None], 1.0, r"x.npy: the signal holds 1 NaN/Inf value\(s\), the first at sample 3"),
        (np.zeros((1, 5)), 0.0, r"x.npy: sampling rate must be a positive number of Hz, got 0.0"),
    ],
)
def test_a_bad_uniform_signal_is_refused_by_name(signal, fs, message):
    with pytest.raises(DataError, match=message):
        Recording.from_signal(signal, fs, ("a",), label="ok", condition="c", source="x.npy")
