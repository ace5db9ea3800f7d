"""``syndiag monitor``: a unit's snapshots walked in time order against its own healthy start (issue 17)."""

from __future__ import annotations

from pathlib import Path

from syndiag.config.monitor import MonitorConfig
from syndiag.prognostics.anomaly import AlarmTimeline, alarm_timeline
from syndiag.prognostics.units import Unit, read_unit


def run_monitor(config: MonitorConfig, folder: Path, png: Path | None = None) -> tuple[Unit, AlarmTimeline, Path | None]:
    """Read the unit's folder (FEMTO layout), score every snapshot, and draw the alarm timeline."""
    # defers matplotlib: drawn only when a PNG is asked for (a unit's report reads the timeline alone)
    from syndiag.evaluation.anomaly_plot import write_alarm_png

    unit = read_unit(folder, "test", config.bands, cache_dir=None)
    timeline = alarm_timeline(unit, config)
    return unit, timeline, write_alarm_png(timeline, png) if png is not None else None
