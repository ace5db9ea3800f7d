"""The HTTP side of ``syndiag serve`` (issue 18): ``POST /diagnose`` (a window or recording file, the same findings as
``syndiag diagnose``), ``/health``, ``/metrics`` (Prometheus), ``/api/sensors`` (latest diagnosis per sensor), ``/`` a
dashboard page that refreshes itself."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse

from syndiag.errors import SyndiagError
from syndiag.service.pipeline import Pipeline

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
SUFFIXES = (".mat", ".csv", ".npy", ".npz")

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>syndiag live</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px}</style>
</head><body><h1>syndiag: live diagnoses</h1><p id="counts">loading</p><table><thead><tr><th>sensor</th><th>fault</th>
<th>probability</th><th>window end</th><th>latency ms</th></tr></thead><tbody id="rows"></tbody></table>
<script>
async function refresh(){const s=await (await fetch('api/sensors')).json();
document.getElementById('rows').innerHTML=s.sensors.map(r=>`<tr><td>${r.sensor}</td><td>${r.label}</td><td>${r.probability.toFixed(3)}</td>`+
`<td>${new Date(r.t_end*1000).toISOString()}</td><td>${r.latency_ms.toFixed(1)}</td></tr>`).join('');
document.getElementById('counts').textContent=`${s.sensors.length} sensors; windows in ${s.counts.windows_in||0}, diagnosed ${s.counts.diagnosed||0}, dropped ${s.counts.dropped_queue_full||0}`;}
refresh();setInterval(refresh,2000);
</script></body></html>"""


def create_app(pipeline: Pipeline, checkpoint: Path) -> FastAPI:
    app = FastAPI(title="syndiag", docs_url="/docs")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "sensors": len(pipeline.buffers), "checkpoint": str(checkpoint)}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        return pipeline.metrics()

    @app.get("/api/sensors")
    def sensors() -> dict:
        return {"sensors": pipeline.store.latest(), "counts": pipeline.snapshot()}

    @app.get("/", response_class=HTMLResponse)
    def dashboard() -> str:
        return PAGE

    @app.post("/diagnose")
    async def diagnose(file: UploadFile, fs: float | None = None) -> dict:
        from syndiag.workflows.inference import diagnose_file

        suffix = Path(file.filename or "").suffix.lower()
        if suffix not in SUFFIXES:
            raise HTTPException(400, f"file {html.escape(file.filename or '')!r}: give a {', '.join(SUFFIXES)} recording or window file")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
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
