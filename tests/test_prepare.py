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


def test_mixed_rate_error_names_the_files_at_each_rate(tmp_path):
    from fixtures import write_spec

    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        np.save(tmp_path / f"{name}.npy", rng.standard_normal(4000))
    spec = write_spec(tmp_path / "spec.yaml", {
        "name": "mixed",
        "classes": [{"name": "ok", "prompt": "fine"}, {"name": "bad", "prompt": "broken"}],
        "recordings": [
            {"files": ["a.npy", "c.npy"], "label": "ok", "condition": "c", "fs": 12000},
            {"files": "b.npy", "label": "bad", "condition": "c", "fs": 48000},
        ],
    })
    with pytest.raises(DataError, match=r"\(12000 Hz: .*a\.npy, .*c\.npy; 48000 Hz: .*b\.npy\)"):
        prepare(small_config(tmp_path, dataset="custom", spec=str(spec)))


def _dead_pid() -> int:
    import os

    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            pass
        pid += 1


def test_stale_staging_of_a_killed_run_is_removed_with_a_log_line(tmp_path, caplog):
    import os
    import time

    config = small_config(tmp_path, dataset="simulated")
    cache = config.resolved_cache_dir()
    dead = cache / f".simulated-cwru-0123456789abcdef.tmp-{_dead_pid()}-deadbeef"
    legacy = cache / f".tmp-simulated-cwru-0123-{_dead_pid()}"
    old_but_alive = cache / f".simulated-cwru-fedcba9876543210.tmp-{os.getpid()}-0badf00d"
    live = cache / f".simulated-cwru-aaaaaaaaaaaaaaaa.tmp-{os.getpid()}-12345678"
    for folder in (dead, legacy, old_but_alive, live):
        folder.mkdir(parents=True)
        (folder / "images.npy").write_bytes(b"\0" * 1000)
    day_ago = time.time() - 24 * 3600
    for path in (old_but_alive / "images.npy", old_but_alive):
        os.utime(path, (day_ago, day_ago))
    with caplog.at_level("WARNING", logger="syndiag.data.prepare"):
        dataset = prepare(config)
    assert not dead.exists() and not legacy.exists() and not old_but_alive.exists()
    assert live.is_dir()  # a run of a living process, recently written: kept
    logged = [r.getMessage() for r in caplog.records if "removed stale staging" in r.getMessage()]
    assert len(logged) == 3 and any("is not running" in m for m in logged) and any("untouched for 24" in m for m in logged)
    assert dataset.path.is_dir()


def test_cache_content_hash_notices_a_rewrite_with_the_same_size_and_mtime(tmp_path, cwru_dir):
    import os
    import shutil

    from syndiag.data.sources import resolve_source

    root = tmp_path / "cwru"
    root.mkdir()
    shutil.copy(cwru_dir / "105.mat", root / "105.mat")
    before = os.stat(root / "105.mat")
    plain = small_config(tmp_path, data_root=str(root))
    hashed = small_config(tmp_path, data_root=str(root), cache_content_hash=True)
    fingerprints = [resolve_source(plain).fingerprint, resolve_source(hashed).fingerprint]
    data = bytearray((root / "105.mat").read_bytes())
    data[-1] ^= 0xFF  # same size; then the old mtime put back
    (root / "105.mat").write_bytes(bytes(data))
    os.utime(root / "105.mat", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert resolve_source(plain).fingerprint == fingerprints[0]  # the documented blind spot
    assert resolve_source(hashed).fingerprint != fingerprints[1]
