"""A SIGTERM or SIGHUP ends a command cleanly (no staging left, one error line, exit 128 + signal); a kill -9's staging
is removed the next time the same target is written."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import syndiag.atomic as atomic
from syndiag.atomic import atomic_folder

WRITER = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from syndiag.atomic import atomic_folder
    signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as from a terminal: a test run under nohup would pass SIGHUP ignored
    from syndiag.cli import app

    @app.command("write-slowly")
    def write_slowly(target: Path) -> None:
        with atomic_folder(target) as staging:
            (staging / "model.safetensors").write_bytes(b"w" * 100_000)
            print("staged", flush=True)
            time.sleep(60)

    app(sys.argv[1:], prog_name="syndiag")
""")


def start_writer(target, extra=()):
    process = subprocess.Popen([sys.executable, "-c", WRITER, "write-slowly", str(target), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "staged", process.stderr.read()
    return process


def hidden(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_termination_signal_removes_the_staging_and_exits_128_plus_the_signal(tmp_path, signum, status):
    target = tmp_path / "run" / "finetuned"
    process = start_writer(target)
    assert hidden(target.parent)[0].startswith(".finetuned.tmp-")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == status, stderr
    name = signal.Signals(signum).name
    assert f"error: interrupted ({name}); nothing half-written was kept" in stderr and "Traceback" not in stderr
    assert hidden(target.parent) == []


def test_a_killed_writers_staging_is_removed_when_the_target_is_written_again(tmp_path):
    target = tmp_path / "run" / "finetuned"
    process = start_writer(target)
    process.kill()
    process.communicate(timeout=30)
    [left] = hidden(target.parent)
    assert left.startswith(f".finetuned.tmp-{process.pid}-")
    with atomic_folder(target) as staging:
        (staging / "config.json").write_text("{}")
    assert hidden(target.parent) == ["finetuned"] and hidden(target) == ["config.json"]


def test_a_running_writers_staging_and_other_targets_stagings_are_kept(tmp_path):
    target = tmp_path / "run" / "finetuned"
    running = start_writer(target)
    try:
        dead_other = tmp_path / "run" / f".pretrained.tmp-{running.pid + 10**6}-0badf00d"
        dead_other.mkdir()
        assert atomic.remove_stale_stagings(target) == []
        assert len(hidden(target.parent)) == 2
    finally:
        running.kill()
        running.communicate(timeout=30)
    [stale] = [p for p in target.parent.iterdir() if p.name.startswith(".finetuned.")]
    assert atomic.remove_stale_stagings(target) == [stale] and hidden(target.parent) == [dead_other.name]


def test_a_staging_of_this_pid_not_open_here_is_stale(tmp_path):
    """A restarted container can give this process the pid a killed run had."""
    target = tmp_path / "cache"
    left = tmp_path / f".cache.old-{os.getpid()}-12345678"
    left.mkdir()
    with atomic_folder(target) as staging:
        assert staging.is_dir() and not left.exists()
        assert atomic.remove_stale_stagings(target) == []  # its own open staging is kept
    assert hidden(tmp_path) == ["cache"]
