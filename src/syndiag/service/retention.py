"""Retention by age and size (issue 33): diagnoses older than each tier's ``after_s`` rolled up into one row per sensor
per ``every_s`` (count, the most frequent label, min/mean/max of the probability, RMS, RMS velocity and anomaly ratio,
unknown verdicts), then those rows into the next tier's; rows, roll-ups, dropped-window rows and snapshots older
than ``max_age_s`` deleted, alarm clips older than ``alarm_raw_max_age_s``; then, while the store is larger than
``max_bytes``, the oldest of what matters least goes first (snapshots, dropped-window rows, roll-ups, diagnoses,
alarm clips last).

Ages are on the sensors' clock (a row's window end against ``now``, Unix seconds as the payloads' ``t0``), and a row
goes only once it has also been stored that long (its ``stored_at``, wall clock): a sensor whose clock lags loses
nothing before its time. Each transaction holds one sensor's rows of an
aligned span (at most ``batch_rows``), so a pass runs beside ingestion: the worker's writes wait for one short
transaction at most. A bucket rolled up again (late rows) is merged with the row already there."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import Column, Float, Index, Integer, MetaData, String, Table, and_, delete, func, insert, inspect, select, text

from syndiag.config.service import RetentionConfig
from syndiag.service.raw_store import raw_segments
from syndiag.service.store import Store, diagnoses, dropped_windows

rollup_metadata = MetaData()
SCORES = ("probability", "rms", "velocity_mm_s", "anomaly_ratio", "rul_h", "rul_bound_h")
rollups = Table(
    "diagnoses_rollup", rollup_metadata,
    Column("sensor", String(200), nullable=False),
    Column("t_start", Float, nullable=False),  # the bucket's start, the sensors' clock (s)
    Column("span_s", Float, nullable=False),
    Column("n", Integer, nullable=False),
    Column("label", String(100), nullable=False), Column("label_n", Integer, nullable=False),
    Column("unknown_n", Integer, nullable=False),
    Column("stored_at", Float, nullable=False),  # the latest of its rows' (wall clock)
    *(Column(f"{score}_{stat}", Float, nullable=True) for score in SCORES for stat in ("min", "mean", "max")),
    Index("one_rollup_per_bucket", "span_s", "sensor", "t_start", unique=True),
)


def partials_of_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Diagnoses as one-row aggregates (what a roll-up merges)."""
    found = []
    for row in rows:
        part = {"sensor": row["sensor"], "t": row["t_end"], "n": 1, "labels": Counter({row["label"]: 1}), "unknown_n": int(bool(row["unknown"])),
                "stored_at": row["stored_at"]}
        for score in SCORES:
            value = row.get(score)
            part.update({f"{score}_min": value, f"{score}_mean": value, f"{score}_max": value})
        found.append(part)
    return found


def partials_of_rollups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "t": row["t_start"], "labels": Counter({row["label"]: row["label_n"]})} for row in rows]


def merged(parts: list[dict[str, Any]], sensor: str, t_start: float, span_s: float) -> dict[str, Any]:
    """One roll-up row of partial aggregates: counts summed, minima and maxima of theirs, means weighted by their counts."""
    labels = sum((p["labels"] for p in parts), Counter())
    label, label_n = labels.most_common(1)[0]
    row = {"sensor": sensor, "t_start": t_start, "span_s": span_s, "n": sum(p["n"] for p in parts), "label": label, "label_n": label_n,
           "unknown_n": sum(p["unknown_n"] for p in parts), "stored_at": max(p["stored_at"] for p in parts)}
    for score in SCORES:
        held = [p for p in parts if p[f"{score}_mean"] is not None]
        weights = np.array([p["n"] for p in held], dtype=np.float64)
        row[f"{score}_min"] = min((p[f"{score}_min"] for p in held), default=None)
        row[f"{score}_max"] = max((p[f"{score}_max"] for p in held), default=None)
        row[f"{score}_mean"] = float(np.dot(weights, [p[f"{score}_mean"] for p in held]) / weights.sum()) if held else None
    return row


class Retention:
    """The passes over one store; ``count`` (a counter name, how many) adds to the service's counters."""

    def __init__(self, store: Store, config: RetentionConfig, count=lambda name, n=1: None) -> None:  # noqa: ANN001
        self.store, self.config, self.count = store, config, count
        rollup_metadata.create_all(store.engine)
        with store.engine.begin() as connection:  # roll-ups made before a score was kept get its columns
            held = {c["name"] for c in inspect(connection).get_columns(rollups.name)}
            for column in rollups.columns:
                if column.name not in held:
                    connection.execute(text(f"ALTER TABLE {rollups.name} ADD COLUMN {column.name} FLOAT"))

    def run(self, now: float) -> dict[str, int]:
        """One pass at ``now`` (the sensors' clock): roll-ups, ages, size. Returns what it did."""
        done = Counter()
        source = None
        for tier in self.config.tiers:
            done["rolled_up"] += self._roll(source, tier.every_s, now - tier.after_s, now - tier.after_s)
            source = tier.every_s
        done["deleted"] += self._expire(now)
        done["deleted_for_size"] = self._shrink()
        for name, n in done.items():
            if n:
                self.count(f"retention_{name}", n)
        self.count("retention_passes")
        return dict(done)

    def _roll(self, source: float | None, every: float, cutoff: float, stored_before: float) -> int:
        """Roll the rows of ``source`` (None: the diagnoses; else the roll-ups of that span) older than the last whole
        bucket before ``cutoff`` and stored before ``stored_before`` into buckets of ``every`` seconds, one sensor and
        aligned span per transaction."""
        limit = math.floor(cutoff / every) * every
        table, time = (diagnoses, diagnoses.c.t_end) if source is None else (rollups, rollups.c.t_start)
        where = [time < limit, table.c.stored_at < stored_before] + ([] if source is None else [rollups.c.span_s == source])
        rolled = 0
        with self.store.engine.connect() as connection:
            oldest = dict(connection.execute(select(table.c.sensor, func.min(time)).where(*where).group_by(table.c.sensor)).all())
        per_row = 1.0 if source is None else source
        span = max(every, math.floor(self.config.batch_rows * per_row / every) * every)  # about batch_rows source rows (one a second)
        for sensor, first in oldest.items():
            start = math.floor(first / every) * every
            while start < limit:
                stop = min(start + span, limit)
                rolled += self._roll_span(source, every, sensor, start, stop, stored_before)
                start = stop
        return rolled

    def _roll_span(self, source: float | None, every: float, sensor: str, start: float, stop: float, stored_before: float) -> int:
        with self.store.engine.begin() as connection:
            if source is None:
                chosen = and_(diagnoses.c.sensor == sensor, diagnoses.c.t_end >= start, diagnoses.c.t_end < stop,
                              diagnoses.c.stored_at < stored_before)
                parts = partials_of_rows([dict(r._mapping) for r in connection.execute(select(diagnoses).where(chosen))])
                connection.execute(delete(diagnoses).where(chosen))
            else:
                chosen = and_(rollups.c.span_s == source, rollups.c.sensor == sensor, rollups.c.t_start >= start, rollups.c.t_start < stop,
                              rollups.c.stored_at < stored_before)
                parts = partials_of_rollups([dict(r._mapping) for r in connection.execute(select(rollups).where(chosen))])
                connection.execute(delete(rollups).where(chosen))
            if not parts:
                return 0
            buckets: dict[float, list] = {}
            for part in parts:
                buckets.setdefault(math.floor(part["t"] / every) * every, []).append(part)
            there = and_(rollups.c.span_s == every, rollups.c.sensor == sensor, rollups.c.t_start >= start, rollups.c.t_start < stop)
            for row in connection.execute(select(rollups).where(there)):  # rows rolled up before: merged with the late ones
                buckets.setdefault(row.t_start, []).extend(partials_of_rollups([dict(row._mapping)]))
            connection.execute(delete(rollups).where(there))
            connection.execute(insert(rollups), [merged(found, sensor, t, every) for t, found in sorted(buckets.items())])
        return len(parts)

    def _expire(self, now: float) -> int:
        c = self.config
        old = now - c.max_age_s
        alarms_old = now - c.alarm_raw_max_age_s
        rules = [(diagnoses, and_(diagnoses.c.t_end < old, diagnoses.c.stored_at < old)), (dropped_windows, dropped_windows.c.t_end < old),
                 (rollups, and_(rollups.c.t_start + rollups.c.span_s <= old, rollups.c.stored_at < old)),
                 (raw_segments, and_(raw_segments.c.kind == "snapshot", raw_segments.c.t0 < old, raw_segments.c.stored_at < old)),
                 (raw_segments, and_(raw_segments.c.kind == "alarm", raw_segments.c.t0 < alarms_old, raw_segments.c.stored_at < alarms_old))]
        deleted = 0
        with self.store.engine.begin() as connection:
            for table, where in rules:
                deleted += connection.execute(delete(table).where(where)).rowcount or 0
        return deleted

    def _shrink(self) -> int:
        """While the store is larger than ``max_bytes``: the oldest ``batch_rows`` of what matters least, deleted."""
        order = [(raw_segments, [raw_segments.c.kind == "snapshot"], raw_segments.c.t0), (dropped_windows, [], dropped_windows.c.t_end),
                 (rollups, [], rollups.c.t_start), (diagnoses, [], diagnoses.c.t_end),
                 (raw_segments, [raw_segments.c.kind == "alarm"], raw_segments.c.t0)]
        deleted = 0
        for table, where, age in order:
            while self.store.used_bytes() > self.config.max_bytes:
                with self.store.engine.begin() as connection:
                    edge = connection.execute(select(age).where(*where).order_by(age).limit(1).offset(self.config.batch_rows - 1)).scalar()
                    if edge is None:
                        edge = connection.execute(select(func.max(age)).where(*where)).scalar()
                    if edge is None:
                        break
                    deleted += connection.execute(delete(table).where(*where, age <= edge)).rowcount or 0
        return deleted

    def storage(self) -> dict[str, Any]:
        """What the store holds now: its size, rows per table, raw segments and bytes by kind."""
        with self.store.engine.connect() as connection:
            rows = {t.name: int(connection.execute(select(func.count()).select_from(t)).scalar_one())
                    for t in (diagnoses, rollups, dropped_windows, raw_segments)}
            raw = {kind: {"segments": int(n), "bytes": int(b or 0)} for kind, n, b in connection.execute(
                select(raw_segments.c.kind, func.count(), func.sum(raw_segments.c.bytes)).group_by(raw_segments.c.kind))}
        return {"used_bytes": self.store.used_bytes(), "max_bytes": self.config.max_bytes, "rows": rows, "raw": raw}
