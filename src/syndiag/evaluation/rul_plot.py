"""RUL figures (issue 16): one unit's health indicator with its predicted failure time and intervals; and, per learning
unit, the leave-one-bearing-out predicted RUL of each model family against the true RUL over its life."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from syndiag.evaluation.figure_files import save_figure_png
from syndiag.prognostics.features import indicator
from syndiag.prognostics.health import smooth

HOUR = 3600.0
COLOURS = {"mean-residual-life": "tab:gray", "exponential-trend": "tab:orange", "linear-trend": "tab:brown",
           "history-regression": "tab:blue", "sensor-regression": "tab:red", "similarity": "tab:green", "bayesian-exponential": "tab:pink",
           "survival": "tab:olive"}


def write_prediction_png(unit: Any, prediction: Any, path: str | Path) -> Path:
    """The smoothed RMS over hours, the onset, now, and the predicted failure time with its intervals shaded."""
    hours = unit.time_s / HOUR
    rms = indicator(unit.features, "rms")
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    ax = figure.subplots()
    ax.plot(hours, rms, color="tab:blue", alpha=0.35, lw=0.8, label="RMS per snapshot")
    ax.plot(hours, smooth(rms, 5, causal=True), color="tab:blue", lw=1.5, label="RMS, causal moving median")
    now = prediction.time_s / HOUR
    ax.axvline(now, color="black", lw=1, label="last snapshot")
    if prediction.onset_s is not None:
        ax.axvline(prediction.onset_s / HOUR, color="tab:orange", ls="--", lw=1, label="onset")
    for level, (low, high) in sorted(prediction.intervals.items(), reverse=True):
        ax.axvspan(now + low / HOUR, now + high / HOUR, color="tab:red", alpha=0.12 if level > 0.9 else 0.22,
                   label=f"failure, {level:.0%} interval")
    ax.axvline(now + prediction.rul_s / HOUR, color="tab:red", lw=1.5, label="predicted failure")
    if prediction.actual_rul_s is not None:
        ax.axvline(now + prediction.actual_rul_s / HOUR, color="tab:green", ls=":", lw=1.5, label="actual failure (known RUL)")
    ax.set_xlim(0, max(now * 1.6, now + 1.5 * prediction.rul_s / HOUR))
    ax.set_xlabel("hours since the unit's first snapshot (the intervals may run past the right edge)")
    ax.set_ylabel("RMS (g)")
    low, high = prediction.intervals[min(prediction.intervals)]
    ax.set_title(f"{prediction.unit}: RUL {prediction.rul_s / HOUR:.2f} h ({min(prediction.intervals):.0%} interval "
                 f"{low / HOUR:.2f}-{high / HOUR:.2f} h)", fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    return save_figure_png(figure, path)


def write_lobo_png(units: list[Any], trajectories: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: str | Path) -> Path:
    """One panel per learning unit: true RUL (black), each family's LOBO prediction (clipped at 2.5 x the unit's life), the
    RMS on a second axis."""
    columns = 3
    rows = -(-len(units) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, unit in zip(axes, units):
        hours = unit.time_s / HOUR
        ax.plot(hours, unit.rul_s / HOUR, color="black", lw=1.5, label="true RUL")
        for family, found in trajectories.items():
            times, predicted = found[unit.name]
            ax.plot(times / HOUR, predicted / HOUR, marker="o", ms=2.5, lw=1, color=COLOURS.get(family), label=family)
        twin = ax.twinx()
        twin.plot(hours, indicator(unit.features, "rms"), color="tab:purple", alpha=0.25, lw=0.8)
        twin.set_ylabel("RMS (g)", fontsize=7, color="tab:purple")
        ax.set_title(f"{unit.name} (held out)", fontsize=9)
        ax.set_xlabel("hours", fontsize=8)
        ax.set_ylabel("RUL (h)", fontsize=8)
        ax.set_ylim(0, 2.5 * float(unit.rul_s[0]) / HOUR)  # a trend extrapolated from a flat stretch can run to absurd values
    for ax in axes[len(units):]:
        ax.set_visible(False)
    axes[0].legend(loc="upper right", fontsize=7)
    figure.suptitle("FEMTO learning bearings: leave-one-bearing-out RUL of each model family against the true RUL", fontsize=10)
    return save_figure_png(figure, path)
