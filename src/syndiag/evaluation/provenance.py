"""What every benchmark result records beside its numbers: command, commit, machine, time.

The bottom of ``syndiag.evaluation``: it imports only :mod:`syndiag.commit`, so any module may import it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from syndiag.commit import GIT_TIMEOUT_S, current_commit
from syndiag.errors import SyndiagError


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


def machine() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def provenance() -> dict:
    return {
        "command": command_line(),
        "commit": current_commit(),
        "machine": machine(),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def is_committed(path: Path) -> bool:
    """Whether git tracks ``path`` (a results file whose lines are part of the project's history)."""
    path = Path(path).resolve()
    try:
        subprocess.run(["git", "ls-files", "--error-unmatch", path.name], cwd=path.parent, capture_output=True, check=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def check_committed_code(results: Path, allow_dirty: bool = False) -> None:
    """Refuse to add lines to a committed results file from a tree with uncommitted changes: their code would be in no commit."""
    commit = current_commit()
    if commit.endswith("+dirty") and not allow_dirty and Path(results).is_file() and is_committed(results):
        raise SyndiagError(
            f"{results} is committed and the source tree has uncommitted changes ({commit[:10]}+dirty): commit the code first, "
            "or pass --allow-dirty (the report marks such lines)")
