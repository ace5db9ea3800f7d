"""Atomic writes: a reader sees the old file (or folder) or the complete new one, never a half-written one.

Every writer fills a hidden staging sibling in the same directory (``.{name}.tmp-{pid}-{random}``, so the
final rename never crosses a file system) and renames it into place only when the writing succeeded. When
anything fails, the staging is removed and whatever stood at the path before is left untouched.

* :func:`atomic_write_bytes`, :func:`atomic_write_text`: a whole file from bytes or a string.
* :func:`atomic_file`: a file written through a handle (``np.savez(handle, ...)``, ``fig.savefig(handle)``).
* :func:`atomic_folder`: a folder of several files (checkpoints, ONNX exports, prepared-data caches).

A process killed outright (``kill -9``, a lost node) cannot clean up: its staging stays. The next
:func:`atomic_folder` for the same path removes the stagings of that name whose writer no longer runs
(:func:`remove_stale_stagings`). A SIGTERM is cleaned up like any exception once the command line turns it
into one (:mod:`syndiag.cli.termination`).

Files are flushed and ``fsync``-ed before the rename; folders are not (their files come from third-party
writers and can be large). New files and folders get the usual permissions (``0o666`` / ``0o777`` less the
umask), unlike ``tempfile.mkstemp``/``mkdtemp``, whose ``0o600``/``0o700`` would carry over to the result.

In a distributed run only rank 0 writes (the others fill a throw-away staging), and every rank then waits
for the others (:mod:`syndiag.ranks`), so a file is written once and read only when complete.

This module is the bottom layer: it imports nothing from syndiag but :mod:`syndiag.ranks`.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from syndiag.ranks import is_main_process, wait_for_everyone

__all__ = ["atomic_file", "atomic_folder", "atomic_write_bytes", "atomic_write_text", "pid_running", "remove_stale_stagings",
           "staging_sibling"]


def staging_sibling(path: str | Path, kind: str = "tmp") -> Path:
    """A hidden, unique name beside ``path``: ``.{name}.{kind}-{pid}-{8 hex digits}``.

    Unique per process and per call, so two writers (processes or threads) never share a staging.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


_OPEN_STAGINGS: set[Path] = set()
"""The folder stagings and swapped-out backups this process holds (its pid may be one a killed run had, in a new container)."""


def pid_running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (always True on Windows, where probing would kill it)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def remove_stale_stagings(path: str | Path) -> list[Path]:
    """Remove the stagings of ``path`` (``.{name}.tmp-...``, ``.{name}.old-...``) whose writer no longer runs; return them."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:tmp|old)-(\d+)-[0-9a-f]{{8}}")
    try:
        names = [entry.name for entry in os.scandir(path.parent) if entry.name.startswith(f".{path.name}.")]
    except OSError:
        return []
    stale = []
    for name in names:
        match = pattern.fullmatch(name)
        if match and _abandoned(path.parent / name, int(match.group(1))):
            _remove(path.parent / name)
            stale.append(path.parent / name)
    return stale


def _abandoned(staging: Path, pid: int) -> bool:
    return staging not in _OPEN_STAGINGS if pid == os.getpid() else not pid_running(pid)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | Path, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None) -> Iterator[IO[Any]]:
    """Yield a handle on a staging file beside ``path``; on success fsync it and rename it onto ``path``.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (text, ``encoding`` defaults to UTF-8). The parent folders are
    created. If the ``with`` body raises, the staging file is removed, ``path`` keeps its old content (or stays
    absent) and the exception propagates.
    """
    if mode not in ("wb", "w", "wt"):
        raise ValueError(f"atomic_file writes a whole new file: mode 'wb' or 'w', not {mode!r}")
    binary = "b" in mode
    if binary and (encoding is not None or newline is not None):
        raise ValueError("encoding and newline apply to text mode ('w') only")
    try:
        if is_main_process():
            with _main_file(Path(path), binary, encoding, newline) as handle:
                yield handle
        else:
            with tempfile.TemporaryFile("w+b" if binary else "w+", encoding=None if binary else encoding or "utf-8", newline=newline) as handle:
                yield handle
    finally:
        wait_for_everyone()


@contextmanager
def _main_file(path: Path, binary: bool, encoding: str | None, newline: str | None) -> Iterator[IO[Any]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_sibling(path)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if binary:
            handle = os.fdopen(descriptor, "wb")
        else:
            handle = os.fdopen(descriptor, "w", encoding=encoding or "utf-8", newline=newline)
    except BaseException:
        os.close(descriptor)
        staging.unlink(missing_ok=True)
        raise
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`); return ``path``."""
    with atomic_file(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_file`); return ``path``."""
    with atomic_file(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


@contextmanager
def atomic_folder(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path`` to fill; on success rename it to ``path``.

    The parent folders are created. If the ``with`` body raises, the staging folder is removed and
    ``path`` is left as it was.

    ``replace=True``: an existing folder at ``path`` is swapped out for the new one: it is first renamed to
    a hidden ``.{name}.old-...`` sibling, the staging renamed into place, then the old folder removed (and
    put back if that rename fails). A crash leaves the old folder, the new one or none, never a mix.

    ``replace=False``: the first writer wins. If a non-empty folder already stands at ``path`` when the
    staging is ready, the staging is removed and :class:`FileExistsError` raised; the caller decides
    whether the existing folder will do (e.g. a cache another process finished first).
    """
    try:
        if is_main_process():
            with _main_folder(Path(path), replace) as staging:
                yield staging
        else:
            with tempfile.TemporaryDirectory() as throwaway:
                yield Path(throwaway)
    finally:
        wait_for_everyone()


@contextmanager
def _main_folder(path: Path, replace: bool) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stagings(path)
    staging = staging_sibling(path)
    _OPEN_STAGINGS.add(staging)
    try:
        staging.mkdir()
        yield staging
        if replace:
            _swap_in(staging, path)
        else:
            try:
                os.replace(staging, path)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise FileExistsError(exc.errno, f"{path} already exists; the new folder was discarded", str(path)) from exc
                raise
    finally:
        _OPEN_STAGINGS.discard(staging)
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, path: Path) -> None:
    if not os.path.lexists(path):
        os.replace(staging, path)
        return
    backup = staging_sibling(path, "old")
    _OPEN_STAGINGS.add(backup)
    try:
        os.replace(path, backup)
        try:
            os.replace(staging, path)
        except BaseException:
            os.replace(backup, path)
            raise
        _remove(backup)
    finally:
        _OPEN_STAGINGS.discard(backup)
