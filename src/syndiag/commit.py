"""The commit of the syndiag source that made a result or wrote an artefact (``git rev-parse HEAD``, ``+dirty`` when
tracked files changed). The bottom layer: it imports nothing from syndiag, so a saved model's description records it too."""

from __future__ import annotations

import subprocess
from pathlib import Path

UNKNOWN_COMMIT = "unknown"
GIT_TIMEOUT_S = 10.0


def git(*args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, check=True,
                               timeout=GIT_TIMEOUT_S)
    return completed.stdout.strip()


def current_commit() -> str:
    """``git rev-parse HEAD`` of the syndiag source, ``+dirty`` if tracked files changed, ``unknown`` without git."""
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    if not commit:
        return UNKNOWN_COMMIT
    return f"{commit}+dirty" if dirty else commit
