"""Where every window's fate goes (issues 18 and 27): through SQLAlchemy, SQLite in WAL mode by default (a crash leaves
the database intact), any SQLAlchemy URL (PostgreSQL for a plant-wide store) accepted.

A window is identified by (sensor, t_end) and has one fate: a row of ``diagnoses`` or a row of ``dropped_windows`` with
its reason; a repeat (a payload redelivered after a crash) is ignored, and a window stored after it was dropped in an
earlier run loses its drop row. ``counters`` holds each service's counters (``client_id``), written in the same
transaction as the fates, so they survive a restart. A SQLite file deleted while serving is noticed at the next write:
the store is made anew, the loss is logged, counted (``store_recreated``) and shown by ``/health``."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (Boolean, Column, Float, Index, Integer, MetaData, String, Table, create_engine, delete, event, func, insert,
                        inspect, select, text, tuple_)

from syndiag.service.alarm_store import alarm_metadata, write_update
from syndiag.service.raw_store import raw_metadata

log = logging.getLogger(__name__)
metadata = MetaData()
diagnoses = Table(
    "diagnoses", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sensor", String(200), nullable=False, index=True),  # site/machine/sensor
    Column("t_end", Float, nullable=False),  # the window's last sample, the sensor's clock (s)
    Column("label", String(100), nullable=False),
    Column("probability", Float, nullable=False),
    Column("rms", Float, nullable=False),  # the window's RMS: a health indicator beside the class
    Column("unknown", Boolean, nullable=True),
    Column("latency_ms", Float, nullable=False),  # the window's last sample arriving -> stored
    Column("stored_at", Float, nullable=False),
    Column("velocity_mm_s", Float, nullable=True),  # the health state's evidence (issue 33): ISO RMS velocity, anomaly ratio
    Column("anomaly_ratio", Float, nullable=True),
    Column("rul_h", Float, nullable=True),  # the RUL estimate (h) of a degrading unit (service/rul_live.py)
    Column("rul_bound_h", Float, nullable=True),  # its interval's low end; before the onset, the RUL it exceeds ("at least")
    Index("one_diagnosis_per_window", "sensor", "t_end", unique=True),
)
dropped_windows = Table(
    "dropped_windows", metadata,
    Column("sensor", String(200), nullable=False),
    Column("t_end", Float, nullable=False),
    Column("reason", String(40), nullable=False),  # queue_full, store_failed, model_failed, incomplete, non_finite_output
    Index("one_drop_per_window", "sensor", "t_end", unique=True),
)
counters = Table(
    "counters", metadata,
    Column("service", String(64), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("value", Integer, nullable=False),
)


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
        self.recreated = 0
        self._open()

    def _open(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _wal(connection, _record) -> None:  # noqa: ANN001
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()
        metadata.create_all(self.engine)
        alarm_metadata.create_all(self.engine)  # health states, baselines, alarms, their notes and the outbox (issue 33)
        raw_metadata.create_all(self.engine)  # the raw clips around alarms and the snapshots (issue 33)
        with self.engine.begin() as connection:  # a store made before the health evidence was kept gets its columns
            held = {c["name"] for c in inspect(connection).get_columns("diagnoses")}
            for name in ("velocity_mm_s", "anomaly_ratio", "rul_h", "rul_bound_h"):
                if name not in held:
                    connection.execute(text(f"ALTER TABLE diagnoses ADD COLUMN {name} FLOAT"))
        self.inode = self._inode()

    def _inode(self) -> int | None:
        try:
            return None if self.path is None else os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def file_problem(self) -> str | None:
        """What is wrong with the SQLite file now (deleted or replaced), without mending it; None when nothing is."""
        if self.path is None or self._inode() == self.inode:
            return None
        return f"the database file {self.path} was deleted or replaced while serving"

    def check_file(self) -> str | None:
        """None while the SQLite file is the one opened; else (deleted or replaced) the store is made anew and the problem named."""
        if self.path is None or self._inode() == self.inode:
            return None
        self.engine.dispose()
        self._open()
        self.recreated += 1
        problem = f"the database file {self.path} was deleted or replaced while serving: a new one was made; earlier diagnoses are gone"
        log.error(problem)
        return problem

    def used_bytes(self) -> int:
        """The store's size: SQLite's pages in use (freed pages are reused before the file grows), PostgreSQL's database."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "sqlite":
                pages = connection.execute(text("PRAGMA page_count")).scalar_one() - connection.execute(text("PRAGMA freelist_count")).scalar_one()
                return int(pages * connection.execute(text("PRAGMA page_size")).scalar_one())
            return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _dialect_insert(self, table: Table, keys: list[str]):
        """INSERT that skips a row whose unique key exists (SQLite and PostgreSQL: ON CONFLICT DO NOTHING)."""
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # defers the dialect: only the engine's own is imported
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert  # defers the dialect, as above
        else:
            return insert(table)
        return dialect_insert(table).on_conflict_do_nothing(index_elements=keys)

    def record(self, rows: list[dict[str, Any]], drops: list[tuple[str, float, str]] = (), service: str | None = None,
               counts: dict[str, int] | None = None, health=None) -> int:  # noqa: ANN001
        """Store diagnoses, drops and the service's counters in one transaction; returns how many diagnoses were new.
        ``counts`` are written with this call's new and repeated diagnoses added (``diagnosed``, ``duplicate``), so the
        stored counters never lag the stored rows. ``health`` (a HealthUpdate and its delivery targets) is written in the
        same transaction: the sensors' states, new baselines, alarms and their outbox rows (its ``stored_alarms`` set)."""
        new = 0
        with self.engine.begin() as connection:
            statement = self._dialect_insert(diagnoses, ["sensor", "t_end"]).returning(diagnoses.c.id)
            for row in rows:
                new += len(connection.execute(statement, row).all())
            if rows:
                keys = [(row["sensor"], row["t_end"]) for row in rows]
                connection.execute(delete(dropped_windows).where(tuple_(dropped_windows.c.sensor, dropped_windows.c.t_end).in_(keys)))
            if drops:
                keys = [(s, t) for s, t, _ in drops]
                kept = set(connection.execute(select(diagnoses.c.sensor, diagnoses.c.t_end)
                                              .where(tuple_(diagnoses.c.sensor, diagnoses.c.t_end).in_(keys))).all())
                statement = self._dialect_insert(dropped_windows, ["sensor", "t_end"])
                for sensor, t_end, reason in drops:
                    if (sensor, t_end) not in kept:
                        connection.execute(statement, {"sensor": sensor, "t_end": t_end, "reason": reason})
            if health is not None:
                update, targets = health
                states, fitted = update.rows()
                update.stored_alarms = write_update(connection, self._dialect_insert, states, fitted, update.raised, targets, time.time(),
                                                    update.snapshots, update.thinned)
                if counts is not None:
                    counts = {**counts, "alarms": counts.get("alarms", 0) + update.stored_alarms}
            if service is not None and counts:
                counts = {**counts, "diagnosed": counts.get("diagnosed", 0) + new, "duplicate": counts.get("duplicate", 0) + len(rows) - new}
                connection.execute(delete(counters).where(counters.c.service == service))
                connection.execute(insert(counters), [{"service": service, "name": k, "value": int(v)} for k, v in counts.items()])
        return new

    def counters_of(self, service: str) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {name: value for name, value in connection.execute(select(counters.c.name, counters.c.value)
                                                                      .where(counters.c.service == service))}

    def fates(self) -> dict[str, int]:
        """Windows by fate over the whole store: ``stored`` and each drop reason."""
        with self.engine.connect() as connection:
            found = {"stored": int(connection.execute(select(func.count()).select_from(diagnoses)).scalar_one())}
            found.update({reason: int(n) for reason, n in connection.execute(
                select(dropped_windows.c.reason, func.count()).group_by(dropped_windows.c.reason))})
        return found

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(diagnoses)).scalar_one())

    def latest(self, site: str | None = None) -> list[dict[str, Any]]:
        """The newest diagnosis of every sensor (of ``site`` only when given)."""
        newest = select(diagnoses.c.sensor, func.max(diagnoses.c.id).label("id")).group_by(diagnoses.c.sensor)
        if site:
            newest = newest.where(diagnoses.c.sensor.startswith(site + "/", autoescape=True))
        newest = newest.subquery()
        query = select(diagnoses).join(newest, diagnoses.c.id == newest.c.id).order_by(diagnoses.c.sensor)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def history(self, sensor: str, limit: int = 600) -> list[dict[str, Any]]:
        query = select(diagnoses).where(diagnoses.c.sensor == sensor).order_by(diagnoses.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)][::-1]
