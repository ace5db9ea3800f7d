"""Each sensor's remaining useful life in the live service (issue 33, item 1): every ``health.rul_snapshot_s`` seconds of
the sensor's own clock a snapshot of its health-state signal, the health features `syndiag rul fit` read (one sensor: the
same signal for both axes, so the RMS indicator is the sensor's RMS), and the estimate of the sensor's declared RUL
checkpoint on its history (:class:`syndiag.prognostics.rul_prediction.RulPredictor`). The snapshots are stored, so a
restart keeps the history; past ``health.rul_max_snapshots`` the older half is thinned to every second snapshot.

The estimate is a number only once the unit degrades (its onset found); before, "no degradation yet: at least X h" at
the lowest interval level, which reads ok."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from syndiag.config.service import HealthConfig, SensorDeclaration
from syndiag.errors import ConfigError, DataError
from syndiag.prognostics.rul_prediction import RulPredictor

HOUR_S = 3600.0


def thinned(count: int, cap: int) -> np.ndarray:
    """Indices kept of ``count`` snapshots once over ``cap``: the newer half whole, every second of the older half."""
    if count <= cap:
        return np.arange(count)
    split = count - cap // 2
    return np.concatenate([np.arange(0, split, 2), np.arange(split, count)])


def rul_evidence(prediction, level: float) -> dict:  # noqa: ANN001 - a RulPrediction
    """What the state shows of an estimate: hours, the interval at ``level`` (the lowest the checkpoint has), onset."""
    found = {"degrading": prediction.degrading, "rul_h": round(prediction.rul_s / HOUR_S, 4), "level": level, "how": prediction.how,
             "onset_h": None if prediction.onset_s is None else round(prediction.onset_s / HOUR_S, 4)}
    if prediction.degrading:
        low, high = prediction.intervals[level]
        found.update(low_h=round(low / HOUR_S, 4), high_h=round(high / HOUR_S, 4))
    else:
        found["at_least_h"] = round(prediction.at_least_s[level] / HOUR_S, 4)
    return found


def rul_scores(rul: dict | None) -> tuple[float | None, float | None]:
    """(estimate, bound) in hours kept with a window's diagnosis: after the onset the estimate and its interval's low end,
    before it no estimate and the RUL the unit exceeds."""
    if not rul:
        return None, None
    return (rul["rul_h"], rul["low_h"]) if rul["degrading"] else (None, rul["at_least_h"])


class LiveRul:
    """The sensors' RUL predictors (loaded once at start) and snapshot histories; ``take`` works on what it is given, so a
    batch whose store write fails changes nothing (the tracker commits the snapshots once stored)."""

    def __init__(self, config: HealthConfig, sensors: Mapping[str, SensorDeclaration], stored: Mapping[str, list[tuple[float, bytes]]] | None = None) -> None:
        self.config = config
        self.predictors: dict[str, RulPredictor] = {}
        for name, declared in sensors.items():
            if declared.rul is None:
                continue
            try:
                self.predictors[name] = RulPredictor.from_pretrained(declared.rul)
            except (DataError, ConfigError) as exc:
                raise ConfigError(f"sensors.{name}.rul: {exc}") from None
        self.history: dict[str, tuple[list[float], list[np.ndarray]]] = {}
        for sensor, rows in (stored or {}).items():
            if sensor in self.predictors:
                rows = sorted(rows)
                self.history[sensor] = ([t for t, _ in rows], [np.frombuffer(b, dtype=np.float64) for _, b in rows])

    def due(self, sensor: str, t_end: float, pending: list[dict]) -> bool:
        if sensor not in self.predictors:
            return False
        times = [row["t_end"] for row in pending if row["sensor"] == sensor] or self.history.get(sensor, ([], []))[0]
        return not times or t_end - times[-1] >= self.config.rul_snapshot_s - 1e-9

    def take(self, sensor: str, t_end: float, signal: np.ndarray, fs: float, pending: list[dict]) -> tuple[dict, dict | None]:
        """The snapshot row to store and the estimate's evidence on the history with it (None: shorter than the model needs)."""
        predictor = self.predictors[sensor]
        row = predictor.snapshot(signal, signal, fs)
        stored = {"sensor": sensor, "t_end": t_end, "features": row.astype(np.float64).tobytes()}
        times, rows = self.merged([*pending, stored])[0][sensor]
        if len(times) < predictor.min_history or not np.isfinite(row).all():
            return stored, None
        time_s = np.asarray(times)
        unit = predictor.unit(sensor, time_s - time_s[0], np.stack(rows))
        return stored, rul_evidence(predictor.predict(unit), min(predictor.saved.levels))

    def merged(self, snapshots: list[dict]) -> tuple[dict[str, tuple[list[float], list[np.ndarray]]], list[tuple[str, float]]]:
        """The histories of the sensors in ``snapshots`` with them added and thinned, and the (sensor, t_end) thinned away."""
        histories: dict[str, tuple[list[float], list[np.ndarray]]] = {}
        for snap in snapshots:
            times, rows = histories.get(snap["sensor"]) or tuple(list(part) for part in self.history.get(snap["sensor"], ([], [])))
            histories[snap["sensor"]] = ([*times, snap["t_end"]], [*rows, np.frombuffer(snap["features"], dtype=np.float64)])
        gone: list[tuple[str, float]] = []
        for sensor, (times, rows) in histories.items():
            keep = thinned(len(times), self.config.rul_max_snapshots)
            if len(keep) < len(times):
                kept = set(keep.tolist())
                gone += [(sensor, t) for i, t in enumerate(times) if i not in kept]
                histories[sensor] = ([times[i] for i in keep], [rows[i] for i in keep])
        return histories, gone

    def commit(self, snapshots: list[dict]) -> None:
        self.history.update(self.merged(snapshots)[0])
