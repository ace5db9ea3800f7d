"""Health indicators (IEEE PHM 2012 practice on FEMTO PRONOSTIA): per-snapshot features, smoothing, onset, degradation stages.

A unit's health indicator (HI) is one number per snapshot that grows as the bearing degrades; the vibration RMS is
the one practitioners watch. Its **baseline** is the first ``baseline_fraction`` of the snapshots (at least
``MIN_BASELINE``); the **onset** (first predicting time) is the first snapshot from which the smoothed HI stays above
the baseline's mean + ``sigmas`` x the standard deviation of the raw (unsmoothed) baseline for ``persistence`` snapshots
in a row (the smoothed baseline's own spread is too small on a few snapshots: noise alone would cross it). **Stages** (the
severity of a run-to-failure unit): 0 ``healthy`` before the onset, 1 ``degrading`` from it, 2 ``severe`` from the
first snapshot after it whose smoothed HI reaches ``severe_ratio`` x the baseline mean (4 x = +12 dB, the step from
an alert to a danger level in vibration monitoring practice). Degradation does not heal: stages never go down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.errors import DataError

STAGES = ("healthy", "degrading", "severe")
STAGE_PROMPTS = (
    "healthy bearing: vibration at its running-in baseline",
    "degrading bearing: vibration rising above its baseline, an incipient defect",
    "severely degraded bearing: vibration several times its baseline, near failure",
)
MIN_BASELINE = 5


def time_features(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per row of ``x`` (n, samples): RMS, kurtosis (Pearson, 3 for a Gaussian), peak |x| and crest factor (peak / RMS)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if x.shape[1] < 2 or not np.isfinite(x).all():
        raise DataError(f"health features need finite rows of at least 2 samples, got shape {x.shape}")
    rms = np.sqrt(np.mean(x**2, axis=1))
    peak = np.abs(x).max(axis=1)
    squared = (x - x.mean(axis=1, keepdims=True)) ** 2
    m2 = squared.mean(axis=1)
    kurtosis = np.divide((squared * squared).mean(axis=1), m2**2, out=np.full_like(m2, np.nan), where=m2 > 0)  # Pearson, as scipy's
    return {"rms": rms, "kurtosis": kurtosis, "peak": peak,
            "crest": np.divide(peak, rms, out=np.zeros_like(rms), where=rms > 0)}


def smooth(values: np.ndarray, window: int = 5, causal: bool = False) -> np.ndarray:
    """Moving median over ``window`` snapshots: centred (labels, offline) or causal (the last ``window``, online)."""
    values = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise DataError(f"smoothing window must be at least 1, got {window}")
    if window == 1 or values.size == 0:
        return values.copy()
    if causal:
        padded = np.concatenate([np.full(window - 1, values[0]), values])
    else:
        left = (window - 1) // 2
        padded = np.concatenate([np.full(left, values[0]), values, np.full(window - 1 - left, values[-1])])
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


@dataclass(frozen=True)
class HealthTrajectory:
    """A unit's smoothed HI, its baseline, onset index (None: never) and stage per snapshot."""

    indicator: np.ndarray
    smoothed: np.ndarray
    baseline_mean: float
    baseline_std: float
    onset: int | None
    stages: np.ndarray

    def stage_names(self) -> list[str]:
        return [STAGES[s] for s in self.stages]


def onset_index(smoothed: np.ndarray, baseline: int, sigmas: float = 3.0, persistence: int = 3, std: float | None = None) -> int | None:
    """First index at or after ``baseline`` from which ``smoothed`` exceeds the baseline's mean + sigmas x ``std`` (default: the
    baseline's own std) ``persistence`` times in a row."""
    mean = float(smoothed[:baseline].mean())
    std = float(smoothed[:baseline].std()) if std is None else std
    above = smoothed > mean + sigmas * max(std, 1e-12)
    for i in range(baseline, smoothed.size - persistence + 1):
        if above[i:i + persistence].all():
            return i
    return None


def health_trajectory(indicator: np.ndarray, baseline_fraction: float = 0.1, sigmas: float = 3.0, persistence: int = 3,
                      severe_ratio: float = 4.0, window: int = 5) -> HealthTrajectory:
    """Baseline, onset and stages of one unit's HI sequence (see the module docstring)."""
    indicator = np.asarray(indicator, dtype=np.float64)
    if indicator.ndim != 1 or indicator.size < MIN_BASELINE + persistence or not np.isfinite(indicator).all():
        raise DataError(f"a health trajectory needs at least {MIN_BASELINE + persistence} finite values, got {indicator.shape}")
    if not 0 < baseline_fraction < 1 or severe_ratio <= 1:
        raise DataError(f"baseline_fraction must be in (0, 1) and severe_ratio above 1, got {baseline_fraction}, {severe_ratio}")
    smoothed = smooth(indicator, window)
    baseline = max(MIN_BASELINE, int(round(baseline_fraction * indicator.size)))
    baseline = min(baseline, indicator.size - persistence)
    mean, std = float(smoothed[:baseline].mean()), float(indicator[:baseline].std())
    onset = onset_index(smoothed, baseline, sigmas, persistence, std)
    stages = np.zeros(indicator.size, dtype=np.int64)
    if onset is not None:
        stages[onset:] = 1
        severe = np.flatnonzero(smoothed[onset:] >= severe_ratio * mean)
        if severe.size:
            stages[onset + int(severe[0]):] = 2
    return HealthTrajectory(indicator, smoothed, mean, std, onset, stages)
