"""``syndiag report RECORDING``: a diagnosis report with physical evidence; calls one workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from syndiag.cli.common import SetOpt, out
from syndiag.config.base import parse_overrides
from syndiag.config.report import ReportConfig
from syndiag.config.run import trained_diagnosis_model


def report(recording: Annotated[Path, typer.Argument(help="a recording (.mat, .csv, .npy, .npz) or a unit's folder of snapshots (FEMTO layout)")],
           checkpoint: Annotated[Optional[Path], typer.Option(help="classifier: a fine-tuned cloud, edge or sensor checkpoint or an ONNX export (default: the sensor/spectral model when trained, else none)")] = None,
           config: Annotated[Optional[Path], typer.Option("--config", "-c", help="report recipe (default: syndiag/config/report.py)")] = None,
           sets: SetOpt = None,
           bearing: Annotated[Optional[str], typer.Option(help="cwru-drive-end | cwru-fan-end | femto-pronostia | a YAML geometry")] = None,
           rpm: Annotated[Optional[float], typer.Option(help="shaft speed: overrides the recording's own (a CWRU file's X<NNN>RPM or catalogued speed, a FEMTO condition's)")] = None,
           fs: Annotated[Optional[float], typer.Option(help="sampling rate: overrides what the file or the CWRU catalogue says; needed where neither does")] = None,
           machine_group: Annotated[Optional[str], typer.Option(help="ISO zone table (physics/iso_zones.yaml), e.g. iso-20816-3:group2-rigid; default: the machine's (CWRU rig, PRONOSTIA: ISO 10816-1 class I)")] = None,
           out_dir: Annotated[Optional[Path], typer.Option("--out", help="report folder (default: RECORDING name + -report here)")] = None,
           template_only: Annotated[bool, typer.Option("--template-only", help="no language model: the template text")] = False) -> None:
    """Findings (classifier, envelope-spectrum evidence at the defect frequencies of every vibration channel's bearing,
    ISO zone of the machine's group, RUL and alarms for a unit folder), a grounded text and recommendations:
    findings.json, report.md, report.html. A CWRU file's speed, rate and identity come from its own variables and the
    catalogue, whatever it is called."""
    # defers numpy and scipy (torch when a language model writes): imported when the command runs
    from syndiag.workflows.report import run_report

    overrides = parse_overrides(sets)
    overrides.update({k: v for k, v in {"bearing": bearing, "rpm": rpm, "fs": fs, "machine_group": machine_group}.items() if v is not None})
    if template_only:
        overrides["generator"] = None
    cfg = ReportConfig.from_yaml(config, overrides) if config is not None else ReportConfig.from_dict(overrides, "--set")
    if rpm is not None:
        cfg.check_rpm(rpm, "--rpm")
    target = out_dir or Path(f"{recording.name}-report")
    with out.status(f"reporting on {escape(str(recording))}"):
        result = run_report(recording, checkpoint or trained_diagnosis_model(), cfg, target)
    f = result.findings
    e = f["evidence"]
    out.print(escape(result.written.text))
    basis = (f"impulsive envelope, kurtosis {e['envelope_kurtosis']:.1f}" if e.get("strongest_basis", "").startswith("impulsive")
             else f"peak/floor {e['strongest_ratio']:.1f}")
    out.print(f"[dim]text: {result.written.path}; evidence: {e['strongest'].replace('_', ' ')} on {escape(str(e['channel']))} "
              f"({basis}), ISO zone {e['iso_zone']} at {e['velocity_rms_mm_s']:.2f} mm/s; "
              f"urgency {f['recommendation']['urgency']}[/]")
    if e["unchecked"]:
        out.print(f"[yellow]not checkable: {escape(', '.join(e['unchecked']))} (see the report)[/]")
    for warning in e["warnings"]:
        out.print(f"[yellow]warning: {escape(warning)}[/]")
    out.print(f"wrote {escape(str(result.folder))}/(findings.json, report.md, report.html) in {result.seconds:.1f} s")
