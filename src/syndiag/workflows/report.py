"""``syndiag report`` as a library function (issue 20): a recording (or a FEMTO unit folder) -> findings with physical
evidence, grounded text, Markdown, self-contained HTML and the JSON findings, written atomically into one folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.atomic import atomic_folder
from syndiag.config.data import WindowConfig
from syndiag.config.monitor import MonitorConfig
from syndiag.config.report import ReportConfig
from syndiag.data.cwru import CWRUIdentity, identify_cwru
from syndiag.data.femto import ACC_FS, read_bearing
from syndiag.data.model_input import read_model_input
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import ConfigError, DataError
from syndiag.physics.bearings import bearing
from syndiag.physics.envelope import default_resolution, segment_length, signal_segments
from syndiag.physics.evidence import bearing_evidence
from syndiag.physics.machines import Machine, machine
from syndiag.report.findings import build_findings, fault_of
from syndiag.report.ranking import apply_ranking
from syndiag.report.render import envelope_figure, html_page, markdown, saliency_figure, trend_figure
from syndiag.report.writer import Generator, Written, write
from syndiag.serving.stream import npy_windows, open_input
from syndiag.workflows.inference import diagnose_with

LOCATION_CHANNEL = {"drive end": "DE", "fan end": "FE"}
CHANNEL_BEARING = {"DE": "cwru-drive-end", "FE": "cwru-fan-end"}
CWRU_RIG = "cwru-rig"
"""The machine whose bearings the channel names DE / FE stand for when no bearing is given (machines.yaml)."""


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


def machine_setting(config: ReportConfig, own: str | None) -> tuple[Machine | None, str, str]:
    """The machine (``config.machine``, else the recording's own rig ``own`` unless a machine group alone is given), the
    ISO zone group and where it comes from; a ConfigError when no group is known (never a silent default)."""
    name = config.machine or (own if config.machine_group is None else None)
    found = machine(name) if name else None
    if config.machine_group is not None:
        return found, config.machine_group, "the report config (machine_group)"
    if found is None:
        raise ConfigError("no machine group for the ISO zone: the recording comes from no known machine; give --machine-group "
                          "(a table of syndiag/physics/iso_zones.yaml, e.g. iso-20816-3:group2-rigid for 15-300 kW on a rigid "
                          "foundation, iso-10816-1:class1 under 15 kW) or --set machine=cwru-rig / femto-pronostia")
    return found, found.machine_group, f"{found.name} ({found.source})"


def evidence_of(x, fs: float, shaft_hz: float, channel: str, config: ReportConfig, geometry=None, machine_group: str | None = None,
                mains_hz: float | None = None):
    """The physical evidence of channel ``channel``'s signal ``x`` (an array, or an iterable of its segments of
    1 / ``config.resolution_hz`` s): the configured bearing, else the CWRU one of the channel; an implausible speed refused.
    The ISO zone's group: ``machine_group``, else the config's, else the CWRU rig's when the bearing is one of its own."""
    config.check_rpm(shaft_hz * 60, "the shaft speed")
    if geometry is None:
        if config.bearing is None and channel.upper() not in CHANNEL_BEARING:
            raise ConfigError(f"no bearing geometry for channel {channel!r}: give --bearing (a shipped name or a YAML file)")
        geometry = bearing(config.bearing or CHANNEL_BEARING[channel.upper()])
    assumed = None
    if machine_group is None and config.machine_group is None:
        rig, machine_group, assumed = machine_setting(config, CWRU_RIG if (config.bearing or CHANNEL_BEARING["DE"]) in CHANNEL_BEARING.values() else None)
        mains_hz = mains_hz or (rig.mains_hz if rig is not None else None)
    resolution = config.resolution_hz or default_resolution(np.asarray(x).size, fs)
    try:
        evidence, spectrum = bearing_evidence(x, fs, geometry, shaft_hz, unit=config.unit, resolution_hz=resolution, tolerance=config.tolerance,
                                              harmonics=config.harmonics, machine_group=machine_group or config.machine_group, mains_hz=mains_hz)
    except DataError as exc:
        raise DataError(f"{channel}: {exc}") from None
    evidence["channel"] = channel
    if assumed is not None:
        evidence["machine_group_from"] = f"assumed with the CWRU rig's bearing, as no machine or machine group is given: {assumed}"
    return evidence, spectrum


def speed_warnings(rpm: float, own: tuple[str, float] | None, config: ReportConfig) -> list[str]:
    """A warning when the speed given differs from the recording's own (``(name, rpm)``) by more than the slip tolerance:
    the lines are then looked for where this recording's bearing would not put them."""
    if own is None or abs(rpm - own[1]) <= config.tolerance * own[1]:
        return []
    return [f"the shaft speed given, {rpm:g} rpm, differs from the recording's own {own[0]} of {own[1]:g} rpm by "
            f"{abs(rpm - own[1]) / own[1]:.0%}, more than the {config.tolerance:.0%} slip tolerance: the lines were looked for "
            "at the speed given"]


def identity_of(recording: Path) -> CWRUIdentity | None:
    """What a .mat file holds by its own CWRU variables and the catalogue, whatever it is called (None: not CWRU-style)."""
    return identify_cwru(recording) if recording.suffix.lower() == ".mat" else None


def _own_rpm(identity: CWRUIdentity | None) -> tuple[str, float] | None:
    """A CWRU file's own speed (its X<NNN>RPM, or its load's nominal one where that is missing or far off), or None."""
    if identity is None or identity.rpm is None:
        return None
    own = f"X{identity.number:03d}RPM" if identity.rpm_how.startswith("its own") else "catalogued speed"
    return own, identity.rpm


def _shaft_hz(recording: Path, config: ReportConfig, identity: CWRUIdentity | None = None, rig: Machine | None = None) -> tuple[float, list[str]]:
    """The shaft frequency (the configured speed, else the file's own) and the warnings on it: the file's own speed outside
    the machine's range is refused, a speed given there (an override) warned about."""
    own = _own_rpm(identity)
    if config.rpm is None:
        if own is None:
            raise ConfigError(f"{recording}: no shaft speed (the file holds no RPM variable and is not in the CWRU catalogue): "
                              "give it with --rpm (or rpm: in the report config)")
        rpm = config.check_rpm(own[1], f"{recording}: its own {own[0]}")
        return (rpm if rig is None else rig.check_rpm(rpm, f"{recording}: its own {own[0]}")) / 60, []
    rpm = config.check_rpm(config.rpm, "rpm")
    warnings = speed_warnings(rpm, own, config)
    if not warnings and rig is not None and rig.rpm_range is not None and not rig.rpm_range[0] <= rpm <= rig.rpm_range[1]:
        warnings.append(f"the shaft speed given, {rpm:g} rpm, lies outside the {rig.rpm_range[0]:g}-{rig.rpm_range[1]:g} rpm that "
                        f"the {rig.name} runs at")
    return rpm / 60, warnings


def _signal(recording: Path, channel: str, config: ReportConfig) -> tuple[np.ndarray, float]:
    found = read_model_input(recording, [channel], config.fs, config.fs or 12000.0)
    if found.windows:
        raise DataError(f"{recording}: holds windows, not a recording; a report reads one continuous recording")
    return np.asarray(found.signal[0], dtype=np.float64), float(found.fs)


def channel_reader(recording: Path, channel: str, config: ReportConfig) -> tuple[Callable[[int, int], np.ndarray], int, float]:
    """``read(a, b)``, sample count and rate of the evidence channel: a one-channel .npy at the configured rate through a
    memory map opened for each read (never resident whole), any other file read whole (and checked)."""
    if recording.suffix.lower() == ".npy" and config.fs is not None:
        stream = npy_windows(recording, 1, config.fs, config.fs, WindowConfig(length=16, step=16))
        if stream is not None:
            stream.check()
            return (lambda a, b: stream.read(a, b)[0]), stream.size, float(config.fs)
    x, fs = _signal(recording, channel, config)
    return (lambda a, b: x[a:b]), x.size, fs


def saliency(model, window: np.ndarray, spectrogram) -> tuple[np.ndarray, np.ndarray]:
    """|d logit / d image| of one window's (channels, length) spectrogram for a cloud or edge PyTorch model: the image and its saliency."""
    import torch  # defers torch: the report of an ONNX export, or of no model, runs without it

    image = to_rgb(spectrogram_images(window[None], spectrogram), spectrogram.colormap)
    x = torch.from_numpy(image).permute(0, 3, 1, 2).float().div(255.0).requires_grad_(True)
    logits = model(x)
    logits[0, logits[0].argmax()].backward()
    return image[0], x.grad[0].abs().amax(0).numpy()


def _classify(recording: Path, checkpoint: Path, config: ReportConfig):
    """The diagnosis, and the Predictor that made it (loaded once: the saliency reuses a cloud or edge model)."""
    return diagnose_with(recording, checkpoint, config.fs, config.top_k)


def _saliency_figure(recording: Path, config: ReportConfig, predictor, result, prediction: str) -> bytes:
    """The saliency of the most confident window, read alone (a .npy through a memory map)."""
    windows = open_input(recording, predictor.folder, predictor.meta, config.fs)
    best = int(np.argmax(result.window_confidence))
    found = saliency(predictor.model, windows.block(best, best + 1)[0], predictor.spectrogram)
    return saliency_figure(*found, f"saliency of {prediction} (window {best})")


def strength(evidence: dict) -> tuple[int, float]:
    """How strongly a channel's evidence names a fault: a line standing out first (by its peak-to-floor ratio), then an
    impulsive envelope with no line (by its kurtosis), then nothing (by the best line's ratio)."""
    if evidence["strongest"] == "none":
        return 0, float(evidence["strongest_ratio"])
    if evidence["strongest_basis"].startswith("impulsive"):
        return 1, float(evidence["envelope_kurtosis"] or 0.0)
    return 2, float(evidence["strongest_ratio"])


def evidence_channels(recording: Path, config: ReportConfig, identity: CWRUIdentity | None, rig: Machine | None) -> list[str]:
    """The channels whose bearings the evidence examines, from the file itself (never the classifier's label): the one
    configured, else every vibration channel of a CWRU file with a known bearing (DE, FE; not the base plate's), else DE."""
    if config.channel:
        return [config.channel]
    if identity is not None:
        known = [ch for ch in identity.channels if ch in (rig.bearings if rig else CHANNEL_BEARING) or config.bearing]
        if config.bearing:
            known = [ch for ch in known if ch != "BA"]
        if not known:
            raise DataError(f"{recording}: {identity.describe()} holds no vibration channel with a known bearing "
                            f"({', '.join(identity.channels) or 'none'}): give --bearing and --set channel=...")
        return known
    return ["DE"]


def report_recording(recording: Path, checkpoint: Path | None, config: ReportConfig) -> tuple[dict, dict[str, bytes]]:
    """Findings and figures of one recording file, read in bounded memory (the model's windows in blocks, the evidence
    in segments, one window for the saliency); a bad bearing or an implausible or missing speed is refused before any model runs."""
    geometry = bearing(config.bearing) if config.bearing else None
    identity = identity_of(recording)
    assumed = identity is None and (config.bearing in CHANNEL_BEARING.values() or
                                    config.bearing is None and (config.channel or "DE").upper() in CHANNEL_BEARING)
    rig, group, group_from = machine_setting(config, CWRU_RIG if identity is not None or assumed else None)
    if assumed and config.machine is None and config.machine_group is None:
        group_from = (f"assumed, as no machine or machine group is given and the bearing is the CWRU rig's: {group_from}; "
                      "give --bearing and --machine-group for another machine")
    shaft, warnings = _shaft_hz(recording, config, identity, None if assumed and config.machine is None else rig)
    channels = evidence_channels(recording, config, identity, rig)
    diagnosis = unknown = severity = result = model = None
    if checkpoint is not None:
        result, predictor = _classify(recording, checkpoint, config)
        model = predictor if getattr(predictor, "model", None) is not None and hasattr(predictor, "spectrogram") else None
        diagnosis, unknown, severity = diagnosis_of(result, str(checkpoint))
    found = []
    for channel in channels:
        read, size, fs = channel_reader(recording, channel, config)
        resolution = config.resolution_hz or default_resolution(size, fs)
        segments = signal_segments(read, size, segment_length(size, fs, resolution))
        name = (rig.bearings if rig else CHANNEL_BEARING).get(channel.upper())
        chosen = geometry or (bearing(name) if name else None)
        found.append((*evidence_of(segments, fs, shaft, channel, config.model_copy(update={"resolution_hz": resolution}), chosen, group,
                                   rig.mains_hz if rig else None), size, fs))
    evidence, spectrum, size, fs = max(found, key=lambda e: strength(e[0]))
    evidence["channels"] = [{"channel": e["channel"], "bearing": e["bearing"], "strongest": e["strongest"], "strongest_ratio": e["strongest_ratio"],
                             "iso_zone": e["iso_zone"], "velocity_rms_mm_s": e["velocity_rms_mm_s"]} for e, *_ in found]
    evidence["channel_choice"] = ("the channel given (channel)" if config.channel else
                                  f"the strongest evidence of {', '.join(channels)}, each against its own bearing" if len(channels) > 1 else
                                  f"the file's one vibration channel with a known bearing ({channels[0]})")
    evidence.update(machine=None if rig is None else rig.name, machine_group_from=group_from,
                    recording=None if identity is None else identity.describe(), rpm_from=f"--rpm / rpm: {config.rpm:g}" if config.rpm
                    else identity.rpm_how if identity is not None else None)
    evidence["warnings"] += warnings
    figures = {"envelope spectrum": envelope_figure(spectrum, evidence)}
    if model is not None:
        figures["spectrogram and gradient saliency"] = _saliency_figure(recording, config, model, result, diagnosis["prediction"])
    return build_findings(str(recording), size / fs, fs, evidence, diagnosis, unknown, severity), figures


def report_unit(folder: Path, config: ReportConfig) -> tuple[dict, dict[str, bytes]]:
    """Findings and figures of a FEMTO-layout unit folder: evidence on its last snapshot, the alarm history, the RUL."""
    # defers sklearn (the alarms' open-set scores) and matplotlib (the RUL figures): only a FEMTO unit's report needs them,
    # and the live service, which reports recordings, loads neither
    from syndiag.workflows.monitor import run_monitor
    from syndiag.workflows.rul import run_rul_predict

    unit = read_bearing(folder, "test")
    geometry = bearing(config.bearing or "femto-pronostia")
    rpm = config.check_rpm(config.rpm or unit.rpm, "rpm" if config.rpm else f"{folder}: the unit's own speed")
    rig, group, group_from = machine_setting(config, "femto-pronostia")
    if rig is not None and not config.rpm:
        rig.check_rpm(rpm, f"{folder}: the unit's own speed")
    shaft = rpm / 60
    last = unit.snapshots[-1]
    x = last.horizontal
    resolution = config.resolution_hz or ACC_FS / x.size
    evidence, spectrum = bearing_evidence(x, ACC_FS, geometry, shaft, unit=config.unit, resolution_hz=resolution,
                                          tolerance=config.tolerance, harmonics=config.harmonics, machine_group=group,
                                          mains_hz=rig.mains_hz if rig else None)
    evidence["channel"] = f"horizontal, snapshot {last.file}"
    evidence.update(machine=None if rig is None else rig.name, machine_group_from=group_from)
    evidence["warnings"] += speed_warnings(rpm, ("condition's speed", unit.rpm), config)
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
    findings = apply_ranking(findings)  # classifier and evidence weighed: the stronger sets the recommendation (issue 31)
    if generator is None and config.generator is not None:
        generator = Generator(config.generator, config.max_new_tokens, config.writer)
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
