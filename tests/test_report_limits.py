"""Reports at the edges of what the physics can say (issue 27): implausible shaft speeds refused naming the value,
defect lines the envelope spectrum cannot show marked not checkable (never "no line stands out"), a speed contradicting
the file's own, flat signals refused instead of infinite ratios, and long recordings read in bounded memory."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from test_physics import impacts
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.config.report import ReportConfig
from syndiag.errors import DataError
from syndiag.physics.bearings import bearing
from syndiag.physics.envelope import EnvelopeSpectrum, peak_at
from syndiag.physics.evidence import bearing_evidence
from syndiag.report.findings import build_findings, fault_of
from syndiag.report.grounding import omissions, ungrounded
from syndiag.report.render import sections
from syndiag.report.writer import template_text, write
from syndiag.workflows.report import evidence_of

runner = CliRunner()


def report(tmp_path, *args):
    out = tmp_path / "rep"
    result = runner.invoke(app, ["report", *map(str, args), "--template-only", "--out", str(out)])
    return result, out


@pytest.mark.parametrize("rpm, shown", [("1e9", "1e+09"), ("1", "1"), ("0", "0"), ("-5", "-5")])
def test_an_implausible_shaft_speed_is_refused_naming_it(tmp_path, cwru_dir, rpm, shown):
    result, out = report(tmp_path, cwru_dir / "130.mat", "--rpm", rpm)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"--rpm must be between 30 and 60000 rpm" in text and text.rstrip().endswith(f"got {shown}") and not out.exists()


def test_the_plausible_speed_range_is_the_report_configs(tmp_path, cwru_dir):
    result, _ = report(tmp_path, cwru_dir / "130.mat", "--rpm", "60", "--set", "min_rpm=100")
    assert result.exit_code == 2 and "--rpm must be between 100 and 60000 rpm" in " ".join(result.output.split())
    result, _ = report(tmp_path, cwru_dir / "130.mat", "--set", "min_rpm=200", "--set", "max_rpm=100")
    assert result.exit_code == 2 and "min_rpm 200 must be below max_rpm 100" in result.output
    config = ReportConfig(rpm=10.0)
    with pytest.raises(Exception, match="the shaft speed must be between 30 and 60000 rpm.*got 10"):
        evidence_of(impacts(), 12000.0, 10.0 / 60, "DE", config)


def findings_of(out):
    found = json.loads((out / "findings.json").read_text())
    found.pop("text")
    found.pop("seconds")
    return found


def test_lines_above_the_envelopes_reach_are_not_checkable_and_never_called_absent(tmp_path, cwru_dir):
    result, out = report(tmp_path, cwru_dir / "130.mat", "--rpm", "40000")  # the lines at 2.4-3.6 kHz; the envelope reaches < 1 kHz
    assert result.exit_code == 0, result.output
    found = findings_of(out)
    e = found["evidence"]
    assert set(e["unchecked"]) == {"BPFI", "BPFO", "2xBSF", "FTF"} and e["strongest"] == "none"
    assert re.match(r"BPFO at 2389\.9 Hz lies above the \d+ Hz that the envelope of the band \d+-\d+ Hz reaches", e["unchecked"]["BPFO"])
    assert all(not line["checked"] and line["harmonics"] == [] for line in e["lines"].values())
    text = (out / "report.md").read_text()
    assert "no bearing defect line stands out" not in text and "BPFI, BPFO, 2xBSF could not be checked" in text
    assert found["recommendation"]["basis"] == "unchecked" and found["recommendation"]["urgency"] != "none"
    assert re.search(r"\| outer race \| BPFO \| 2389\.[89] \| - \| - \| not checkable \|", text)
    written = template_text(found)
    assert ungrounded(written, found) == [] and omissions(written, found) == []


def test_lines_too_low_for_the_resolution_are_not_checkable(tmp_path, cwru_dir):
    result, out = report(tmp_path, cwru_dir / "130.mat", "--rpm", "1", "--set", "min_rpm=1")
    assert result.exit_code == 0, result.output
    e = findings_of(out)["evidence"]
    assert set(e["unchecked"]) == {"BPFI", "BPFO", "2xBSF", "FTF"}
    assert e["unchecked"]["BPFO"].startswith("BPFO at 0.0597 Hz lies below the") and re.search(r"a 0\.44\d* Hz resolution", e["unchecked"]["BPFO"])
    text = (out / "report.md").read_text()
    assert "no bearing defect line stands out" not in text and "Urgency: none" not in text


def test_a_harmonic_beyond_reach_makes_its_line_unchecked_and_says_how_many_harmonics_fit():
    geometry = bearing("cwru-drive-end")
    shaft = 107.4 / geometry.orders()["BPFO"]
    evidence, spectrum = bearing_evidence(impacts(seconds=4.0), 12000.0, geometry, shaft, harmonics=20)  # 20 x 107.4 Hz: beyond any band
    outer = evidence["lines"]["outer_race"]
    reach = spectrum.band[1] - spectrum.band[0]
    first = next(h for h in range(1, 21) if h * 107.4 + max(h * 107.4 * 0.02, 1.5 * spectrum.resolution_hz) > reach)
    assert not outer["checked"] and outer["not_checkable"].startswith(f"{first}xBPFO at")
    assert outer["not_checkable"].endswith(f"check only {first - 1} harmonic(s) (--set harmonics={first - 1})")
    checked, _ = bearing_evidence(impacts(seconds=4.0), 12000.0, geometry, shaft, harmonics=first - 1)
    line = checked["lines"]["outer_race"]  # a harmonic on a shaft harmonic is left out, saying so
    assert checked["strongest"] == "outer_race" and len(line["harmonics"]) + len(line["harmonics_left_out"]) == first - 1


def test_a_speed_far_from_the_files_own_is_warned_about(tmp_path, cwru_dir):
    result, out = report(tmp_path, cwru_dir / "130.mat", "--rpm", "1500")
    assert result.exit_code == 0, result.output
    found = findings_of(out)
    assert found["evidence"]["warnings"] == [
        "the shaft speed given, 1500 rpm, differs from the recording's own X130RPM of 1796 rpm by 16%, more than the 2% slip "
        "tolerance: the lines were looked for at the speed given"]
    assert found["recommendation"]["actions"][0].startswith("check the shaft speed before acting on this report")
    assert "Warning: the shaft speed given, 1500 rpm" in (out / "report.md").read_text()
    written = template_text(found)
    assert ungrounded(written, found) == [] and omissions(written, found) == []
    result, out = report(tmp_path / "near", cwru_dir / "130.mat", "--rpm", "1797")
    assert result.exit_code == 0 and findings_of(out)["evidence"]["warnings"] == []


def test_a_classifier_fault_whose_line_cannot_be_checked_is_said_so():
    evidence, _ = bearing_evidence(impacts(), 12000.0, bearing("cwru-drive-end"), 40000 / 60)
    description = "inner race fault at motor end with diameter 0.007 inches"
    diagnosis = {"model": "m", "prediction": "DE_IR007", "description": description, "probability": 0.9,
                 "top": [{"class": "DE_IR007", "probability": 0.9}], "windows": 10, **fault_of(description)}
    findings = build_findings("r.npy", 2.0, 12000.0, evidence, diagnosis)
    agree = findings["agreement"]
    assert agree["agree"] is None and agree["note"].startswith("the model says inner race, but its BPFI line could not be checked: BPFI at")
    assert any(p.startswith("Not checked: the model says inner race") for p in sections(findings, write(findings, None))[1][1])
    written = template_text(findings)
    assert ungrounded(written, findings) == [] and omissions(written, findings) == []


def test_a_flat_signal_is_refused_by_the_report_and_the_live_reports_evidence(tmp_path):
    recording = tmp_path / "flat.npy"
    np.save(recording, np.full(24000, 0.25))
    result, out = report(tmp_path, recording, "--rpm", "1797", "--set", "fs=12000")
    assert result.exit_code == 2 and "the signal is flat (constant at 0.25)" in " ".join(result.output.split()) and not out.exists()
    with pytest.raises(DataError, match=r"site/pump-3: the signal is flat \(constant at 0\)"):
        evidence_of(np.zeros(36000), 12000.0, 29.95, "site/pump-3", ReportConfig(generator=None), bearing("cwru-drive-end"))


def test_a_line_over_a_zero_floor_has_a_finite_ratio():
    freqs = np.arange(0.0, 500.0, 1.0)
    amplitude = np.zeros_like(freqs)
    amplitude[107] = 0.5
    peak = peak_at(EnvelopeSpectrum(freqs, amplitude, (3000.0, 3750.0), 5.0, 12000.0), "BPFO", 107.4)
    assert peak.found_hz == 107.0 and np.isfinite(peak.ratio) and peak.ratio == pytest.approx(1e12)
    json.dumps({"ratio": round(peak.ratio, 2)}, allow_nan=False)


def test_the_evidence_reads_an_iterator_of_segments_once_as_it_would_the_whole_signal():
    x = impacts(seconds=3.0)
    read = []

    def segments():
        for start in (0, 6000, 12000, 18000, 24000):
            read.append(start)
            yield x[start : start + 12000]

    geometry = bearing("cwru-drive-end")
    streamed, _ = bearing_evidence(segments(), 12000.0, geometry, 29.95)
    whole, _ = bearing_evidence(x, 12000.0, geometry, 29.95)
    assert read == [0, 6000, 12000, 18000, 24000] and streamed["segments"] == 5
    assert streamed["lines"] == whole["lines"] and streamed["velocity_rms_mm_s"] == whole["velocity_rms_mm_s"]


MEASURE = ("import json, resource, subprocess, sys\n"
           "code = subprocess.run(sys.argv[1:], capture_output=True).returncode\n"
           "print(json.dumps({'exit_code': code, 'max_rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n")


def test_a_ten_minute_recording_is_reported_in_bounded_memory(tmp_path, cwru_dir):
    """Before streaming, a 10-minute report peaked at 867 MB; now the signal is never resident whole (about 160 MB)."""
    import scipy.io

    source = scipy.io.loadmat(str(cwru_dir / "130.mat"), variable_names=["X130_DE_time"])["X130_DE_time"].ravel().astype(np.float32)
    n = 10 * 60 * 12000
    recording = np.lib.format.open_memmap(tmp_path / "ten.npy", mode="w+", dtype=np.float32, shape=(n,))
    for start in range(0, n, source.size):
        recording[start : start + source.size] = source[: n - start]
    recording.flush()
    del recording
    command = [sys.executable, "-c", "from syndiag.cli import app; app()", "report", str(tmp_path / "ten.npy"), "--rpm", "1796",
               "--set", "fs=12000", "--template-only", "--out", str(tmp_path / "rep")]
    run = json.loads(subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True).stdout)
    assert run["exit_code"] == 0 and run["max_rss_kb"] / 1024 < 400, run
    evidence = json.loads((tmp_path / "rep" / "findings.json").read_text())["evidence"]
    assert evidence["strongest"] == "outer_race" and evidence["segments"] == 119 and evidence["resolution_hz"] == 0.1


def test_a_pytorch_classifier_is_loaded_once_for_diagnosis_and_saliency(tmp_path, cwru_dir, monkeypatch):
    from tiny_checkpoint import tiny_checkpoint

    from syndiag.models.cloud import SynDiagCloud

    checkpoint = tiny_checkpoint(tmp_path / "cloud", tmp_path / "tiny-llama", length=512, step=2048, image_size=32, n_scales=8)
    loads = []
    real = SynDiagCloud.from_pretrained.__func__

    def counted(cls, *args, **kwargs):
        loads.append(args[0])
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(SynDiagCloud, "from_pretrained", classmethod(counted))
    result, out = report(tmp_path, cwru_dir / "105.mat", "--checkpoint", checkpoint)
    assert result.exit_code == 0, result.output
    assert len(loads) == 1 and (out / "spectrogram_and_gradient_saliency.png").read_bytes()[:4] == b"\x89PNG"
