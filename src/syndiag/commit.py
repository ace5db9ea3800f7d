"""The commit of the syndiag source that made a result or wrote an artefact (``git rev-parse HEAD``, ``+dirty`` when
tracked code changed: the package, the benchmark and helper scripts, the project file; not results files nor docs, so a
run that appends to a committed results file does not mark its own later lines). The bottom layer: it imports nothing from syndiag, so a saved model's description records it too."""

from __future__ import annotations

import subprocess
from pathlib import Path

UNKNOWN_COMMIT = "unknown"
GIT_TIMEOUT_S = 10.0


def git(*args: str) -> str:
    completed = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, check=True,
                               timeout=GIT_TIMEOUT_S)
    return completed.stdout.strip()


CODE = (":(top)src", ":(top)benchmarks/*.py", ":(top)scripts", ":(top)pyproject.toml", ":(top).ci")
"""What counts as code for the ``+dirty`` mark (git pathspecs from the top of the checkout)."""


def current_commit() -> str:
    """``git rev-parse HEAD`` of the syndiag source, ``+dirty`` if tracked code (:data:`CODE`) changed, ``unknown`` without git."""
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE))
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    if not commit:
        return UNKNOWN_COMMIT
    return f"{commit}+dirty" if dirty else commit
