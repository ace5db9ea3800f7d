import os
import stat
from pathlib import Path

import pytest

import syndiag.atomic as atomic
from syndiag.atomic import (
    atomic_file,
    atomic_folder,
    atomic_write_bytes,
    atomic_write_text,
    staging_sibling,
)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_create_the_parents_then_replace_the_file(tmp_path):
    path = tmp_path / "a" / "b" / "out.txt"
    assert atomic_write_text(path, "first\n") == path
    assert path.read_text(encoding="utf-8") == "first\n"
    atomic_write_bytes(path, b"\x00second")
    assert path.read_bytes() == b"\x00second"
    atomic_write_text(path, "dritte – ünïcode")
    assert path.read_bytes() == "dritte – ünïcode".encode("utf-8")
    assert names(path.parent) == ["out.txt"]


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failing_write_leaves_the_old_file_and_no_staging(tmp_path):
    path = tmp_path / "report.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(path, "w") as handle:
            handle.write("half of the new")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and names(tmp_path) == ["report.txt"]
    missing = tmp_path / "never.bin"
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(missing) as handle:
            handle.write(b"partial")
            raise KeyboardInterrupt
    assert not missing.exists() and names(tmp_path) == ["report.txt"]


def test_the_handle_writes_to_a_hidden_sibling_until_the_end(tmp_path):
    path = tmp_path / "data.bin"
    with atomic_file(path) as handle:
        handle.write(b"abc")
        handle.flush()
        [staged] = [p for p in tmp_path.iterdir()]
        assert staged.name.startswith(".data.bin.tmp-") and not path.exists()
    assert path.read_bytes() == b"abc" and names(tmp_path) == ["data.bin"]


def test_bad_modes_are_refused_before_anything_is_written(tmp_path):
    for mode in ("a", "r+", "ab", "x"):
        with pytest.raises(ValueError, match="mode"):
            with atomic_file(tmp_path / "f", mode):
                pass
    with pytest.raises(ValueError, match="text mode"):
        with atomic_file(tmp_path / "f", "wb", encoding="utf-8"):
            pass
    assert names(tmp_path) == []


def test_staging_names_are_hidden_unique_siblings(tmp_path):
    first, second = staging_sibling(tmp_path / "ckpt"), staging_sibling(tmp_path / "ckpt")
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(f".ckpt.tmp-{os.getpid()}-")
    assert staging_sibling(tmp_path / "ckpt", "old").name.startswith(f".ckpt.old-{os.getpid()}-")


def test_a_folder_is_created_then_replaced_as_a_whole(tmp_path):
    target = tmp_path / "runs" / "ckpt"
    with atomic_folder(target) as staging:
        assert staging.is_dir() and staging.parent == target.parent and not target.exists()
        (staging / "a.txt").write_text("1")
        (staging / "b.txt").write_text("1")
    assert names(target) == ["a.txt", "b.txt"]
    with atomic_folder(target) as staging:
        (staging / "a.txt").write_text("2")
    assert names(target) == ["a.txt"] and (target / "a.txt").read_text() == "2"
    assert names(target.parent) == ["ckpt"]


def test_a_failing_folder_write_keeps_the_old_folder_and_no_staging(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_folder(target) as staging:
        (staging / "weights").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_folder(target) as staging:
            (staging / "weights").write_text("new, half written")
            raise RuntimeError("disk full")
    assert names(target) == ["weights"] and (target / "weights").read_text() == "old"
    assert names(tmp_path) == ["ckpt"]
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "fresh"):
            raise RuntimeError
    assert names(tmp_path) == ["ckpt"]


def test_the_old_folder_is_put_back_when_the_final_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "weights").write_text("old")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(src).name.startswith(".ckpt.tmp-"):
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        with atomic_folder(target) as staging:
            (staging / "weights").write_text("new")
    assert (target / "weights").read_text() == "old" and names(tmp_path) == ["ckpt"]


def test_without_replace_the_first_writer_wins(tmp_path):
    target = tmp_path / "cache"
    with atomic_folder(target, replace=False) as staging:
        (staging / "meta.json").write_text("first")
    with pytest.raises(FileExistsError):
        with atomic_folder(target, replace=False) as staging:
            (staging / "meta.json").write_text("second")
    assert (target / "meta.json").read_text() == "first" and names(tmp_path) == ["cache"]
