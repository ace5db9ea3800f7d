"""What the service keeps, over HTTP (issue 33, bounded storage): ``GET /api/storage`` (the store's size against
``retention.max_bytes``, rows per table, raw segments and bytes by kind, the last retention pass), ``GET /api/raw``
(the raw clips around alarms and the snapshots of a sensor or an alarm, newest first) and ``GET /api/raw/<id>`` (one
segment: its samples as float32 little-endian bytes, with its start, rate and stream in headers)."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Response
from sqlalchemy import or_, select

from syndiag.service.keeper import Keeper
from syndiag.service.pipeline import Pipeline
from syndiag.service.raw_store import decode_raw, raw_segments

LISTED = [c for c in raw_segments.c if c.name != "data"]


def add_storage_routes(app: FastAPI, pipeline: Pipeline, keeper: Keeper | None) -> None:
    @app.get("/api/storage")
    def storage() -> dict:
        if keeper is None:
            return {"retention": "off", "used_bytes": pipeline.store.used_bytes()}
        return {**keeper.retention.storage(), "last_pass": keeper.last_pass,
                "waiting": 0 if keeper.capture is None else keeper.capture.waiting()}

    @app.get("/api/raw")
    def raw(sensor: str | None = None, alarm: str | None = None, kind: str | None = None, limit: int = 100) -> list[dict]:
        query = select(*LISTED).order_by(raw_segments.c.t0.desc(), raw_segments.c.id).limit(max(1, min(limit, 1000)))
        if sensor:
            query = query.where(or_(raw_segments.c.sensor == sensor, raw_segments.c.stream == sensor))
        if alarm:
            query = query.where(raw_segments.c.alarm_id == alarm)
        if kind:
            query = query.where(raw_segments.c.kind == kind)
        with pipeline.store.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    @app.get("/api/raw/{segment}")
    def raw_samples(segment: int) -> Response:
        with pipeline.store.engine.connect() as connection:
            row = connection.execute(select(raw_segments).where(raw_segments.c.id == segment)).first()
        if row is None:
            raise HTTPException(404, f"no raw segment {segment}")
        samples = decode_raw(row.data)
        return Response(samples.astype("<f4").tobytes(), media_type="application/octet-stream",
                        headers={"X-Syndiag-Stream": row.stream, "X-Syndiag-T0": repr(row.t0), "X-Syndiag-Fs": repr(row.fs),
                                 "X-Syndiag-Kind": row.kind})
