"""The alarm timeline of one unit (issue 17, `syndiag monitor`): novelty score and RMS over time, their thresholds, when
each alarm went on, the healthy reference shaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from syndiag.evaluation.metrics import save_figure_png

HOUR = 3600.0


def write_alarm_png(timeline: Any, path: str | Path, title: str | None = None) -> Path:
    hours = timeline.time_s / HOUR
    figure = Figure(figsize=(9, 4.2), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.axvspan(hours[0], hours[timeline.reference - 1], color="tab:green", alpha=0.12, label="healthy reference")
    top.semilogy(hours, np.maximum(timeline.score, 1e-6), color="tab:blue", lw=1, label=f"novelty ({timeline.method})")
    top.axhline(timeline.threshold, color="tab:blue", ls="--", lw=1, label="threshold")
    bottom.plot(hours, timeline.rms, color="tab:purple", lw=1, label="RMS (g)")
    bottom.axhline(timeline.rms_threshold, color="tab:purple", ls="--", lw=1, label="RMS alarm level")
    for ax, first, name in ((top, timeline.first_alarm, "novelty alarm"), (bottom, timeline.first_rms_alarm, "RMS alarm")):
        if first is not None:
            ax.axvline(hours[first], color="tab:red", lw=1.5, label=f"{name} on ({hours[first]:.2f} h)")
        ax.legend(loc="upper left", fontsize=7)
    bottom.set_xlabel("hours since the unit's first snapshot")
    top.set_ylabel("novelty score")
    bottom.set_ylabel("RMS (g)")
    figure.suptitle(title or f"{timeline.unit}: alarms from its own healthy start", fontsize=10)
    return save_figure_png(figure, path)
