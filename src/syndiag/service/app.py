"""The HTTP side of ``syndiag serve`` (issue 18): ``POST /diagnose`` (a window or recording file, the same findings as
``syndiag diagnose``), ``/health``, ``/metrics`` (Prometheus), ``/api/sensors`` (latest diagnosis per sensor, of a site),
``/api/history`` (a sensor's trend), the health states and alarms (service/alarms_api.py), what is kept (service/storage_api.py), ``/report/<site>/<machine>/<sensor>`` (its report now, HTML), and the dashboard
(plant ``/``, ``/site/<site>``, machine ``/machine/<site>/<machine>``, sensor ``/sensor/<site>/<machine>/<sensor>``: static
HTML + vendored uPlot). Every response carries a Content-Security-Policy that allows
no inline script and no other origin; ``/diagnose`` runs in a worker thread, never in the event loop."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from collections.abc import Callable

from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from syndiag.errors import SyndiagError
from syndiag.service.alarms_api import add_alarm_routes
from syndiag.service.health import store_health
from syndiag.service.live_report import live_report
from syndiag.service.pipeline import Pipeline
from syndiag.service.storage_api import add_storage_routes
from syndiag.workflows.inference import diagnose_file

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
SUFFIXES = (".mat", ".csv", ".npy", ".npz")

STATIC = Path(__file__).with_name("static")
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def create_app(pipeline: Pipeline | None, checkpoint: Path | None, cloud=None, health: Callable[[], dict] | None = None,
               deliveries=None, keeper=None) -> FastAPI:  # noqa: ANN001
    """The edge's app (``pipeline``: sensors, states, alarms, dashboard, /diagnose) and/or the cloud's head routes (``cloud``:
    its RunConfig); ``health`` (the running service's checks) answers /health, which is 503 when degraded; ``deliveries``
    (the alarm delivery threads) name the alarm targets failing now; ``keeper`` (raw clips, retention) answers /api/storage."""
    app = FastAPI(title="syndiag", docs_url="/docs")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        if not request.url.path.startswith("/docs"):
            response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/health")
    def health_route() -> JSONResponse:
        found = health() if health is not None else (store_health(pipeline, {}) if pipeline is not None else {"status": "ok", "checks": {}})
        body = {**found, "sensors": 0 if pipeline is None else len(pipeline.buffers),
                "checkpoint": None if checkpoint is None else str(checkpoint), "heads": cloud is not None}
        return JSONResponse(body, status_code=200 if found["status"] == "ok" else 503)

    if cloud is not None:
        from syndiag.service.heads_api import add_head_routes  # defers torch: only a cloud service exchanges heads

        add_head_routes(app, cloud)
    if pipeline is None:
        return app
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_alarm_routes(app, pipeline, deliveries)
    add_storage_routes(app, pipeline, keeper)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return pipeline.metrics()

    @app.get("/api/sensors")
    def sensors(site: str | None = None) -> dict:
        found = pipeline.store.latest(site)
        if pipeline.tracker is not None:
            states = pipeline.tracker.snapshot()
            for row in found:
                row["state"] = states["sensors"].get(row["sensor"], {}).get("state")
                row["machine_state"] = states["machines"].get(row["sensor"].rsplit("/", 1)[0])
        return {"sensors": found, "counts": pipeline.snapshot()}

    @app.get("/api/history")
    def history(sensor: str, limit: int = 600) -> list[dict]:
        return pipeline.store.history(sensor, max(1, min(limit, 5000)))

    @app.get("/report/{sensor:path}", response_class=HTMLResponse)
    def report(sensor: str) -> str:
        try:
            return live_report(pipeline, sensor)
        except KeyError:
            raise HTTPException(404, f"no signal from sensor {html.escape(sensor)!r}") from None
        except SyndiagError as exc:
            raise HTTPException(409, html.escape(str(exc))) from None

    @app.get("/")
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html")

    @app.get("/site/{site}")
    def site_page(site: str) -> FileResponse:
        return FileResponse(STATIC / "dashboard.html")

    @app.get("/machine/{site}/{machine}")
    def machine_page(site: str, machine: str) -> FileResponse:
        return FileResponse(STATIC / "dashboard.html")

    @app.get("/sensor/{site}/{machine}/{sensor}")
    def sensor_page(site: str, machine: str, sensor: str) -> FileResponse:
        return FileResponse(STATIC / "dashboard.html")

    @app.post("/diagnose")
    def diagnose(file: UploadFile, fs: float | None = None) -> dict:
        suffix = Path(file.filename or "").suffix.lower()
        if suffix not in SUFFIXES:
            raise HTTPException(400, f"file {html.escape(file.filename or '')!r}: give a {', '.join(SUFFIXES)} recording or window file")
        data = file.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"file larger than {MAX_UPLOAD_BYTES} bytes")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ("upload" + suffix)
            path.write_bytes(data)
            try:
                return {**diagnose_file(path, checkpoint, fs).to_dict(), "source": file.filename}
            except SyndiagError as exc:
                raise HTTPException(422, str(exc).replace(str(path), file.filename or "upload")) from None

    return app
