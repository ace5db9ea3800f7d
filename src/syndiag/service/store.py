"""Where every diagnosis goes (issue 18): one table through SQLAlchemy; SQLite in WAL mode by default (a crash leaves the
database intact), any SQLAlchemy URL (PostgreSQL for a plant-wide store) accepted. A window is stored once: (sensor,
t_end) is unique and a repeat (a payload redelivered after a crash) is ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, create_engine, event, func, insert, select

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
    Index("one_diagnosis_per_window", "sensor", "t_end", unique=True),
)


class Store:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _wal(connection, _record) -> None:  # noqa: ANN001
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()
        metadata.create_all(self.engine)

    def add(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as connection:
                connection.execute(self._insert_once(), rows)

    def _insert_once(self):
        """INSERT that skips a window already stored (SQLite and PostgreSQL: ON CONFLICT DO NOTHING)."""
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            return insert(diagnoses)
        return dialect_insert(diagnoses).on_conflict_do_nothing(index_elements=["sensor", "t_end"])

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
