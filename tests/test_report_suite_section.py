"""The reports suite's BENCHMARKS section counts each report once: a rerun appended to the same results file supersedes
the earlier run's lines (the latest line per segment or bearing), it is not counted beside them."""

import json

from syndiag.evaluation.report_suite_report import report_suite_section

MACHINE = {"cpu": "test cpu", "cores": 2}


def segment(commit: str, index: int, evidence: str, first_pass: bool) -> dict:
    return {"suite": "report", "kind": "cwru-segment", "class": "DE_IR007", "condition": "1730rpm", "segment": index,
            "true_fault": "inner_race", "location": "drive end", "evidence": evidence, "predicted_fault": "inner_race",
            "text_names_classifier": True, "segment_s": 1.0, "generated": True, "text_path": "generated" if first_pass else "template",
            "attempts": [{"path": "generated", "problems": [] if first_pass else ["fault type 'ball' is not in the findings"]}],
            "seconds": 2.0, "command": f"syndiag benchmark --suite reports ({commit})", "commit": commit * 5, "machine": MACHINE}


def bearing(commit: str, text_path: str) -> dict:
    return {"suite": "report", "kind": "femto-bearing", "bearing": "Bearing1_4", "evidence": "inner_race", "evidence_ratio": 3.1,
            "zone": "C", "velocity_mm_s": 5.0, "alarm_on": True, "rul_s": 3600.0, "text_path": text_path, "generated": True,
            "attempts": [{"path": "generated", "problems": [] if text_path == "generated" else ["fault type 'ball' is not in the findings"]}],
            "seconds": 3.0, "command": f"syndiag benchmark --suite reports ({commit})", "commit": commit * 5, "machine": MACHINE}


def test_a_rerun_supersedes_the_earlier_runs_lines_per_segment_and_bearing(tmp_path):
    old = [segment("0ld00000", i, "outer_race", False) for i in range(4)] + [bearing("0ld00000", "template")]
    new = [segment("new00000", i, "inner_race", True) for i in range(4)] + [bearing("new00000", "generated")]
    path = tmp_path / "report_cwru_femto_cpu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in old + new))
    text = "\n".join(report_suite_section(path, tmp_path, lambda p, start: str(p)))
    assert "| drive end | inner_race | 1.00 (4/4) |" in text
    assert "generated texts: 5; grounding pass at the first attempt 1.00 (5/5)" in text
    assert "0ld00000" not in text and "new00000" in text
    assert text.count("| Bearing1_4 |") == 1 and "| Bearing1_4 | inner_race | 3.1 | C (5.00) | yes | 1.00 | generated |" in text
    assert "fault type 'ball'" not in text


def test_a_partial_rerun_keeps_the_earlier_lines_it_did_not_redo(tmp_path):
    lines = [segment("0ld00000", i, "outer_race", True) for i in range(4)] + [segment("new00000", 0, "inner_race", True)]
    path = tmp_path / "report_cwru_femto_cpu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    text = "\n".join(report_suite_section(path, tmp_path, lambda p, start: str(p)))
    assert "| drive end | inner_race | 0.25 (1/4) |" in text and "generated texts: 4;" in text
