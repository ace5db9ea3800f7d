"""Sensor windows: every channel ends at the window's instant, leak-free splits, 1:1 with the prepared CWRU dataset."""

import copy
from pathlib import Path

import numpy as np
import pytest
from conftest import small_config

from syndiag.data.femto import read_femto
from syndiag.data.femto_sensors import femto_sensor_set
from syndiag.data.fewshot import few_shot_task, pretraining_pool
from syndiag.data.noise import noise_augmented
from syndiag.data.prepare import prepare
from syndiag.data.cwru import cwru_sensor_set
from syndiag.data.recording import Channel, FaultClass, Recording, RecordingSet
from syndiag.data.sensor_windows import sensor_windows, sensor_windows_for
from syndiag.data.windowing import POOL, TEST, take_ending
from syndiag.errors import ConfigError, DataError

CWRU_LAYOUT = [Channel("DE", "vibration", 12000.0, 512), Channel("FE", "vibration", 12000.0, 512), Channel("speed", "speed", 1.0, 1)]
FEMTO_LAYOUT = [
    Channel("acc_h", "vibration", 25600.0, 512),
    Channel("acc_v", "vibration", 25600.0, 512),
    Channel("temperature", "temperature", 10.0, 8),
    Channel("speed", "speed", 1.0, 1),
]


@pytest.fixture(scope="module")
def cwru_pair(tmp_path_factory, shared_data):
    config = small_config(tmp_path_factory.mktemp("sw"), data_root=str(shared_data), cwru={"channels": ["DE"]})
    return prepare(config), cwru_sensor_set(config)  # the data config's root, loads and normal-baseline option


@pytest.fixture(scope="module")
def femto_set(shared_data):
    if not (shared_data / "femto").is_dir():
        pytest.skip("no FEMTO data")
    return femto_sensor_set(None, read=read_femto(shared_data, ("learning",), ["Bearing3_1", "Bearing2_2"]))


def test_take_ending_gives_the_samples_just_before_each_instant():
    x = np.arange(10.0)  # samples at t = 1.0, 1.5, ..., 5.5 (2 Hz from 1 s)
    values, present, padded = take_ending(x, 2.0, 1.0, np.array([3.0, 3.2, 1.4, 0.5, 9.0, 6.2]), 3)
    assert values[0].tolist() == [1, 2, 3] and values[1].tolist() == [2, 3, 4]  # 3.0 itself excluded, 3.0 <= 3.2 included
    assert values[2].tolist() == [0, 0, 0] and padded[2] and present[2]  # only t=1.0 in [−0.1, 1.4): edge-padded
    assert not present[3] and not present[4] and values[3].tolist() == [0, 0, 0]  # before the first / long after the last
    assert present[5] and padded[5] and values[5].tolist() == [8, 9, 9]  # ends after the channel: held at its last value


def test_cwru_windows_align_one_to_one_with_the_prepared_dataset(cwru_pair):
    dataset, sensors = cwru_pair
    windows = sensor_windows_for(dataset, sensors, CWRU_LAYOUT)
    assert len(windows) == len(dataset) == 190 and windows.present.all()
    np.testing.assert_array_equal(windows.signals["DE"], np.asarray(dataset.windows[:, 0]))
    for name in ("labels", "conditions", "split", "recording", "starts"):
        np.testing.assert_array_equal(getattr(windows, name), getattr(dataset, name), err_msg=name)
    assert windows.class_names == dataset.class_names and windows.condition_names == ["1730rpm"]
    for rec_id, entry in enumerate(dataset.meta["recordings"]):
        rec = next(r for r in sensors.recordings if r.source == entry["source"] and r.label == entry["label"])
        mine = np.flatnonzero(windows.recording == rec_id)
        first = int(dataset.starts[mine[0]])
        np.testing.assert_array_equal(windows.signals["FE"][mine[0]], rec.channels["FE"][first : first + 512].astype(np.float32))
        assert np.all(windows.signals["speed"][mine, 0] == rec.channels["speed"][0])
        assert np.all(windows.severity[mine] == rec.severity)
    assert set(np.unique(windows.severity)) == {0.0, 0.007, 0.014, 0.021}
    assert windows.signals["speed"].shape == (190, 1) and windows.signals["DE"].dtype == np.float32
    for k, seed in ((1, 0), (5, 3)):
        a, b = few_shot_task(dataset, k, seed, "1730rpm"), few_shot_task(windows, k, seed, "1730rpm")
        np.testing.assert_array_equal(a.train, b.train)
        np.testing.assert_array_equal(a.test, b.test)
    np.testing.assert_array_equal(pretraining_pool(dataset, 1, k=3), pretraining_pool(windows, 1, k=3))
    part = windows.subset(b.train)
    assert len(part) == b.train.size and part.signals["FE"].shape == (b.train.size, 512)


def test_a_sensor_set_of_other_recordings_is_refused(cwru_pair, shared_data):
    dataset, _ = cwru_pair
    with pytest.raises(DataError, match=r"prepared recording .* is not in sensor set cwru"):
        sensor_windows_for(dataset, cwru_sensor_set(shared_data, loads=[2]), CWRU_LAYOUT)


def test_a_cached_dataset_made_from_another_folder_still_matches_by_file_name(cwru_pair):
    """A prepared dataset from the cache keeps the first run's paths (data read as ../data, then as .gpu/data)."""
    dataset, sensors = cwru_pair
    moved = copy.copy(dataset)
    moved.meta = {**dataset.meta, "recordings": [{**r, "source": f"elsewhere/cwru/{Path(r['source']).name}"} for r in dataset.meta["recordings"]]}
    windows = sensor_windows_for(moved, sensors, CWRU_LAYOUT)
    np.testing.assert_array_equal(windows.signals["FE"], sensor_windows_for(dataset, sensors, CWRU_LAYOUT).signals["FE"])


def test_a_layout_rate_that_disagrees_with_a_channel_is_named(cwru_pair):
    dataset, sensors = cwru_pair
    with pytest.raises(DataError, match=r"channel 'FE' is vibration at 12000 Hz, the layout wants vibration at 48000 Hz"):
        sensor_windows_for(dataset, sensors, [Channel("FE", "vibration", 48000.0, 512)])
    with pytest.raises(ConfigError, match=r"duplicate channel names"):
        sensor_windows_for(dataset, sensors, [CWRU_LAYOUT[0], CWRU_LAYOUT[0]])


def test_generic_windows_are_leak_free_and_balanced(cwru_pair):
    _, sensors = cwru_pair
    windows = sensor_windows(sensors, CWRU_LAYOUT, 512 / 12000, per_class=10, test_fraction=0.5)
    assert len(windows) == 190 and windows.present.all()
    assert np.bincount(windows.labels).tolist() == [10] * 19 and (windows.split == TEST).sum() == 95
    for rec_id, entry in enumerate(windows.meta["recordings"]):
        mine = windows.recording == rec_id
        pool, test = windows.starts[mine & (windows.split == POOL)], windows.starts[mine & (windows.split == TEST)]
        assert pool.max() + 512 <= entry["boundary"] <= test.min(), entry["source"]
    assert windows.meta["shared_slow_samples"]["DE"] == 0 and windows.meta["shared_slow_samples"]["speed"] > 0


def test_femto_windows_align_temperature_with_the_vibration(femto_set):
    windows = sensor_windows(femto_set, FEMTO_LAYOUT, 512 / 25600, per_class=60, test_fraction=0.5)
    assert len(windows) == 120 and windows.condition_names == ["1650rpm_4200N", "1500rpm_5000N"]
    groups = windows.groups
    temp = windows.present[:, 2]
    assert not temp[groups == "Bearing2_2"].any() and windows.meta["absent"]["temperature"] >= (groups == "Bearing2_2").sum()
    assert windows.present[:, [0, 1, 3]].all() and np.isnan(windows.severity).all()
    assert np.all(windows.signals["speed"][groups == "Bearing3_1", 0] == 1500.0)
    by_source = {r.source: r for r in femto_set.recordings}
    for i in np.flatnonzero(temp):
        rec = by_source[windows.meta["recordings"][windows.recording[i]]["source"]]
        t = rec.start_s["temperature"] + np.arange(rec.n_samples_of("temperature")) / 10.0
        used = t[t < windows.end_s[i]][-8:]
        assert windows.end_s[i] - used[-1] <= 1.0 + 0.1  # the latest reading is within a second of the window's end
        np.testing.assert_array_equal(windows.signals["temperature"][i][-used.size :], rec.channels["temperature"][t < windows.end_s[i]][-8:].astype(np.float32))
    for rec_id, entry in enumerate(windows.meta["recordings"]):
        mine = windows.recording == rec_id
        pool, test = windows.starts[mine & (windows.split == POOL)], windows.starts[mine & (windows.split == TEST)]
        if pool.size and test.size:
            assert pool.max() + 512 <= entry["boundary"] <= test.min()
        assert np.all(windows.starts[mine & (windows.split == POOL)] + 512 <= entry["boundary"])
        assert np.all(windows.starts[mine & (windows.split == TEST)] >= entry["boundary"])
    assert windows.meta["shared_slow_samples"]["acc_h"] == 0 and windows.meta["shared_slow_samples"]["temperature"] > 0
    assert set(windows.extra) == {"time_s", "rul_s", "life_fraction"} and np.all((windows.extra["life_fraction"] >= 0) & (windows.extra["life_fraction"] <= 1))


def test_a_missing_channel_is_absent_and_a_bad_window_config_is_named():
    specs = {"a": Channel("a", "vibration", 100.0), "t": Channel("t", "temperature", 1.0)}
    recs = [
        Recording({"a": np.sin(np.arange(1000.0)), "t": np.arange(10.0)}, specs, "ok", "c", "one"),
        Recording({"a": np.cos(np.arange(1000.0))}, {"a": specs["a"]}, "ok", "c", "two", start_s={"a": 0.0}),
    ]
    sensor_set = RecordingSet("toy", [FaultClass("ok", "fine")], ["c"], recs)
    layout = [Channel("a", "vibration", 100.0, 32), Channel("t", "temperature", 1.0, 2)]
    windows = sensor_windows(sensor_set, layout, 0.32, per_class=8)
    two = windows.recording == 1
    assert windows.present[~two].all() and not windows.present[two, 1].any() and windows.meta["absent"] == {"a": 0, "t": int(two.sum())}
    last = windows.signals["t"][~two]
    assert np.all(last[:, 1] == np.ceil(windows.end_s[~two]) - 1)  # the temperature reading just before the end
    with pytest.raises(ConfigError, match=r"sensor windows: length: .*greater than or equal to 16"):
        sensor_windows(sensor_set, layout, 0.05, per_class=8)
    with pytest.raises(ConfigError, match=r"channel 't': length must be an integer >= 1"):
        sensor_windows(sensor_set, [layout[0], Channel("t", "temperature", 1.0, 0)], 0.32, per_class=8)


def test_noisy_copies_keep_their_noise_and_other_channels_come_from_the_sensor_set(cwru_pair):
    dataset, sensors = cwru_pair
    task = few_shot_task(dataset, 2, 0, "1730rpm")
    noisy = noise_augmented(dataset, task.train, (0.0, 5.0), 0)
    windows = sensor_windows_for(noisy, sensors, CWRU_LAYOUT)
    clean = sensor_windows_for(dataset, sensors, CWRU_LAYOUT)
    half = task.train.size
    np.testing.assert_array_equal(windows.signals["DE"], np.asarray(noisy.windows[:, 0]))
    assert not np.array_equal(windows.signals["DE"][half:], clean.signals["DE"][task.train])
    np.testing.assert_array_equal(windows.signals["FE"], clean.signals["FE"][np.r_[task.train, task.train]])
    np.testing.assert_array_equal(windows.labels, clean.labels[np.r_[task.train, task.train]])
    assert windows.meta["verified"] == [] and clean.meta["verified"] == ["DE"] and windows.present.all()


def test_without_a_sensor_set_only_the_prepared_channels_are_present(tmp_path):
    dataset = prepare(small_config(tmp_path, dataset="simulated"))
    windows = sensor_windows_for(dataset, None, CWRU_LAYOUT)
    assert windows.present[:, 0].all() and not windows.present[:, 1:].any() and np.isnan(windows.severity).all()
    np.testing.assert_array_equal(windows.signals["DE"], np.asarray(dataset.windows[:, 0]))
    assert windows.meta["absent"] == {"DE": 0, "FE": len(dataset), "speed": len(dataset)}


def test_the_config_channel_spec_is_accepted(cwru_pair):
    sensor_config = pytest.importorskip("syndiag.config.sensor")
    dataset, sensors = cwru_pair
    layout = [sensor_config.ChannelSpec(name=c.name, kind=c.kind, fs=c.fs, length=c.length) for c in CWRU_LAYOUT]
    windows = sensor_windows_for(dataset, sensors, layout)
    assert windows.present.all() and windows.channel_names == ["DE", "FE", "speed"]
