"""What ``/health`` says (issue 27): the running service's checks and the store's, asked now."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from syndiag.service.pipeline import Pipeline


def store_health(pipeline: Pipeline, checks: dict[str, str]) -> dict:
    """/health's answer: each check, the store's (it is asked now), and status ok or degraded (with the problems named)."""
    try:
        pipeline.store.ping()
        store = pipeline.store.file_problem() or pipeline.store_problem or pipeline.store_warning or "ok"
    except SQLAlchemyError as exc:
        store = f"unreachable: {str(exc).splitlines()[0][:200]}"
    checks = {**checks, "store": store}
    bad = {k: v for k, v in checks.items() if v not in ("ok", "running", "connected")}
    return {"status": "degraded" if bad else "ok", "checks": checks, "problems": bad}
