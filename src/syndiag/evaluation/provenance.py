"""What every benchmark result records beside its numbers: command, commit, machine, time."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from syndiag.evaluation.metrics import current_commit


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
