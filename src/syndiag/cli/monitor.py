"""``syndiag monitor FOLDER``: alarms of one unit from its own healthy start; calls one workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from syndiag.cli.common import SetOpt, out
from syndiag.config.base import parse_overrides
from syndiag.config.monitor import MonitorConfig


def monitor(folder: Annotated[Path, typer.Argument(help="one unit's folder of snapshots (FEMTO layout: acc_NNNNN.csv)")],
            config: Annotated[Optional[Path], typer.Option("--config", "-c", help="monitor recipe (default: the defaults, "
                                                           "syndiag/config/monitor.py)")] = None,
            sets: SetOpt = None,
            png: Annotated[Optional[Path], typer.Option(help="alarm timeline (default: FOLDER name + -alarms.png here)")] = None,
            json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Walk the unit's snapshots in time order: novelty against its first healthy hour, the RMS alarm beside it."""
    # defers numpy, scipy and sklearn: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.monitor import run_monitor

    overrides = parse_overrides(sets)
    cfg = MonitorConfig.from_yaml(config, overrides) if config is not None else MonitorConfig.from_dict(overrides, "--set")
    unit, timeline, written = run_monitor(cfg, folder, png or Path(f"{folder.name}-alarms.png"))

    def when(index):
        return None if index is None else float(timeline.time_s[index])

    found = {"unit": unit.name, "snapshots": len(unit), "reference_snapshots": timeline.reference, "method": timeline.method,
             "threshold": timeline.threshold, "alarm_s": when(timeline.first_alarm), "rms_threshold_g": timeline.rms_threshold,
             "rms_alarm_s": when(timeline.first_rms_alarm), "last_s": float(unit.time_s[-1]), "png": str(written)}
    if json_out:
        out.print_json(json.dumps(found))
        return
    lines = [f"{unit.name}: {len(unit)} snapshots over {found['last_s'] / 3600:.2f} h; reference: the first {timeline.reference} "
             f"(first {cfg.healthy_s / 3600:g} h)"]
    for name, at, level, run in (("novelty alarm", found["alarm_s"], f"{timeline.method} score above {timeline.threshold:.3g}", cfg.persistence),
                                 ("RMS alarm", found["rms_alarm_s"], f"RMS above {timeline.rms_threshold:.3g} g", cfg.rms_persistence or cfg.persistence)):
        state = f"ON since {at / 3600:.2f} h" if at is not None else "off"
        lines.append(f"  {name}: {state} ({level}, {run} snapshots in a row)")
    lines.append(f"plot {written}")
    out.print(escape("\n".join(lines)), highlight=False)
