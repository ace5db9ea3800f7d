"""Folders and files of a data root, with a missing folder and an unreadable one told apart."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from syndiag.errors import DataError


def _denied(exc: OSError) -> bool:
    return isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM)


def require_folder(path: Path, what: str) -> Path:
    """``path`` if it is a folder whose entries can be listed; else a :class:`DataError` saying which of
    missing, not a folder or unreadable (permission denied) it is."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise DataError(f"{what} {path} cannot be read: {_unreadable(path, exc)}") from None
    except ValueError as exc:  # an embedded NUL byte
        raise DataError(f"{what} {path!r} is not a valid path ({exc})") from None
    if not stat.S_ISDIR(mode):
        raise DataError(f"{what} is not a folder: {path}")
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        raise DataError(f"{what} {path} cannot be read: {_unreadable(path, exc)}") from None
    return path


def is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder; a :class:`DataError` when the way to it is unreadable (not a silent False)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return False
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {_unreadable(_blocking_folder(Path(path)), exc)}") from None


def dataset_folder(root: Path, name: str) -> Path:
    """``root/name`` when it exists (a data root holding several datasets), else ``root`` itself."""
    return root / name if is_folder(root / name) else root


def files_under(root: Path, suffix: str = "") -> list[Path]:
    """Every file under ``root`` (recursively, not following folder links) whose name ends in ``suffix``, sorted.

    A subfolder that cannot be listed is an error naming it, not a silent gap in the listing.
    """
    problems: list[str] = []

    def record(exc: OSError) -> None:
        problems.append(f"{exc.filename}: {_unreadable(Path(str(exc.filename)), exc)}")

    found: list[Path] = []
    for folder, _, names in os.walk(root, onerror=record):
        found.extend(Path(folder) / name for name in names if name.endswith(suffix))
    if problems:
        raise DataError(f"{root}: cannot list every folder: {'; '.join(problems)}")
    return sorted(found)


def require_file(path: Path, what: str = "file") -> Path:
    """``path`` if it is a file that can be opened for reading; else a :class:`DataError` saying which of
    missing, a folder or unreadable (permission denied, naming the folder that blocks the way) it is."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{what} not found: {path}") from None
    except ValueError as exc:  # an embedded NUL byte
        raise DataError(f"{what} {path!r} is not a valid path ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {_unreadable(_blocking_folder(path), exc)}") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path} is a folder, not a {what}")
    if not stat.S_ISREG(mode):  # a device or pipe: reading it could block or never end
        raise DataError(f"{path} is not a regular {what}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {_unreadable(path, exc)}") from None
    return path


def fixed_folder(pattern: Path) -> Path:
    """The folder part of a glob pattern before its first wildcard: where a search starts."""
    parts = []
    for part in pattern.parts[:-1]:
        if set(part) & set("*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _blocking_folder(path: Path) -> Path:
    """The innermost folder on the way to ``path`` that can be searched no further (or ``path`` itself)."""
    for ancestor in reversed(path.parents):
        try:
            os.stat(ancestor)
        except OSError:
            return ancestor.parent
    return path.parent


def _unreadable(path: Path, exc: OSError) -> str:
    if _denied(exc):
        return f"{path} is unreadable (permission denied); check its permissions"
    return f"{path}: {exc.strerror or exc}"
