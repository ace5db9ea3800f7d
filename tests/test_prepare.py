import json

import numpy as np
import pytest
from conftest import small_config

from syndiag.data import prepare as prepare_module
from syndiag.data.fewshot import few_shot_task, pretraining_pool
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import DataError


def test_real_cwru_windows_are_balanced_and_leak_free(tmp_path, shared_data):
    config = small_config(tmp_path, data_root=str(shared_data), cwru={"channels": ["DE", "FE"]})
    dataset = prepare(config)
    assert dataset.meta["dataset"] == "cwru" and not dataset.from_cache
    assert len(dataset) == 19 * 10 and dataset.windows.shape == (190, 2, 512)
    assert dataset.colormap_indices.shape == (190, 32, 32) and dataset.rgb([0, 1]).shape == (2, 32, 32, 3)
    for name, cell in dataset.counts()["1730rpm"].items():
        assert cell == {"pool": 5, "test": 5}, name
    length = config.window.length
    for rec_id, rec in enumerate(dataset.meta["recordings"]):
        mine = dataset.recording == rec_id
        pool, test = dataset.starts[mine & (dataset.split == POOL)], dataset.starts[mine & (dataset.split == TEST)]
        assert pool.max() + length <= rec["boundary"] <= test.min(), rec["source"]
    task = few_shot_task(dataset, 3, 0, "1730rpm")
    assert task.train.size == 57 and not set(task.train) & set(task.test)
    assert pretraining_pool(dataset, 0, k=5).size == 95


def test_second_run_comes_from_the_cache_unchanged(tmp_path):
    config = small_config(tmp_path, dataset="simulated")
    first = prepare(config)
    second = prepare(config)
    assert second.from_cache and second.path == first.path
    np.testing.assert_array_equal(np.asarray(first.colormap_indices), np.asarray(second.colormap_indices))
    np.testing.assert_array_equal(first.labels, second.labels)
    assert [p.name for p in config.resolved_cache_dir().iterdir()] == [first.path.name]


def test_any_config_change_gives_another_cache_entry(tmp_path):
    a = prepare(small_config(tmp_path, dataset="simulated"))
    b = prepare(small_config(tmp_path, dataset="simulated", spectrogram={"colormap": "viridis"}))
    c = prepare(small_config(tmp_path, dataset="simulated", simulator={"seconds": 1.5}))
    assert len({a.path, b.path, c.path}) == 3


def test_a_failure_mid_way_leaves_nothing_on_disk(tmp_path, monkeypatch):
    config = small_config(tmp_path, dataset="simulated")
    calls = {"n": 0}
    real = prepare_module.spectrogram_images

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "spectrogram_images", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        prepare(config)
    assert list(config.resolved_cache_dir().iterdir()) == []
    monkeypatch.setattr(prepare_module, "spectrogram_images", real)
    assert not prepare(config).from_cache


def test_a_damaged_cache_entry_is_reported(tmp_path):
    dataset = prepare(small_config(tmp_path, dataset="simulated"))
    meta = json.loads((dataset.path / "meta.json").read_text())
    meta["format"] = -1
    (dataset.path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="another format or incomplete"):
        PreparedDataset.load(dataset.path)


def test_a_folder_missing_a_class_is_an_error_naming_the_file(tmp_path, cwru_dir):
    import shutil

    root = tmp_path / "data" / "cwru"
    root.mkdir(parents=True)
    for number in (97, 108):
        shutil.copy(cwru_dir / f"{number}.mat", root)
    with pytest.raises(DataError, match=r"no recording for DE_IR014 at 1730rpm.*172.mat"):
        prepare(small_config(tmp_path, data_root=str(tmp_path / "data")))


def test_missing_data_root_is_an_error(tmp_path):
    with pytest.raises(DataError, match="data root not found"):
        prepare(small_config(tmp_path, data_root=str(tmp_path / "nowhere")))


def test_without_data_root_cwru_falls_back_to_the_simulator(tmp_path):
    dataset = prepare(small_config(tmp_path))
    assert dataset.meta["dataset"] == "simulated-cwru"
    assert "no data root given" in dataset.meta["source"]
    assert dataset.class_names[0] == "normal" and len(dataset.class_names) == 19


def test_recordings_at_different_sampling_rates_are_refused(tmp_path):
    from fixtures import write_spec

    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.standard_normal(4000))
    np.save(tmp_path / "b.npy", rng.standard_normal(4000))
    spec = write_spec(tmp_path / "spec.yaml", {
        "name": "mixed",
        "classes": [{"name": "ok", "prompt": "fine"}, {"name": "bad", "prompt": "broken"}],
        "recordings": [
            {"files": "a.npy", "label": "ok", "condition": "c", "fs": 12000},
            {"files": "b.npy", "label": "bad", "condition": "c", "fs": 48000},
        ],
    })
    with pytest.raises(DataError, match=r"different sampling rates \[12000.0, 48000.0\]"):
        prepare(small_config(tmp_path, dataset="custom", spec=str(spec)))
