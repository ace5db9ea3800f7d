"""Anomaly detection from healthy data alone (issue 17, LLaVA-for-Sensors "anomaly detection"): a unit's own healthy start
is its reference; each later snapshot's health features (optionally averaged over the last ``smoothing`` snapshots) get
a novelty score (Mahalanobis or kNN, :mod:`syndiag.models.openset`, or the largest feature |z|, :class:`MaxZ`); an alarm
goes on after ``persistence`` snapshots in a row above the threshold and stays on.

The reference snapshots are split in two by parity: the scorer is fitted on one half and the threshold is the
(1 - false_alarm) conformal quantile of the other half's scores, so it is not set on the points the scorer has seen.
Beside it runs the practitioners' alarm: the RMS above the reference mean + ``rms_sigmas`` standard deviations, with the
same persistence. For a unit that ran to failure, the lead time is the failure time minus the alarm time, and the false
alarms are the alarms that went on before the onset of its health trajectory (:mod:`syndiag.prognostics.health`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from syndiag.config.monitor import MonitorConfig
from syndiag.errors import DataError
from syndiag.models.openset import calibrate_threshold, feature_scorer
from syndiag.prognostics.features import indicator
from syndiag.prognostics.health import health_trajectory
from syndiag.prognostics.units import Unit

MIN_REFERENCE = 6


@dataclass
class AlarmTimeline:
    """Per snapshot: novelty score, RMS, whether each alarm is on; the thresholds; first alarm indices (None: never)."""

    unit: str
    time_s: np.ndarray
    score: np.ndarray
    threshold: float
    alarm: np.ndarray
    rms: np.ndarray
    rms_threshold: float
    rms_alarm: np.ndarray
    reference: int
    method: str

    @property
    def first_alarm(self) -> int | None:
        return _first(self.alarm)

    @property
    def first_rms_alarm(self) -> int | None:
        return _first(self.rms_alarm)


def _first(on: np.ndarray) -> int | None:
    found = np.flatnonzero(on)
    return int(found[0]) if found.size else None


def latched(above: np.ndarray, persistence: int) -> np.ndarray:
    """On from the first run of ``persistence`` True values (at its last element) to the end."""
    above = np.asarray(above, dtype=bool)
    run = np.convolve(above.astype(int), np.ones(persistence, dtype=int), mode="full")[: above.size] >= persistence
    on = np.zeros(above.size, dtype=bool)
    first = _first(run)
    if first is not None:
        on[first:] = True
    return on


class MaxZ:
    """The largest |z| of one feature against the fit snapshots' mean and standard deviation: a feature leaving its
    own healthy band alarms, however many others stay in theirs (a Shewhart chart per feature)."""

    def fit(self, features, labels=None) -> "MaxZ":
        x = np.asarray(features, dtype=np.float64)
        self.mean, self.std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-12)
        return self

    def score(self, features) -> np.ndarray:
        return np.abs((np.asarray(features, dtype=np.float64) - self.mean) / self.std).max(axis=1)


def causal_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Each row averaged with the ``window - 1`` rows before it (fewer at the start): no later snapshot is used."""
    if window <= 1:
        return x
    total = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), x]), axis=0)
    index = np.arange(len(x))
    first = np.maximum(index - window + 1, 0)
    return (total[index + 1] - total[first]) / (index - first + 1).reshape(-1, *([1] * (x.ndim - 1)))


def selected_features(unit: Unit, which: str) -> np.ndarray:
    names = unit.features.names
    if which == "all":
        keep = [i for i, n in enumerate(names) if "centroid" not in n]
    elif which == "time":
        keep = [i for i, n in enumerate(names) if "_log_" in n]
    elif which == "bands":
        keep = [i for i, n in enumerate(names) if "_band" in n]
    else:
        raise DataError(f"unknown feature set {which!r}; known: all, time, bands")
    return unit.features.values[:, keep]


def alarm_timeline(unit: Unit, config: MonitorConfig) -> AlarmTimeline:
    """Score every snapshot of ``unit`` against its own first ``config.healthy_s`` seconds (see the module docstring)."""
    reference = int(np.searchsorted(unit.time_s, unit.time_s[0] + config.healthy_s, side="left"))
    if reference < MIN_REFERENCE:
        raise DataError(f"{unit.name}: {reference} snapshot(s) in its first {config.healthy_s:g} s; the healthy reference needs at "
                        f"least {MIN_REFERENCE} (lower healthy_s only if the unit is sampled that sparsely, or give more snapshots)")
    if reference >= len(unit):
        raise DataError(f"{unit.name}: every snapshot falls in the first {config.healthy_s:g} s; nothing left to monitor")
    x = causal_mean(selected_features(unit, config.features), config.smoothing)
    fit, calibrate = np.arange(0, reference, 2), np.arange(1, reference, 2)
    scorer = (MaxZ() if config.method == "max-z" else feature_scorer(config.method)).fit(x[fit], np.zeros(fit.size))
    score = scorer.score(x)
    threshold = calibrate_threshold(score[calibrate], config.false_alarm)
    rms = indicator(unit.features, "rms")
    rms_threshold = float(rms[:reference].mean() + config.rms_sigmas * rms[:reference].std())
    after = np.arange(len(unit)) >= reference
    alarm = latched((score > threshold) & after, config.persistence)
    rms_alarm = latched((rms > rms_threshold) & after, config.rms_persistence or config.persistence)
    return AlarmTimeline(unit.name, unit.time_s, score, threshold, alarm, rms, rms_threshold, rms_alarm, reference, config.method)


def detection_summary(unit: Unit, timeline: AlarmTimeline) -> dict:
    """For a unit that ran to failure: lead time (s before failure) of each alarm, and whether it went on before the onset."""
    if not unit.failed:
        raise DataError(f"{unit.name}: lead times need a unit that ran to failure")
    onset = health_trajectory(indicator(unit.features, "rms")).onset
    life = float(unit.time_s[-1])
    found = {"unit": unit.name, "life_s": life, "onset_s": None if onset is None else float(unit.time_s[onset])}
    for name, first in (("novelty", timeline.first_alarm), ("rms", timeline.first_rms_alarm)):
        found[f"{name}_alarm_s"] = None if first is None else float(unit.time_s[first])
        found[f"{name}_lead_s"] = None if first is None else life - float(unit.time_s[first])
        found[f"{name}_false_alarm"] = bool(first is not None and onset is not None and first < onset)
    return found
