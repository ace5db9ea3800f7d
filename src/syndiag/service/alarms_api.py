"""The alarms and health states over HTTP (issue 33): ``GET /api/states`` (each sensor's and machine's state),
``GET /api/alarms`` (the newest alarms with their acknowledgement, comments and deliveries, and the counts),
``POST /api/alarms/<id>/ack`` and ``POST /api/alarms/<id>/comments``, which need a user's token
(``Authorization: Bearer <token>``, its sha256 in ``alarms.users``); who and when are stored with each.

Refused and counted, each named in the log and the answer: an unknown or missing token (401, ``auth_refused``), an
alarm acknowledged again (409 with who acknowledged it first and when, ``acks_repeated``; the first stays), an alarm
that does not exist (404, ``acks_unknown_alarm``)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

from fastapi import Body, FastAPI, HTTPException, Request

from syndiag.service.alarm_store import acknowledge, add_comment, delivery_counts, listed, open_counts
from syndiag.service.pipeline import ALARM_COUNTERS, Pipeline

log = logging.getLogger(__name__)
MAX_TEXT = 2000


def user_of(pipeline: Pipeline, request: Request) -> str:
    """The user whose token the request carries; 401 (counted, logged) otherwise."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    found = None
    for name, known in pipeline.config.alarms.users.items():
        if hmac.compare_digest(digest, known) and token:
            found = name
    if found is None:
        pipeline.count("auth_refused")
        log.warning("%s %s refused: %s token (from %s)", request.method, request.url.path[:200], "an unknown" if token else "no",
                    request.client.host if request.client else "?")
        raise HTTPException(401, "a known user's token is needed: Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    return found


def _text(body: dict | None, key: str, required: bool) -> str:
    value = (body or {}).get(key, "")
    if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value.strip()):
        raise HTTPException(422, f"'{key}': {'a text' if required else 'an optional text'} of at most {MAX_TEXT} characters")
    return value


def add_alarm_routes(app: FastAPI, pipeline: Pipeline, deliveries=None) -> None:  # noqa: ANN001
    """The routes above on ``app``; ``deliveries`` (service/alarms.Deliveries) names the targets failing now."""

    def counts() -> dict:
        snapshot = pipeline.snapshot()
        return {**{name: snapshot[name] for name in ALARM_COUNTERS}, **delivery_counts(pipeline.store.engine),
                "failing": dict(deliveries.problems) if deliveries is not None else {}}

    @app.get("/api/states")
    def states() -> dict:
        if pipeline.tracker is None:
            return {"sensors": {}, "machines": {}, "enabled": False}
        return {**pipeline.tracker.snapshot(), "enabled": True}

    @app.get("/api/alarms")
    def alarms(sensor: str | None = None, open: bool = False, limit: int = 200) -> dict:  # noqa: A002
        return {"alarms": listed(pipeline.store.engine, sensor, open, max(1, min(limit, 2000))), "counts": counts()}

    @app.get("/api/alarms/open")
    def open_alarms() -> dict:
        return {"sensors": open_counts(pipeline.store.engine)}

    @app.post("/api/alarms/{alarm}/ack")
    def ack(alarm: str, request: Request, body: dict | None = Body(None)) -> dict:
        who = user_of(pipeline, request)
        comment = _text(body, "comment", False)
        outcome, found = acknowledge(pipeline.store.engine, alarm[:64], who, time.time(), comment)
        if outcome == "missing":
            pipeline.count("acks_unknown_alarm")
            log.warning("%s acknowledged alarm %r, which does not exist", who, alarm[:64])
            raise HTTPException(404, f"no alarm {alarm[:64]!r}")
        if outcome == "repeated":
            pipeline.count("acks_repeated")
            log.warning("%s acknowledged alarm %s again: %s did at %.3f", who, alarm, found["acked_by"], found["acked_at"])
            raise HTTPException(409, {"message": f"alarm {alarm} was acknowledged already", "acked_by": found["acked_by"],
                                      "acked_at": found["acked_at"]})
        pipeline.count("acks")
        log.info("%s acknowledged alarm %s", who, alarm)
        return found

    @app.post("/api/alarms/{alarm}/comments", status_code=201)
    def comment(alarm: str, request: Request, body: dict | None = Body(None)) -> dict:
        who = user_of(pipeline, request)
        text = _text(body, "text", True)
        if not add_comment(pipeline.store.engine, alarm[:64], who, time.time(), text):
            pipeline.count("acks_unknown_alarm")
            raise HTTPException(404, f"no alarm {alarm[:64]!r}")
        pipeline.count("comments")
        return {"alarm": alarm, "who": who, "text": text}
