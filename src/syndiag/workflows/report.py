"""``syndiag report`` as a library function (issue 20): a recording (or a FEMTO unit folder) -> findings with physical
evidence, grounded text, Markdown, self-contained HTML and the JSON findings, written atomically into one folder."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.atomic import atomic_folder
from syndiag.config.report import ReportConfig
from syndiag.errors import ConfigError, DataError
from syndiag.physics.bearings import bearing
from syndiag.physics.evidence import bearing_evidence
from syndiag.report.findings import build_findings, fault_of
from syndiag.report.render import envelope_figure, html_page, markdown, saliency_figure, trend_figure
from syndiag.report.writer import Generator, Written, write

LOCATION_CHANNEL = {"drive end": "DE", "fan end": "FE"}
CHANNEL_BEARING = {"DE": "cwru-drive-end", "FE": "cwru-fan-end"}


@dataclass
class Report:
    folder: Path
    findings: dict[str, Any]
    written: Written
    seconds: float


def diagnosis_of(result, model: str) -> tuple[dict, dict | None, dict | None]:
    """The classifier's part of the findings from a :class:`~syndiag.serving.diagnosis.Diagnosis`: prediction, top-k,
    fault type / location / diameter read from the description; its open-set verdict; a sensor model's severity."""
    found = {"model": model, "prediction": result.label, "description": result.description,
             "probability": round(result.probability, 4), "top": [{"class": c, "probability": round(p, 4)} for c, _, p in result.top],
             "windows": result.windows, **fault_of(result.description)}
    severity = getattr(result, "severity", None)
    severity = None if severity is None else {"text": severity.describe(), "windows": severity.windows}
    unknown = result.unknown
    if unknown is not None:
        verdict = "unknown fault" if unknown["unknown"] else "within the trained classes"
        unknown = {**unknown, "text": f"{verdict} (score {unknown['score']:.3f}, threshold {unknown['threshold']:.3f}; "
                                      f"{unknown['windows_above']} of {result.windows} windows above it)"}
    return found, unknown, severity


def evidence_of(x: np.ndarray, fs: float, shaft_hz: float, channel: str, config: ReportConfig, geometry=None):
    """The physical evidence of channel ``channel``'s signal ``x``: the configured bearing, else the CWRU one of the channel."""
    if geometry is None:
        if config.bearing is None and channel.upper() not in CHANNEL_BEARING:
            raise ConfigError(f"no bearing geometry for channel {channel!r}: give --bearing (a shipped name or a YAML file)")
        geometry = bearing(config.bearing or CHANNEL_BEARING[channel.upper()])
    evidence, spectrum = bearing_evidence(x, fs, geometry, shaft_hz, unit=config.unit, resolution_hz=config.resolution_hz or 1.0,
                                          tolerance=config.tolerance, harmonics=config.harmonics, machine_group=config.machine_group)
    evidence["channel"] = channel
    return evidence, spectrum


def _shaft_hz(recording: Path, config: ReportConfig) -> float:
    from syndiag.data.sensors import cwru_rpm

    if config.rpm is not None:
        return config.rpm / 60
    number = re.match(r"(\d+)", recording.stem)
    rpm = cwru_rpm(recording, int(number.group(1))) if number and recording.suffix.lower() == ".mat" else None
    if rpm is None:
        raise ConfigError(f"{recording}: no shaft speed (the file holds no RPM variable): give it with --rpm (or rpm: in the report config)")
    return rpm / 60


def _signal(recording: Path, channel: str, config: ReportConfig) -> tuple[np.ndarray, float]:
    from syndiag.data.model_input import read_model_input

    found = read_model_input(recording, [channel], config.fs, config.fs or 12000.0)
    if found.windows:
        raise DataError(f"{recording}: holds windows, not a recording; a report reads one continuous recording")
    return np.asarray(found.signal[0], dtype=np.float64), float(found.fs)


def saliency(checkpoint: Path, recording_windows: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """|d logit / d image| of the most confident window's spectrogram (cloud and edge PyTorch checkpoints; None otherwise)."""
    import torch

    from syndiag.config.data import DataConfig
    from syndiag.data.spectrogram import spectrogram_images, to_rgb
    from syndiag.serving.diagnosis import load_model

    if meta.get("model") not in ("syndiag-cloud", "syndiag-edge") or not (Path(checkpoint) / "model.safetensors").is_file():
        return None
    data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
    model = load_model(checkpoint).eval()
    image = to_rgb(spectrogram_images(recording_windows[:1], data.spectrogram), data.spectrogram.colormap)
    x = torch.from_numpy(image).permute(0, 3, 1, 2).float().div(255.0).requires_grad_(True)
    logits = model(x)
    logits[0, logits[0].argmax()].backward()
    return image[0], x.grad[0].abs().amax(0).numpy()


def report_recording(recording: Path, checkpoint: Path | None, config: ReportConfig) -> tuple[dict, dict[str, bytes]]:
    """Findings and figures of one recording file; a bad bearing or a missing speed is refused before any model runs."""
    from syndiag.workflows.inference import diagnose_file

    geometry = bearing(config.bearing) if config.bearing else None
    shaft = _shaft_hz(recording, config)
    diagnosis = unknown = severity = result = None
    if checkpoint is not None:
        result = diagnose_file(recording, checkpoint, config.fs, config.top_k)
        diagnosis, unknown, severity = diagnosis_of(result, str(checkpoint))
    channel = config.channel or LOCATION_CHANNEL.get((diagnosis or {}).get("location"), "DE")
    x, fs = _signal(recording, channel, config)
    evidence, spectrum = evidence_of(x, fs, shaft, channel, config, geometry)
    figures = {"envelope spectrum": envelope_figure(spectrum, evidence)}
    if checkpoint is not None:
        meta = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
        from syndiag.config.data import DataConfig
        from syndiag.serving.diagnosis import read_signal, window_array

        if meta.get("model") in ("syndiag-cloud", "syndiag-edge"):
            data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
            signal, _ = read_signal(recording, meta["channels"], config.fs, meta["fs"])
            windows = window_array(signal, data.window, str(recording))
            best = int(np.argmax(result.window_confidence))
            found = saliency(checkpoint, windows[best : best + 1], meta)
            if found is not None:
                figures["spectrogram and gradient saliency"] = saliency_figure(*found, f"saliency of {diagnosis['prediction']} (window {best})")
    return build_findings(str(recording), x.size / fs, fs, evidence, diagnosis, unknown, severity), figures


def report_unit(folder: Path, config: ReportConfig) -> tuple[dict, dict[str, bytes]]:
    """Findings and figures of a FEMTO-layout unit folder: evidence on its last snapshot, the alarm history, the RUL."""
    from syndiag.config.monitor import MonitorConfig
    from syndiag.data.femto import ACC_FS, read_bearing
    from syndiag.workflows.monitor import run_monitor
    from syndiag.workflows.rul import run_rul_predict

    unit = read_bearing(folder, "test")
    geometry = bearing(config.bearing or "femto-pronostia")
    shaft = (config.rpm or unit.rpm) / 60
    last = unit.snapshots[-1]
    x = last.horizontal
    resolution = config.resolution_hz or ACC_FS / x.size
    evidence, spectrum = bearing_evidence(x, ACC_FS, geometry, shaft, unit=config.unit, resolution_hz=resolution,
                                          tolerance=config.tolerance, harmonics=config.harmonics, machine_group=config.machine_group)
    evidence["channel"] = f"horizontal, snapshot {last.file}"
    monitor = MonitorConfig()
    try:
        _, timeline, _ = run_monitor(monitor, folder)
    except DataError as exc:  # a unit shorter than its healthy reference: no alarm history, said so
        timeline, first = None, None
        alarm = {"text": f"not available: {exc}", "on": None}
    else:
        first = timeline.first_alarm
        alarm = {"text": "the novelty alarm has not gone on" if first is None else
                 f"on since {timeline.time_s[first] / 3600:.2f} h (snapshot {first}), "
                 f"{(timeline.time_s[-1] - timeline.time_s[first]) / 3600:.2f} h before the last snapshot", "on": first is not None}
    rul = None
    if config.rul_checkpoint is not None:
        prediction, _ = run_rul_predict(config.rul_checkpoint, folder, None)
        level = max(prediction.intervals)
        low, high = prediction.intervals[level]
        rul = {"predicted_s": round(prediction.rul_s, 1), "interval_s": [round(low, 1), round(high, 1)], "level": level,
               "text": f"{prediction.rul_s / 3600:.2f} h ({level:.0%} interval {low / 3600:.2f} to {high / 3600:.2f} h)"}
    figures = {"envelope spectrum": envelope_figure(spectrum, evidence)}
    if timeline is not None:
        figures["RMS trend"] = trend_figure(timeline.time_s / 3600, timeline.rms, "RMS (g)", rul, None if first is None else timeline.time_s[first] / 3600)
    return build_findings(str(folder), x.size / ACC_FS, ACC_FS, evidence, rul=rul, alarm=alarm), figures


def run_report(recording: Path, checkpoint: Path | None, config: ReportConfig, out_dir: Path, generator: Generator | None = None) -> Report:
    """Write OUT_DIR/{findings.json, report.md, report.html, *.png} (all or nothing)."""
    started = time.perf_counter()
    recording = Path(recording)
    if not recording.exists():
        raise DataError(f"{recording}: no such file or folder")
    findings, figures = report_unit(recording, config) if recording.is_dir() else report_recording(recording, checkpoint, config)
    if generator is None and config.generator is not None:
        generator = Generator(config.generator, config.max_new_tokens)
    written = write(findings, generator)
    names = {name: name.replace(" ", "_") + ".png" for name in figures}
    record = {**findings, "text": {"text": written.text, "path": written.path, "attempts": written.attempts,
                                   "generator": None if generator is None else generator.name}}
    with atomic_folder(out_dir) as staging:
        for name, png in figures.items():
            (staging / names[name]).write_bytes(png)
        (staging / "report.md").write_text(markdown(findings, written, {n: names[n] for n in figures}), encoding="utf-8")
        (staging / "report.html").write_text(html_page(findings, written, figures), encoding="utf-8")
        record["seconds"] = round(time.perf_counter() - started, 3)
        (staging / "findings.json").write_text(json.dumps(record, indent=1, allow_nan=False), encoding="utf-8")
    return Report(Path(out_dir), findings, written, record["seconds"])
