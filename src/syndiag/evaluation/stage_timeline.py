"""Degradation-stage timeline of run-to-failure bearings (LLaVA-for-Sensors severity on FEMTO): per test bearing, the true
stage from its health trajectory, the sensor model's stage per snapshot, and the smoothed RMS with its onset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from syndiag.errors import DataError
from syndiag.evaluation.metrics import save_figure_png


def write_stage_timeline_png(windows: Any, test: np.ndarray, predicted: np.ndarray, trajectories: dict[str, Any], path: str | Path,
                             title: str) -> Path:
    """One panel per test bearing: stages (true line, predicted dots) over hours, the smoothed RMS (g) on a second axis."""
    test, predicted = np.asarray(test), np.asarray(predicted)
    if test.shape != predicted.shape:
        raise DataError(f"{test.size} test windows but {predicted.size} predictions")
    groups = windows.groups[test]
    bearings = list(dict.fromkeys(groups.tolist()))
    hours = windows.extra["time_s"][test] / 3600.0
    figure = Figure(figsize=(9, 2.4 * len(bearings) + 0.6), layout="constrained")
    axes = figure.subplots(len(bearings), 1, squeeze=False)[:, 0]
    names = list(windows.class_names)
    for ax, bearing in zip(axes, bearings):
        rows = np.flatnonzero(groups == bearing)
        order = rows[np.argsort(hours[rows])]
        true = windows.labels[test][order]
        ax.step(hours[order], true, where="post", color="black", label="stage from the health trajectory")
        hit = predicted[order] == true
        ax.scatter(hours[order][hit], predicted[order][hit], s=10, color="tab:green", label="sensor model, right", zorder=3)
        ax.scatter(hours[order][~hit], predicted[order][~hit], s=14, color="tab:red", marker="x", label="sensor model, wrong", zorder=3)
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.5, len(names) - 0.5)
        ax.set_title(f"{bearing}: {hit.mean():.0%} of {order.size} snapshots right", fontsize=9)
        trajectory = trajectories.get(bearing)
        if trajectory is not None:
            twin = ax.twinx()
            span = windows.extra["time_s"][windows.groups == bearing] / 3600.0
            twin.plot(np.sort(span), trajectory.smoothed, color="tab:blue", alpha=0.4, lw=1)
            twin.set_ylabel("smoothed RMS (g)", fontsize=8, color="tab:blue")
            if trajectory.onset is not None:
                ax.axvline(np.sort(span)[trajectory.onset], color="tab:orange", ls="--", lw=1, label="onset")
    axes[-1].set_xlabel("hours since the bearing's first snapshot")
    axes[0].legend(loc="upper left", fontsize=7)
    figure.suptitle(title, fontsize=10)
    return save_figure_png(figure, path)
