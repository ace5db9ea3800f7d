"""The report suite (issue 20): segments of the CWRU test halves of each condition, classified and reported on; whether
the envelope evidence names the true fault type, whether the text names the classifier's, the grounding pass rate of the
generated text before fallback, the share of templates, seconds per report; then the FEMTO test bearings' folders.
One results line per segment or bearing (resumable); example reports (one per fault type) kept beside the results."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.atomic import atomic_folder
from syndiag.config.profiles import profile_path
from syndiag.config.report import ReportSuiteConfig
from syndiag.config.run import RunConfig
from syndiag.data.cwru import load_cwru
from syndiag.data.cwru_classes import CWRU_LOADS, condition_name
from syndiag.data.femto import femto_folder
from syndiag.data.paths import dataset_folder
from syndiag.data.windowing import split_boundary
from syndiag.errors import ConfigError
from syndiag.evaluation.metrics import append_result, read_results
from syndiag.evaluation.provenance import check_committed_code, provenance
from syndiag.report.findings import FAULT_WORDS, build_findings, fault_of
from syndiag.report.ranking import apply_ranking
from syndiag.report.render import envelope_figure, html_page, markdown
from syndiag.report.writer import Generator, write
from syndiag.serving.diagnosis import diagnose
from syndiag.serving.predictor import load_predictor
from syndiag.serving.stream import array_windows
from syndiag.workflows.cloud import finetuned_dir, pretrained_dir, run_finetune, run_pretrain
from syndiag.workflows.report import LOCATION_CHANNEL, diagnosis_of, evidence_of, report_unit


def classifier(config: ReportSuiteConfig, overrides: dict[str, Any]) -> Path:
    """The suite's Syn-Diag cloud: pretrained, then fine-tuned per the recipe into WORK_DIR/classifier (kept)."""
    recipe = RunConfig.from_yaml(profile_path(config.recipe), {**overrides, "output_dir": str(config.work_dir / "classifier"),
                                                               "results_file": str(config.work_dir / "classifier" / "results.jsonl")})
    if not (pretrained_dir(recipe) / "model.safetensors").is_file():
        run_pretrain(recipe)
    if not (finetuned_dir(recipe) / "model.safetensors").is_file():
        run_finetune(recipe)
    return finetuned_dir(recipe)


def segments(signal: np.ndarray, fs: float, config: ReportSuiteConfig) -> list[tuple[int, np.ndarray]]:
    """``config.segments`` segments of the test half (the second half of the recording), spread evenly over it."""
    test = signal[:, split_boundary(signal.shape[1], 0.5):]
    length = min(int(round(config.segment_s * fs)), test.shape[1])
    starts = np.linspace(0, test.shape[1] - length, config.segments).astype(int)
    return [(int(s), test[:, s : s + length]) for s in starts]


def segment_record(segment: np.ndarray, fs: float, rpm: float, channels: list[str], label: str, description: str, condition: str,
                   model, config: ReportSuiteConfig, generator: Generator | None, source: str) -> tuple[dict, dict, Any]:
    started = time.perf_counter()
    predictor, data = model
    result = diagnose(predictor, array_windows(segment, data.window, source), source, config.report.top_k)
    diagnosis, unknown, severity = diagnosis_of(result, "suite classifier")
    truth = fault_of(description)
    channel = LOCATION_CHANNEL.get(truth["location"] or "", "DE")  # the faulty bearing's own accelerometer
    resolution = max(config.report.resolution_hz or 1.0, fs / segment.shape[1])  # a test half under 1 s: as fine as it allows
    report = config.report.model_copy(update={"resolution_hz": resolution})
    evidence, spectrum = evidence_of(segment[channels.index(channel)], fs, rpm / 60, channel, report)
    findings = apply_ranking(build_findings(source, segment.shape[1] / fs, fs, evidence, diagnosis, unknown, severity))
    written = write(findings, generator)
    said = diagnosis["fault_type"]
    text = written.text.lower().replace("-", " ")
    names_classifier = (FAULT_WORDS[said] in text) if said not in (None, "normal") else not any(FAULT_WORDS[f] in text for f in ("inner_race", "outer_race", "ball"))
    record = {"suite": "report", "kind": "cwru-segment", "class": label, "condition": condition, "true_fault": truth["fault_type"],
              "location": truth["location"], "predicted": diagnosis["prediction"], "predicted_fault": said,
              "evidence": evidence["strongest"], "evidence_ratio": evidence["strongest_ratio"],
              "scores": {f: v["score"] for f, v in evidence["lines"].items()}, "zone": evidence["iso_zone"],
              "velocity_mm_s": evidence["velocity_rms_mm_s"], "text_path": written.path, "generated": generator is not None,
              "attempts": [{"path": a["path"], "problems": a["problems"]} for a in written.attempts],
              "text_names_classifier": bool(names_classifier), "seconds": round(time.perf_counter() - started, 3),
              "text_seconds": round(written.seconds, 3), "segment_s": round(segment.shape[1] / fs, 3)}
    return record, {"findings": findings, "written": written, "figures": {"envelope spectrum": envelope_figure(spectrum, evidence)}}, written


def keep_example(examples: Path, name: str, example: dict) -> None:
    """An example report (Markdown, HTML, findings, figures) in EXAMPLES/NAME."""
    names = {n: n.replace(" ", "_") + ".png" for n in example["figures"]}
    with atomic_folder(examples / name) as staging:
        for n, png in example["figures"].items():
            (staging / names[n]).write_bytes(png)
        (staging / "report.md").write_text(markdown(example["findings"], example["written"], names), encoding="utf-8")
        (staging / "report.html").write_text(html_page(example["findings"], example["written"], example["figures"]), encoding="utf-8")
        (staging / "findings.json").write_text(json.dumps({**example["findings"], "text": {"text": example["written"].text,
                                                           "path": example["written"].path}}, indent=1, allow_nan=False),
                                                encoding="utf-8")


def run_report_suite(config: ReportSuiteConfig, results: Path, examples: Path, overrides: dict[str, Any] | None = None,
                     say: Callable[[str], None] = print, allow_dirty: bool = False) -> tuple[int, int]:
    """Every CWRU segment and FEMTO test bearing not yet in ``results``; returns (reports made, left)."""
    overrides = overrides or {}
    done = {(r["kind"], r.get("class"), r.get("condition"), r.get("segment"), r.get("bearing")) for r in read_results(results)} if results.is_file() else set()
    check_committed_code(results, allow_dirty)
    checkpoint = classifier(config, overrides)
    predictor = load_predictor(checkpoint)
    data = predictor.data
    root = data.resolved_data_root()
    loads = [load for load, rpm in CWRU_LOADS.items() if condition_name(load) in config.conditions]
    if root is None:
        raise ConfigError("the report suite reads CWRU recordings: give --data-root (or $SYNDIAG_DATA)")
    recordings = load_cwru(dataset_folder(root, "cwru"), data.cwru.model_copy(update={"loads": loads}))
    generator = Generator(config.report.generator, config.report.max_new_tokens, config.report.writer) if config.report.generator and config.text_per_class else None
    ran, examples_kept = 0, set()
    for rec in recordings.recordings:
        description = next(c.prompt for c in recordings.classes if c.name == rec.label)
        rpm = float(CWRU_LOADS[next(load for load in loads if condition_name(load) == rec.condition)])
        for index, (start, segment) in enumerate(segments(rec.signal, rec.fs, config)):
            if ("cwru-segment", rec.label, rec.condition, index, None) in done:
                continue
            source = f"{Path(rec.source.split('[')[0]).name} test half +{start / rec.fs:.2f} s"
            record, example, _ = segment_record(segment, rec.fs, rpm, list(rec.channels), rec.label, description, rec.condition,
                                                (predictor, data), config, generator if index < config.text_per_class else None, source)
            append_result(results, {**record, "segment": index, "start_s": round(start / rec.fs, 3), "source": source, **provenance()})
            ran += 1
            kind = record["true_fault"]
            if index == 0 and rec.condition == config.conditions[-1] and (kind, rec.label.startswith("DE")) not in examples_kept and record["generated"]:
                examples_kept.add((kind, rec.label.startswith("DE")))
                keep_example(examples, f"cwru-{rec.label}-{rec.condition}", example)
        say(f"report: {rec.label} at {rec.condition} done")
    if config.femto:
        ran += femto_reports(config, root, results, examples, done, generator, say)
    return ran, 0


def femto_reports(config: ReportSuiteConfig, root: Path, results: Path, examples: Path, done: set, generator, say) -> int:
    """A report per FEMTO test bearing folder: evidence on its last snapshot, alarms, RUL when a checkpoint is given."""
    folders = sorted(p for p in (femto_folder(root) / "Test_set").iterdir() if p.is_dir())
    rul = config.femto_rul_checkpoint
    if rul is not None and not (Path(rul) / "config.json").is_file():
        say(f"report: no RUL checkpoint at {rul} (run `syndiag rul fit -c rul/femto` first): the FEMTO reports leave the RUL out")
        rul = None
    report = config.report.model_copy(update={"rul_checkpoint": rul})
    ran = 0
    for folder in folders:
        if ("femto-bearing", None, None, None, folder.name) in done:
            continue
        started = time.perf_counter()
        findings, figures = report_unit(folder, report)
        findings = apply_ranking(findings)
        written = write(findings, generator)
        e = findings["evidence"]
        append_result(results, {"suite": "report", "kind": "femto-bearing", "bearing": folder.name, "evidence": e["strongest"],
                                "evidence_ratio": e["strongest_ratio"], "zone": e["iso_zone"], "velocity_mm_s": e["velocity_rms_mm_s"],
                                "alarm_on": findings["alarm"]["on"], "rul_s": (findings["rul"] or {}).get("predicted_s"),
                                "text_path": written.path, "generated": generator is not None,
                                "attempts": [{"path": a["path"], "problems": a["problems"]} for a in written.attempts],
                                "seconds": round(time.perf_counter() - started, 3), "text_seconds": round(written.seconds, 3), **provenance()})
        if folder.name == folders[0].name:
            keep_example(examples, f"femto-{folder.name}", {"findings": findings, "written": written, "figures": figures})
        ran += 1
        say(f"report: FEMTO {folder.name} done ({written.path})")
    return ran
