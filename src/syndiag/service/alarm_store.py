"""Where health states and alarms are kept (issue 33), beside the diagnoses (service/store.py) in the same database:
each sensor's state, anomaly baseline and RUL snapshots, every alarm (a change of a sensor's state) with who acknowledged it and when,
the comments, and the outbox (one row per alarm and delivery target, its attempts and when it was delivered).

An alarm's id is derived from the window that raised it (sensor, window end, new level), and the states, alarms and
outbox rows are written in the diagnoses' own transaction: a window processed twice (a payload redelivered after a
kill -9) raises its alarm once, and an alarm stored is delivered, since delivery reads the outbox, which a restart keeps."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, and_, delete, func, insert, select, tuple_, update

alarm_metadata = MetaData()
health_states = Table(
    "health_states", alarm_metadata,
    Column("sensor", String(200), primary_key=True),
    Column("level", Integer, nullable=False),
    Column("since", Float), Column("last_t_end", Float),
    Column("rising", Integer, nullable=False), Column("rising_to", Integer, nullable=False),
    Column("falling", Integer, nullable=False), Column("falling_to", Integer, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON: evidence -> level it read
    Column("evidence", Text, nullable=False),  # JSON: the latest window's evidence
    Column("updated_at", Float, nullable=False),
)
baselines = Table(
    "baselines", alarm_metadata,
    Column("sensor", String(200), primary_key=True),
    Column("windows", Integer, nullable=False),
    Column("model", Text, nullable=False),  # JSON: means, precision of the healthy features
    Column("threshold", Float, nullable=False),
    Column("fitted_at", Float, nullable=False),
)
alarms = Table(
    "alarms", alarm_metadata,
    Column("id", String(40), primary_key=True),
    Column("sensor", String(200), nullable=False, index=True),
    Column("level", String(10), nullable=False),  # the sensor's new state: ok (cleared), watch, alarm
    Column("previous", String(10), nullable=False),
    Column("t_end", Float, nullable=False),  # the window that changed the state (the sensor's clock)
    Column("reasons", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("arrived_at", Float, nullable=False),  # wall time the window's last sample arrived
    Column("raised_at", Float, nullable=False),  # wall time the alarm was stored
    Column("acked_by", String(64)), Column("acked_at", Float),
)
alarm_notes = Table(
    "alarm_notes", alarm_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", String(40), nullable=False, index=True),
    Column("kind", String(10), nullable=False),  # ack or comment
    Column("who", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("text", Text, nullable=False),
)
outbox = Table(
    "outbox", alarm_metadata,
    Column("alarm_id", String(40), primary_key=True),
    Column("target", String(80), primary_key=True),  # mqtt, or webhook:<name>
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("last_error", Text),
)
rul_snapshots = Table(
    "rul_snapshots", alarm_metadata,
    Column("sensor", String(200), primary_key=True),
    Column("t_end", Float, primary_key=True),
    Column("features", LargeBinary, nullable=False),  # float64 health features of the snapshot (service/rul_live.py)
)
JSON_FIELDS = ("reasons", "evidence")


def alarm_id(sensor: str, t_end: float, level: str) -> str:
    """The id of the alarm raised by ``sensor``'s window ending at ``t_end`` (the same whichever time it is processed)."""
    return hashlib.sha256(f"{sensor}|{t_end!r}|{level}".encode()).hexdigest()[:24]


def write_update(connection, insert_skipping, states: dict[str, dict], fitted: dict[str, dict], raised: list[dict],
                 targets: list[str], now: float, snapshots: list[dict] = (), thinned: list[tuple[str, float]] = ()) -> int:
    """Within the caller's transaction: the sensors' states, new baselines, RUL snapshots (those thinned away deleted), new
    alarms and their outbox rows (one per target); an alarm already stored is skipped with its outbox rows. Returns how
    many alarms were new."""
    for snapshot in snapshots:
        connection.execute(insert_skipping(rul_snapshots, ["sensor", "t_end"]), snapshot)
    if thinned:
        connection.execute(delete(rul_snapshots).where(tuple_(rul_snapshots.c.sensor, rul_snapshots.c.t_end).in_(list(thinned))))
    if states:
        connection.execute(delete(health_states).where(health_states.c.sensor.in_(list(states))))
        connection.execute(insert(health_states), [{**row, "sensor": sensor, "updated_at": now} for sensor, row in states.items()])
    if fitted:
        connection.execute(delete(baselines).where(baselines.c.sensor.in_(list(fitted))))
        connection.execute(insert(baselines), [{**row, "sensor": sensor, "fitted_at": now} for sensor, row in fitted.items()])
    new = 0
    for alarm in raised:
        if not connection.execute(insert_skipping(alarms, ["id"]).returning(alarms.c.id), {**alarm, "raised_at": now}).all():
            continue
        new += 1
        for target in targets:
            connection.execute(insert_skipping(outbox, ["alarm_id", "target"]),
                               {"alarm_id": alarm["id"], "target": target, "attempts": 0, "next_at": now})
    return new


def _alarm(row) -> dict[str, Any]:  # noqa: ANN001
    found = dict(row._mapping)
    for name in JSON_FIELDS:
        found[name] = json.loads(found[name])
    return found


def load(engine) -> tuple[dict[str, dict], dict[str, dict], dict[str, list[tuple[float, bytes]]]]:  # noqa: ANN001
    """Every sensor's stored state, baseline and RUL snapshots (t_end, features)."""
    with engine.connect() as connection:
        states = {row.sensor: dict(row._mapping) for row in connection.execute(select(health_states))}
        fitted = {row.sensor: dict(row._mapping) for row in connection.execute(select(baselines))}
        snapshots: dict[str, list[tuple[float, bytes]]] = {}
        for row in connection.execute(select(rul_snapshots).order_by(rul_snapshots.c.sensor, rul_snapshots.c.t_end)):
            snapshots.setdefault(row.sensor, []).append((row.t_end, bytes(row.features)))
    return states, fitted, snapshots


def due(engine, target: str, now: float, limit: int = 50) -> list[tuple[dict, int]]:  # noqa: ANN001
    """Alarms waiting for ``target`` whose next attempt is due, oldest first, each with its attempts so far."""
    query = (select(alarms, outbox.c.attempts).join(outbox, outbox.c.alarm_id == alarms.c.id)
             .where(outbox.c.target == target, outbox.c.delivered_at.is_(None), outbox.c.next_at <= now)
             .order_by(alarms.c.raised_at, alarms.c.id).limit(limit))
    with engine.connect() as connection:
        return [({k: v for k, v in _alarm(row).items() if k != "attempts"}, row.attempts) for row in connection.execute(query)]


def next_due(engine, target: str) -> float | None:  # noqa: ANN001
    query = select(func.min(outbox.c.next_at)).where(outbox.c.target == target, outbox.c.delivered_at.is_(None))
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def mark(engine, alarm: str, target: str, attempts: int, delivered_at: float | None, next_at: float, error: str | None) -> None:  # noqa: ANN001
    """Record an attempt: delivered (``delivered_at``) or failed (``error``; a delivery keeps the last failure's error)."""
    values = {"attempts": attempts, "delivered_at": delivered_at, "next_at": next_at, **({"last_error": error} if error else {})}
    with engine.begin() as connection:
        connection.execute(update(outbox).where(outbox.c.alarm_id == alarm, outbox.c.target == target).values(**values))


def open_counts(engine) -> dict[str, int]:  # noqa: ANN001
    """Per sensor, its open alarms (not acknowledged, not a clearing)."""
    query = (select(alarms.c.sensor, func.count()).where(alarms.c.acked_by.is_(None), alarms.c.level != "ok").group_by(alarms.c.sensor))
    with engine.connect() as connection:
        return {sensor: int(n) for sensor, n in connection.execute(query)}


def listed(engine, sensor: str | None = None, open_only: bool = False, limit: int = 200) -> list[dict]:  # noqa: ANN001
    """The newest alarms (of ``sensor``; ``open_only``: not acknowledged and not a clearing), each with its notes and deliveries."""
    query = select(alarms).order_by(alarms.c.raised_at.desc(), alarms.c.id).limit(limit)
    if sensor:
        query = query.where(alarms.c.sensor == sensor)
    if open_only:
        query = query.where(alarms.c.acked_by.is_(None), alarms.c.level != "ok")
    with engine.connect() as connection:
        found = [_alarm(row) for row in connection.execute(query)]
        ids = [a["id"] for a in found]
        notes = connection.execute(select(alarm_notes).where(alarm_notes.c.alarm_id.in_(ids)).order_by(alarm_notes.c.id)).all()
        sent = connection.execute(select(outbox).where(outbox.c.alarm_id.in_(ids))).all()
    for alarm in found:
        alarm["notes"] = [{k: n._mapping[k] for k in ("kind", "who", "at", "text")} for n in notes if n.alarm_id == alarm["id"]]
        alarm["deliveries"] = {d.target: {"attempts": d.attempts, "delivered_at": d.delivered_at, "last_error": d.last_error}
                               for d in sent if d.alarm_id == alarm["id"]}
    return found


def acknowledge(engine, alarm: str, who: str, at: float, comment: str) -> tuple[str, dict | None]:  # noqa: ANN001
    """('acknowledged' | 'repeated' | 'missing', the alarm as stored): the first acknowledgement wins, a later one changes nothing."""
    with engine.begin() as connection:
        done = connection.execute(update(alarms).where(and_(alarms.c.id == alarm, alarms.c.acked_by.is_(None)))
                                  .values(acked_by=who, acked_at=at)).rowcount
        if done:
            connection.execute(insert(alarm_notes), {"alarm_id": alarm, "kind": "ack", "who": who, "at": at, "text": comment})
        row = connection.execute(select(alarms).where(alarms.c.id == alarm)).first()
    if row is None:
        return "missing", None
    return ("acknowledged" if done else "repeated"), _alarm(row)


def add_comment(engine, alarm: str, who: str, at: float, text: str) -> bool:  # noqa: ANN001
    """Store a comment on ``alarm``; False when there is no such alarm."""
    with engine.begin() as connection:
        if connection.execute(select(alarms.c.id).where(alarms.c.id == alarm)).first() is None:
            return False
        connection.execute(insert(alarm_notes), {"alarm_id": alarm, "kind": "comment", "who": who, "at": at, "text": text})
    return True


def delivery_counts(engine) -> dict[str, int]:  # noqa: ANN001
    """Outbox rows delivered and waiting, over the whole store."""
    with engine.connect() as connection:
        delivered = connection.execute(select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_not(None))).scalar_one()
        waiting = connection.execute(select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))).scalar_one()
    return {"delivered": int(delivered), "waiting": int(waiting)}
