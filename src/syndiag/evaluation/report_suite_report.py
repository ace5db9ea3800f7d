"""The reports suite's section of BENCHMARKS.md (issue 20): evidence agreement with the true fault type per class, text
agreement with the classifier, grounding pass rate before fallback, template share, seconds per report; FEMTO bearings."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from syndiag.evaluation.metrics import read_results

FAULTS = ("inner_race", "outer_race", "ball", "normal")


def _share(values: list[bool]) -> str:
    return f"{np.mean(values):.2f} ({sum(values)}/{len(values)})" if values else "–"


def latest_per_report(records: list[dict]) -> list[dict]:
    """One line per report (a CWRU segment: class, condition, segment; a FEMTO bearing): the last one appended, so a
    rerun appended to the same file supersedes the earlier run's lines instead of being counted beside them."""
    latest: dict[tuple, dict] = {}
    for r in records:
        latest[(r.get("kind"), r.get("class"), r.get("condition"), r.get("segment"), r.get("bearing"))] = r
    return list(latest.values())


def report_suite_section(path: Path, report_dir: Path, display) -> list[str]:
    records = latest_per_report(read_results(path))
    segments = [r for r in records if r.get("kind") == "cwru-segment"]  # other report_* files (the writer's) hold no segments
    if not segments:
        return []
    first = segments[0]
    lines = [f"## Diagnosis reports: evidence, grounding, speed (`{path.name}`)", "",
             f"- command(s): {'; '.join(sorted({'`' + r['command'] + '`' for r in records}))}",
             f"- commit(s): {', '.join(sorted({r['commit'][:10] for r in records}))}; machine: {first['machine']['cpu']} ({first['machine']['cores']} cores)",
             f"- {len(segments)} segments of the CWRU test halves ({', '.join(sorted({r['condition'] for r in segments}))}), "
             f"{max(r['segment_s'] for r in segments):g} s each ({min(r['segment_s'] for r in segments):g} s where the test half is "
             "shorter: the normal class's quarter of 97.mat); the evidence reads the faulty bearing's own accelerometer; "
             "`evidence right`: the characteristic line that stands out most (peak/floor >= 3) is the true fault type's "
             "(normal: none stands out)", ""]
    by_class: dict[tuple, list[bool]] = defaultdict(list)
    for r in segments:
        truth = r["true_fault"]
        right = r["evidence"] == ("none" if truth == "normal" else truth)
        by_class[(r["location"] or "-", truth)].append(right)
    lines += ["| bearing | fault type | evidence right |", "|---|---|---|"]
    for (location, fault), values in sorted(by_class.items()):
        lines.append(f"| {location} | {fault} | {_share(values)} |")
    drive = [v for (loc, f), vs in by_class.items() if loc == "drive end" and f in ("inner_race", "outer_race") for v in vs]
    lines += ["", f"- drive-end inner and outer race together: {_share(drive)} (target >= 0.90)"]
    generated = [r for r in records if r.get("generated")]
    first_pass = [bool(r["attempts"]) and not r["attempts"][0]["problems"] for r in generated]
    any_pass = [r["text_path"] != "template" for r in generated]
    seconds = [r["seconds"] for r in generated]
    lines += [f"- classifier right (fault type): {_share([r['predicted_fault'] == r['true_fault'] for r in segments])}; text names the "
              f"classifier's fault type: {_share([r['text_names_classifier'] for r in segments])}",
              f"- generated texts: {len(generated)}; grounding pass at the first attempt {_share(first_pass)}, after the tighter retry "
              f"{_share(any_pass)}; templated fallbacks {_share([not v for v in any_pass])} (target: pass >= 0.90 before fallback)",
              f"- seconds per report with generated text: median {np.median(seconds):.1f}, max {np.max(seconds):.1f} (target <= 10)"
              if seconds else "- no generated text", ""]
    problems = defaultdict(int)
    for r in generated:
        for attempt in r["attempts"]:
            for problem in attempt["problems"]:
                problems[problem.split(" is not")[0].split(" (")[0]] += 1
    if problems:
        lines += ["Most frequent grounding failures: " + "; ".join(f"{k} ({v})" for k, v in sorted(problems.items(), key=lambda kv: -kv[1])[:8]), ""]
    femto = [r for r in records if r["kind"] == "femto-bearing"]
    if femto:
        lines += ["| FEMTO test bearing | strongest line | peak/floor | ISO zone (mm/s) | alarm on | RUL (h) | text |", "|---|---|---|---|---|---|---|"]
        for r in femto:
            rul = "–" if r["rul_s"] is None else f"{r['rul_s'] / 3600:.2f}"
            lines.append(f"| {r['bearing']} | {r['evidence']} | {r['evidence_ratio']:.1f} | {r['zone']} ({r['velocity_mm_s']:.2f}) | "
                         f"{ {True: 'yes', False: 'no', None: 'n/a'}[r['alarm_on']] } | {rul} | {r['text_path']} |")
        lines.append("")
    examples = sorted(p.parent for p in (path.parent / "reports").glob("*/report.md"))
    if examples:
        lines += ["Example reports: " + ", ".join(f"[{p.name}]({display(p / 'report.md', report_dir)})" for p in examples), ""]
    return lines
