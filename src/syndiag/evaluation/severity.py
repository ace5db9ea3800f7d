"""Severity scores (LLaVA-for-Sensors article, "fault severity"): MAE in the severity's unit, ordinal accuracy, interval coverage."""

from __future__ import annotations

import numpy as np

from syndiag.errors import DataError

Z_90 = 1.6448536269514722


def nearest_level(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each value snapped to the nearest of the known severity ``levels``."""
    levels = np.asarray(sorted(set(np.asarray(levels, dtype=float).tolist())))
    return levels[np.abs(np.asarray(values, dtype=float)[:, None] - levels[None, :]).argmin(axis=1)]


def severity_report(true: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: np.ndarray | None = None) -> dict[str, float]:
    """MAE, ordinal accuracy (the estimate snapped to the nearest known level equals the truth) and the share of true values
    inside the estimate's 90 % interval (mean ± 1.645 std), over the windows whose true severity is known (finite)."""
    true, mean, std = (np.asarray(a, dtype=float) for a in (true, mean, std))
    if not (true.shape == mean.shape == std.shape) or true.ndim != 1:
        raise DataError(f"severity arrays must be 1-D of one length, got {true.shape}, {mean.shape}, {std.shape}")
    known = np.isfinite(true)
    if not known.any():
        return {"mae": float("nan"), "ordinal_accuracy": float("nan"), "interval_90_coverage": float("nan"), "windows": 0}
    if not (np.isfinite(mean[known]).all() and np.isfinite(std[known]).all()):
        raise DataError("severity estimates hold NaN/Inf")
    t, m, s = true[known], mean[known], std[known]
    levels = np.unique(t) if levels is None else np.asarray(levels, dtype=float)
    return {
        "mae": float(np.abs(m - t).mean()),
        "ordinal_accuracy": float((nearest_level(m, levels) == t).mean()),
        "interval_90_coverage": float((np.abs(m - t) <= Z_90 * s).mean()),
        "windows": int(known.sum()),
    }
