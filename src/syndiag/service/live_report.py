"""The latest report of a live sensor (issues 18 and 20): the physical evidence of its buffered signal, its latest stored
diagnosis and the recommendation, as the report's self-contained HTML page. The text is the report's template (no
language model runs inside the service); the bearing and the shaft speed come from the sensor's declaration."""

from __future__ import annotations

import numpy as np

from syndiag.config.report import ReportConfig
from syndiag.errors import DataError
from syndiag.physics.bearings import bearing
from syndiag.report.findings import build_findings, fault_of
from syndiag.report.ranking import apply_ranking
from syndiag.report.render import envelope_figure, html_page
from syndiag.report.writer import write
from syndiag.service.pipeline import Pipeline
from syndiag.workflows.report import evidence_of


def buffered_signal(pipeline: Pipeline, sensor: str) -> tuple[np.ndarray, float]:
    """The samples a sensor's ring buffer holds now, oldest first, and their rate."""
    with pipeline.lock:
        assembly = pipeline.assemblies.get(sensor)  # a sensor of several channels: its first vibration channel's stream
        buffer = pipeline.buffers.get(assembly.timing.stream if assembly is not None else sensor)
        if buffer is None or buffer.count == 0:
            raise KeyError(sensor)
        held = min(buffer.count, buffer.capacity)
        return buffer.span(buffer.count - held, buffer.count).copy(), buffer.fs


def live_report(pipeline: Pipeline, sensor: str) -> str:
    """The HTML report of ``sensor`` now; KeyError for a sensor never seen, DataError when too little is buffered."""
    declaration = pipeline.config.sensors.get(sensor)
    config = ReportConfig(generator=None, bearing=declaration.bearing if declaration else None, rpm=declaration.rpm if declaration else None)
    x, fs = buffered_signal(pipeline, sensor)
    if x.size < fs:
        raise DataError(f"{sensor}: {x.size / fs:.2f} s buffered; the envelope spectrum needs 1 s (raise buffer_s or wait)")
    evidence, spectrum = evidence_of(x.astype(np.float64), fs, (config.rpm or 1797.0) / 60.0, sensor, config,
                                     bearing(config.bearing or "cwru-drive-end"))
    diagnosis = None
    latest = pipeline.store.history(sensor, 1)
    if latest:
        row = latest[-1]
        description = pipeline.descriptions.get(row["label"], row["label"])
        diagnosis = {"model": "live service", "prediction": row["label"], "description": description, "probability": round(row["probability"], 4),
                     "top": [{"class": row["label"], "probability": round(row["probability"], 4)}], "windows": 1, **fault_of(description)}
    findings = apply_ranking(build_findings(f"{sensor} (live, last {x.size / fs:.1f} s)", x.size / fs, fs, evidence, diagnosis))
    return html_page(findings, write(findings, None), {"envelope spectrum": envelope_figure(spectrum, evidence)})
