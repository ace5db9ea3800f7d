"""Diagnosis reports: the grounding checker, the fallback path, agreement with the evidence, the command on CWRU and
FEMTO data, and the bad inputs (unknown bearing, impossible geometry, no speed, a recording too short)."""

import base64
import json
import re

import numpy as np
import pytest
import yaml
from figures import labelled_lines, record_figures, reference_lines, rendered, vertical_lines
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.report.findings import build_findings, fault_of
from syndiag.report.grounding import omissions, ungrounded
from syndiag.report.writer import template_text, write

runner = CliRunner()


def evidence(strongest="inner_race", zone="B"):
    lines = {f: {"line": name, "expected_hz": hz, "score": 1.0, "harmonics": [{"name": name, "expected_hz": hz, "found_hz": hz + 0.4,
                                                                               "amplitude": 0.01, "ratio": 8.4 if f == strongest else 1.2}]}
             for f, name, hz in (("inner_race", "BPFI", 162.19), ("outer_race", "BPFO", 107.36), ("ball", "2xBSF", 141.17), ("cage", "FTF", 11.93))}
    return {"bearing": "SKF 6205", "bearing_source": "CWRU", "shaft_hz": 29.95, "characteristic_hz": {"BPFI": 162.19}, "lines": lines,
            "strongest": strongest, "strongest_ratio": 8.4, "envelope_band_hz": [3000.0, 5000.0], "resolution_hz": 1.0, "tolerance": 0.02,
            "velocity_rms_mm_s": 2.13, "iso_zone": zone, "iso_zone_meaning": "acceptable", "iso_boundaries_mm_s": [1.4, 2.8, 4.5],
            "machine_group": "g2", "machines": "group 2"}


def diagnosis(description="inner race fault at motor end with diameter 0.014 inches", p=0.93):
    return {"model": "m", "prediction": "DE_IR014", "description": description, "probability": p, "top": [{"class": "DE_IR014", "probability": p}],
            "windows": 40, **fault_of(description)}


def test_fault_descriptions_are_read_into_type_location_and_size():
    assert fault_of("ball fault at fan end with diameter 0.021 inches") == {"fault_type": "ball", "location": "fan end", "diameter_in": 0.021}
    assert fault_of("normal operation")["fault_type"] == "normal"


def test_grounded_text_passes_and_wrong_fault_number_frequency_or_zone_are_caught():
    findings = build_findings("r.mat", 1.0, 12000.0, evidence(), diagnosis())
    good = ("Inner race fault at the drive end (probability 0.93, 93 %), with BPFI lines at 162.2 Hz standing 8.4 times above the floor; "
            "2.13 mm/s puts it in ISO zone B.")
    assert ungrounded(good, findings) == [] and omissions(good, findings) == []
    assert any("fault type 'outer race'" in p for p in ungrounded("An outer race fault, zone B.", findings))
    assert any("number '0.85'" in p for p in ungrounded("Inner race fault with probability 0.85, zone B.", findings))
    assert any("number '250 Hz'" in p or "number '250'" in p for p in ungrounded("A line at 250 Hz shows an inner race fault, zone B.", findings))
    assert any("ISO zone 'D'" in p for p in ungrounded("Inner race fault, zone D.", findings))
    assert any("location 'fan end'" in p for p in ungrounded("Inner race fault at the fan end, zone B.", findings))
    assert omissions("The machine is fine.", findings) == ["does not name the fault type (inner race)", "does not give the ISO zone (B)"]
    assert ungrounded("Inner race fault, confirmed by the envelope spectrum; zone B.", findings) == []
    disagreeing = build_findings("r.mat", 1.0, 12000.0, evidence("none"), diagnosis())
    assert any("claims the evidence confirms" in p for p in ungrounded("Inner race fault, confirmed by the envelope spectrum; zone B.", disagreeing))


def test_the_template_is_grounded_by_construction():
    for strongest in ("inner_race", "outer_race", "none"):
        findings = build_findings("r.mat", 1.0, 12000.0, evidence(strongest, "C"), diagnosis())
        text = template_text(findings)
        assert ungrounded(text, findings) == [] and omissions(text, findings) == [], text


class Stub:
    """A generator whose answers are given: the first call's, then the tighter call's."""

    name = "stub"

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, findings, tight=False):
        self.calls.append(tight)
        return self.answers.pop(0)


def test_a_failing_text_is_regenerated_tighter_then_replaced_by_the_template():
    findings = build_findings("r.mat", 1.0, 12000.0, evidence(), diagnosis())
    good = "Inner race fault, ISO zone B: plan a replacement."
    assert write(findings, Stub(good)).path == "generated"
    stub = Stub("An outer race fault at 300 Hz, zone B.", good)
    written = write(findings, stub)
    assert written.path == "regenerated" and stub.calls == [False, True] and written.attempts[0]["problems"]
    written = write(findings, Stub("A ball fault.", "Nothing to say."))
    assert written.path == "template" and written.text == template_text(findings) and len(written.attempts) == 2
    assert write(findings, None).path == "template"


def test_the_report_says_when_classifier_and_evidence_disagree():
    findings = build_findings("r.mat", 1.0, 12000.0, evidence("outer_race"), diagnosis())
    assert findings["agreement"]["agree"] is False and "BPFO" in findings["agreement"]["note"] and "not BPFI" in findings["agreement"]["note"]
    assert findings["recommendation"]["actions"][0].startswith("confirm the diagnosis by a second technique")
    none = build_findings("r.mat", 1.0, 12000.0, evidence("none"), diagnosis())
    assert "no characteristic line stands out" in none["agreement"]["note"]


def test_report_on_a_cwru_recording_writes_findings_markdown_and_html(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    out = tmp_path / "rep"
    result = runner.invoke(app, ["report", str(cwru_dir / "130.mat"), "--template-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    findings = json.loads((out / "findings.json").read_text())
    assert findings["evidence"]["strongest"] == "outer_race" and findings["text"]["path"] == "template"
    assert findings["evidence"]["shaft_hz"] == pytest.approx(1796 / 60, abs=0.1)  # the file's own X130RPM
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "BPFO" in (out / "report.md").read_text()
    embedded = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', html)
    assert [(name, base64.b64decode(data)) for name, data in embedded] == [("envelope spectrum", (out / "envelope_spectrum.png").read_bytes())]
    spectrum = rendered(saved, "envelope spectrum").axes[0]
    outer = findings["evidence"]["lines"]["outer_race"]["harmonics"]
    assert {round(p["expected_hz"], 6) for p in outer} <= {round(x, 6) for x in vertical_lines(spectrum)}  # BPFO and its harmonics marked
    freqs, amplitude = spectrum.get_lines()[0].get_data()
    assert amplitude[np.argmin(np.abs(freqs - outer[0]["found_hz"]))] == pytest.approx(outer[0]["amplitude"], rel=1e-3)  # the peak found


def test_report_on_a_femto_test_bearing_folder(tmp_path, shared_data, monkeypatch):
    from syndiag.config.monitor import MonitorConfig
    from syndiag.workflows.monitor import run_monitor

    saved = record_figures(monkeypatch)
    out = tmp_path / "rep"
    folder = shared_data / "femto" / "Test_set" / "Bearing1_3"
    result = runner.invoke(app, ["report", str(folder), "--template-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    findings = json.loads((out / "findings.json").read_text())
    assert findings["evidence"]["bearing"].startswith("PRONOSTIA") and findings["alarm"]["on"] in (True, False)
    assert (out / "RMS_trend.png").read_bytes()[:4] == b"\x89PNG"
    trend = rendered(saved, "RMS (g)").axes[0]
    _, timeline, _ = run_monitor(MonitorConfig(), folder)
    hours, rms = labelled_lines(trend)["RMS (g)"]
    assert np.allclose(hours, timeline.time_s / 3600) and np.allclose(rms, timeline.rms)
    alarm = reference_lines(trend).get("alarm on")
    assert (alarm is not None) == findings["alarm"]["on"] and (alarm is None or f"on since {alarm:.2f} h" in findings["alarm"]["text"])
    short = shared_data / "femto" / "Test_set" / "Bearing2_7"  # all its snapshots fall within the monitor's healthy first hour
    result = runner.invoke(app, ["report", str(short), "--template-only", "--out", str(tmp_path / "short")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "short" / "findings.json").read_text())["alarm"]["text"].startswith("not available")


def test_bad_inputs_are_refused_with_exit_2_and_no_report_files(tmp_path, cwru_dir):
    out = tmp_path / "rep"
    cases = [(["report", str(cwru_dir / "130.mat"), "--bearing", "skf-9999"], "unknown bearing 'skf-9999'")]
    geometry = tmp_path / "odd.yaml"
    geometry.write_text(yaml.safe_dump({"name": "odd", "rolling_elements": 9, "ball_diameter": 2.0, "pitch_diameter": 1.5}))
    cases.append((["report", str(cwru_dir / "130.mat"), "--bearing", str(geometry)], "smaller than the pitch diameter"))
    recording = tmp_path / "r.npy"
    np.save(recording, np.random.default_rng(0).standard_normal(24000))
    cases.append((["report", str(recording), "--set", "fs=12000"], "no shaft speed"))
    short = tmp_path / "short.npy"
    np.save(short, np.random.default_rng(0).standard_normal(3000))
    cases.append((["report", str(short), "--rpm", "1797", "--set", "fs=12000"], "shorter than the 1.00 s"))
    for args, message in cases:
        result = runner.invoke(app, [*args, "--template-only", "--out", str(out)])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert not out.exists()


@pytest.mark.slow
def test_the_packaged_language_model_writes_and_its_tight_decoding_bans_digits_and_unnamed_faults():
    from syndiag.report.writer import Generator

    findings = build_findings("r.mat", 1.0, 12000.0, evidence(), diagnosis())
    generator = Generator("smollm2-135m", max_new_tokens=12, mode="free")
    text = generator(findings, tight=True)
    assert text and not any(ch.isdigit() for ch in text) and "outer" not in text.lower() and "ball" not in text.lower()
    assert write(findings, generator).path in ("generated", "regenerated", "template")
    generator.mode = "choose"  # the default: the model picks among phrasings filled from the findings, accepted at once
    written = write(findings, generator)
    assert written.path == "generated" and written.text.startswith("Inner race fault at the drive end") and "ISO zone B" in written.text


@pytest.mark.slow
def test_the_reports_suite_reports_on_segments_resumes_and_keeps_examples(tmp_path, cwru_dir):
    from test_cli_models import recipe
    from tiny import save_tiny_backbone

    from syndiag.evaluation.metrics import read_results

    run_recipe = recipe(tmp_path, save_tiny_backbone(tmp_path / "tiny-llama"))
    raw = yaml.safe_load(run_recipe.read_text())
    raw["data"]["data_root"] = str(cwru_dir.parent)
    raw["data"]["cwru"] = {"channels": ["DE", "FE"], "loads": [3]}
    run_recipe.write_text(yaml.safe_dump(raw))
    (tmp_path / "report.yaml").write_text(yaml.safe_dump({"conditions": ["1730rpm"], "segments": 2, "text_per_class": 0, "femto": False}))
    bench = {"recipe": str(run_recipe), "report_recipe": str(tmp_path / "report.yaml"), "out_dir": str(tmp_path / "results"),
             "work_dir": str(tmp_path / "work"), "profile": "test"}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    args = ["benchmark", "-c", str(tmp_path / "bench.yaml"), "--suite", "reports", "--allow-dirty", "--report", str(tmp_path / "B.md")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = read_results(tmp_path / "results" / "report_cwru_femto_test.jsonl")
    assert len(records) == 19 * 2 and {r["text_path"] for r in records} == {"template"}
    outer = [r for r in records if r["class"] == "DE_OR007"]
    assert all(r["evidence"] == "outer_race" for r in outer) and all(r["segment_s"] == 1.0 for r in outer)
    assert "## Diagnosis reports: evidence, grounding, speed" in (tmp_path / "B.md").read_text()
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 report(s) made" in again.output


def test_a_report_with_a_pytorch_classifier_holds_its_diagnosis_and_gradient_saliency(tmp_path, cwru_dir, monkeypatch):
    saved = record_figures(monkeypatch)
    from tiny_checkpoint import tiny_checkpoint

    checkpoint = tiny_checkpoint(tmp_path / "cloud", tmp_path / "tiny-llama", length=512, step=2048, image_size=32, n_scales=8)
    out = tmp_path / "rep"
    result = runner.invoke(app, ["report", str(cwru_dir / "105.mat"), "--checkpoint", str(checkpoint), "--template-only", "--out", str(out)])
    assert result.exit_code == 0, result.output
    findings = json.loads((out / "findings.json").read_text())
    assert findings["diagnosis"]["prediction"] in ("normal", "DE_IR007", "FE_B021") and findings["agreement"]["evidence"] == "inner_race"
    assert (out / "spectrogram_and_gradient_saliency.png").read_bytes()[:4] == b"\x89PNG"
    model_input, saliency = rendered(saved, "spectrogram (model input)").axes
    image, gradient = model_input.get_images()[0].get_array(), np.asarray(saliency.get_images()[0].get_array())
    assert image.shape == (32, 32, 3) and gradient.shape == (32, 32) and (gradient >= 0).all() and gradient.max() > 0
    assert saliency.get_title().startswith(f"saliency of {findings['diagnosis']['prediction']} (window ")
    assert findings["diagnosis"]["description"] in (out / "report.md").read_text()


@pytest.mark.slow
def test_the_suites_femto_reports_go_on_without_a_rul_checkpoint_and_say_so(tmp_path, shared_data):
    from syndiag.config.report import ReportSuiteConfig
    from syndiag.evaluation.metrics import read_results
    from syndiag.workflows.report_suite import femto_reports

    said = []
    config = ReportSuiteConfig(femto_rul_checkpoint=tmp_path / "no-rul-model", report={"generator": None})
    made = femto_reports(config, shared_data, tmp_path / "r.jsonl", tmp_path / "examples", set(), None, said.append)
    records = read_results(tmp_path / "r.jsonl")
    assert made == len(records) == 11 and all(r["rul_s"] is None for r in records) and "no RUL checkpoint" in said[0]
    assert (tmp_path / "examples" / "femto-Bearing1_3" / "report.html").is_file()
