"""Each sensor's health state in the live service (issue 33): the evidence of every diagnosed window (ISO 20816 zone of
its RMS velocity, anomaly score against the sensor's own healthy baseline as ``syndiag monitor`` learns it, the
unknown-fault verdict, the diagnosed fault, the RUL of :mod:`syndiag.service.rul_live` once the unit degrades), stepped through :mod:`syndiag.service.health_state`, and an alarm for
every change of state.

The baseline is the sensor's first ``baseline_windows`` windows' health features (those of ``syndiag monitor``: log RMS,
kurtosis, peak, crest, band powers, spectral entropy): a Mahalanobis scorer fitted on the even ones, the threshold the
(1 - false_alarm) conformal quantile of the odd ones' scores. :meth:`HealthTracker.evaluate` works on copies, so a batch
whose store write fails changes nothing; :meth:`HealthTracker.commit` takes the update once it is stored. A window at
or before a sensor's last evaluated window (a redelivery) is not evaluated again."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from syndiag.config.service import HealthConfig, SensorDeclaration
from syndiag.errors import ConfigError
from syndiag.physics.iso_zones import velocity_mean_square, zone_table
from syndiag.prognostics.features import LOG_FLOOR, spectral_features
from syndiag.prognostics.health import time_features
from syndiag.service.alarm_store import alarm_id, load
from syndiag.service.health_state import LEVELS, Evidence, Rules, State, machine_levels, step, window_levels, zone_of
from syndiag.service.rul_live import LiveRul, rul_scores

VELOCITY_BAND = (10.0, 1000.0)


def health_features(x: np.ndarray, fs: float) -> np.ndarray:
    """``syndiag monitor``'s health features of one signal: log RMS, kurtosis, peak, crest, 8 log band powers, entropy."""
    x = np.asarray(x, dtype=np.float64)[None, :]
    found = time_features(x)
    logs = [np.log(np.maximum(found[key], LOG_FLOOR)) for key in ("rms", "kurtosis", "peak", "crest")]
    spectral = spectral_features(x, fs)
    return np.concatenate([np.concatenate(logs), spectral[0, :-2], spectral[0, -1:]])


@dataclass(frozen=True)
class Baseline:
    """A sensor's healthy reference: the Mahalanobis mean and precision of its healthy features, the score threshold."""

    means: np.ndarray
    precision: np.ndarray
    threshold: float
    windows: int

    @classmethod
    def fit(cls, features: np.ndarray, false_alarm: float) -> "Baseline":
        # defers sklearn (Ledoit-Wolf): loaded once a sensor's baseline is complete, never for a service that has none
        from syndiag.models.openset import Mahalanobis, calibrate_threshold

        scorer = Mahalanobis().fit(features[0::2], np.zeros(len(features[0::2])))
        threshold = calibrate_threshold(scorer.score(features[1::2]), false_alarm)
        return cls(scorer.means, scorer.precision, max(threshold, 1e-9), len(features))

    def ratio(self, features: np.ndarray) -> float:
        d = features - self.means[0]
        return float(d @ self.precision @ d) / self.threshold

    def row(self) -> dict:
        return {"windows": self.windows, "model": json.dumps({"means": self.means.tolist(), "precision": self.precision.tolist()}),
                "threshold": self.threshold}

    @classmethod
    def of_row(cls, row: dict) -> "Baseline":
        model = json.loads(row["model"])
        return cls(np.asarray(model["means"]), np.asarray(model["precision"]), float(row["threshold"]), int(row["windows"]))


@dataclass
class HealthUpdate:
    """What one batch changes: new states, baseline windows collected, baselines fitted, alarms raised (one per change)."""

    states: dict[str, State] = field(default_factory=dict)
    evidence: dict[str, dict] = field(default_factory=dict)
    collected: dict[str, tuple] = field(default_factory=dict)
    fitted: dict[str, Baseline] = field(default_factory=dict)
    raised: list[dict] = field(default_factory=list)
    stored_alarms: int = 0
    scores: dict[tuple[str, float], tuple[float | None, ...]] = field(default_factory=dict)  # -> velocity, ratio, RUL and its bound (h)
    snapshots: list[dict] = field(default_factory=list)  # RUL snapshots taken (rul_snapshots rows)
    thinned: list[tuple[str, float]] = field(default_factory=list)  # RUL snapshots thinned away (sensor, t_end)

    def rows(self) -> tuple[dict[str, dict], dict[str, dict]]:
        """(health_states rows, baselines rows) for the store."""
        states = {sensor: {"level": s.level, "since": s.since, "last_t_end": s.last_t_end, "rising": s.rising, "rising_to": s.rising_to,
                           "falling": s.falling, "falling_to": s.falling_to, "reasons": json.dumps(s.reasons),
                           "evidence": json.dumps(self.evidence.get(sensor, {}))} for sensor, s in self.states.items()}
        return states, {sensor: b.row() for sensor, b in self.fitted.items()}


class HealthTracker:
    """Thread-safe: ``evaluate``/``commit`` from the worker, ``snapshot`` from HTTP."""

    def __init__(self, config: HealthConfig, sensors: dict[str, SensorDeclaration], engine=None) -> None:  # noqa: ANN001
        self.config, self.sensors = config, sensors
        table = zone_table()
        for where, group in [("health.machine_group", config.machine_group),
                             *((f"sensors.{n}.machine_group", d.machine_group) for n, d in sensors.items() if d.machine_group)]:
            if group not in table:
                raise ConfigError(f"{where}: unknown machine group {group!r}; known: {', '.join(table)}")
        self.boundaries = {group: tuple(float(b) for b in entry["boundaries"]) for group, entry in table.items()}
        self.lock = threading.Lock()
        self.states: dict[str, State] = {}
        self.evidence: dict[str, dict] = {}
        self.baselines: dict[str, Baseline] = {}
        self.collected: dict[str, tuple] = {}
        stored: dict[str, list[tuple[float, bytes]]] = {}
        if engine is not None:
            states, fitted, stored = load(engine)
            for sensor, row in states.items():
                self.states[sensor] = State(row["level"], row["since"], row["last_t_end"], row["rising"], row["rising_to"], row["falling"],
                                            row["falling_to"], json.loads(row["reasons"]))
                self.evidence[sensor] = json.loads(row["evidence"])
            self.baselines = {sensor: Baseline.of_row(row) for sensor, row in fitted.items()}
        self.rul = LiveRul(config, sensors, stored)

    def rules(self, sensor: str) -> Rules:
        declared = self.sensors.get(sensor)
        group = (declared.machine_group if declared else None) or self.config.machine_group
        c = self.config
        return Rules(c.raise_windows, c.clear_windows, c.clear_ratio, self.boundaries[group], c.anomaly_alarm_ratio, c.fault_probability,
                     LEVELS.index(c.fault_level), LEVELS.index(c.unknown_level), c.severity_alarm, tuple(c.healthy_labels), c.rul_watch_h,
                     c.rul_alarm_h)

    def evaluate(self, rows: list[dict], signals: list[tuple[np.ndarray | None, float]], arrived_at: list[float]) -> HealthUpdate:
        """The update of a batch of stored diagnoses (``rows``), each with its window's signal at the sensor rate."""
        update = HealthUpdate()
        for row, (signal, fs), arrived in zip(rows, signals, arrived_at):
            sensor = row["sensor"]
            with self.lock:
                state = update.states.get(sensor) or self.states.get(sensor) or State()
                baseline = update.fitted.get(sensor) or self.baselines.get(sensor)
                collected = update.collected.get(sensor, self.collected.get(sensor, ()))
                rul = (update.evidence.get(sensor) or self.evidence.get(sensor) or {}).get("rul")
            if state.last_t_end is not None and row["t_end"] <= state.last_t_end:
                continue  # a window already evaluated (redelivered): its alarm, if any, is stored
            declared = self.sensors.get(sensor)
            velocity, ratio = None, None
            if signal is not None and signal.size >= 2:
                if fs >= 2 * VELOCITY_BAND[1] and signal.size >= fs / VELOCITY_BAND[0]:
                    velocity = float(np.sqrt(velocity_mean_square(signal, fs, declared.unit if declared else "g", VELOCITY_BAND)))
                features = health_features(signal, fs)
                if baseline is not None:
                    ratio = baseline.ratio(features)
                elif np.isfinite(features).all():
                    collected = (*collected, features)
                    if len(collected) >= self.config.baseline_windows:
                        baseline = update.fitted[sensor] = Baseline.fit(np.stack(collected), self.config.false_alarm)
                        collected = ()
                    update.collected[sensor] = collected
                if self.rul.due(sensor, row["t_end"], update.snapshots) and np.isfinite(signal).all():
                    snapshot, estimate = self.rul.take(sensor, row["t_end"], signal, fs, update.snapshots)
                    update.snapshots.append(snapshot)
                    rul = estimate or rul
            rules = self.rules(sensor)
            evidence = Evidence(velocity, ratio, row.get("unknown"), row["label"], row["probability"], row.get("_severity"),
                                rul.get("low_h") if rul else None)
            high, low, why = window_levels(evidence, rules)
            new = step(state, high, low, row["t_end"], rules, why)
            update.states[sensor] = new
            update.scores[(sensor, row["t_end"])] = (velocity, ratio, *rul_scores(rul))
            update.evidence[sensor] = {"velocity_mm_s": velocity, "zone": None if velocity is None else zone_of(velocity, rules.zone_boundaries),
                                       "anomaly_ratio": ratio, "baseline": f"{len(collected)}/{self.config.baseline_windows} windows"
                                       if baseline is None else "fitted", "unknown": row.get("unknown"), "label": row["label"],
                                       "probability": row["probability"], "severity": row.get("_severity"), "t_end": row["t_end"], "rul": rul}
            if new.level != state.level:
                level = LEVELS[new.level]
                update.raised.append({"id": alarm_id(sensor, row["t_end"], level), "sensor": sensor, "level": level,
                                      "previous": LEVELS[state.level], "t_end": row["t_end"], "reasons": json.dumps(new.describe()["reasons"]),
                                      "evidence": json.dumps(update.evidence[sensor]), "arrived_at": arrived})
        if update.snapshots:
            update.thinned = self.rul.merged(update.snapshots)[1]
        return update

    def commit(self, update: HealthUpdate) -> None:
        with self.lock:
            self.states.update(update.states)
            self.evidence.update(update.evidence)
            self.baselines.update(update.fitted)
            self.collected.update(update.collected)
            self.rul.commit(update.snapshots)
            for sensor in update.fitted:
                self.collected.pop(sensor, None)

    def snapshot(self) -> dict:
        """Each sensor's state (with its reasons, latest evidence and ISO zone boundaries) and each machine's (the worst of its sensors')."""
        with self.lock:
            sensors = {s: {**state.describe(), "evidence": self.evidence.get(s, {}), "zone_boundaries_mm_s": list(self.rules(s).zone_boundaries)}
                       for s, state in sorted(self.states.items())}
            machines = machine_levels({s: state.level for s, state in self.states.items()})
        return {"sensors": sensors, "machines": {m: LEVELS[level] for m, level in sorted(machines.items())}, "checked_at": time.time()}
