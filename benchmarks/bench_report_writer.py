"""The report writers on the same findings (issue 31): SmolLM2-135M generating freely against choosing among phrasings
filled from the findings, both under the claim-level grounding check. Replays the committed example reports' findings
(benchmarks/results/reports/*/findings.json, their text left out, the physics/classifier ranking applied), so no model
but the writer runs:

    python benchmarks/bench_report_writer.py

With ``--suite DATA_ROOT`` it replays instead the report suite's reports without their classifier: segment 0 of every CWRU
class at each of the suite's conditions (the segment whose text the suite has the model write) and every FEMTO test
bearing folder (no RUL checkpoint), their findings built by the committed evidence code:

    python benchmarks/bench_report_writer.py --suite ../shared/data

Per report and mode: the path (generated at the first attempt, regenerated, template), the problems and removed
sentences of each attempt, seconds of writing, and the delivered sentences the check finds no finding for (must be 0).
Writes benchmarks/results/report_writer_cpu.jsonl and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance, write_table  # noqa: E402

from syndiag.evaluation.metrics import append_result  # noqa: E402
from syndiag.report.claims import check_text  # noqa: E402
from syndiag.report.ranking import apply_ranking  # noqa: E402
from syndiag.report.writer import MODES, Generator, template_text, write  # noqa: E402


def suite_findings(root: Path):
    """(name, findings) of the report suite's segment 0 per CWRU class and condition (evidence only) and FEMTO test bearings."""
    # deferred: only --suite reads recordings (and loads the suite's data configuration)
    from syndiag.config.profiles import profile_path
    from syndiag.config.report import ReportSuiteConfig
    from syndiag.config.run import RunConfig
    from syndiag.data.cwru import load_cwru
    from syndiag.data.cwru_classes import CWRU_LOADS, condition_name
    from syndiag.data.femto import femto_folder
    from syndiag.data.paths import dataset_folder
    from syndiag.report.findings import build_findings, fault_of
    from syndiag.workflows.report import LOCATION_CHANNEL, evidence_of, report_unit
    from syndiag.workflows.report_suite import segments

    config = ReportSuiteConfig()
    data = RunConfig.from_yaml(profile_path(config.recipe), {}).data
    loads = [load for load in CWRU_LOADS if condition_name(load) in config.conditions]
    recordings = load_cwru(dataset_folder(root, "cwru"), data.cwru.model_copy(update={"loads": loads}))
    for rec in recordings.recordings:
        description = next(c.prompt for c in recordings.classes if c.name == rec.label)
        rpm = float(CWRU_LOADS[next(load for load in loads if condition_name(load) == rec.condition)])
        _, segment = segments(rec.signal, rec.fs, config)[0]
        channel = LOCATION_CHANNEL.get(fault_of(description)["location"] or "", "DE")
        report = config.report.model_copy(update={"resolution_hz": max(config.report.resolution_hz or 1.0, rec.fs / segment.shape[1])})
        evidence, _ = evidence_of(segment[list(rec.channels).index(channel)], rec.fs, rpm / 60, channel, report)
        yield f"cwru-{rec.label}-{rec.condition}", build_findings(rec.source, segment.shape[1] / rec.fs, rec.fs, evidence)
    for folder in sorted(p for p in (femto_folder(root) / "Test_set").iterdir() if p.is_dir()):
        yield f"femto-{folder.name}", report_unit(folder, config.report)[0]


def summary(records: list[dict]) -> str:
    rows = ["| findings | writer | reports | accepted at the first attempt | sentences removed | template | unsupported delivered | median s |",
            "|---|---|---|---|---|---|---|---|"]
    for source, mode in dict.fromkeys((r.get("findings_from", "committed example reports"), r["mode"]) for r in records):
        mine = [r for r in records if r["mode"] == mode and r.get("findings_from", "committed example reports") == source]
        seconds = sorted(r["seconds"] for r in mine)
        rows.append(f"| {source} | {mine[0]['generator']} {mode} | {len(mine)} | {sum(r['first_attempt'] for r in mine)}/{len(mine)} | "
                    f"{sum(len(a['removed']) for r in mine for a in r['attempts'])} | {sum(r['path'] == 'template' for r in mine)} | "
                    f"{sum(r['unsupported_delivered'] for r in mine)} | {seconds[len(seconds) // 2]:.2f} |")
    return "# Report writers on the same findings (issue 31)\n\n" + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=Path, nargs="*", default=sorted((ROOT / "results" / "reports").glob("*/findings.json")))
    parser.add_argument("--generator", default="smollm2-135m")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "report_writer_cpu.jsonl")
    parser.add_argument("--suite", type=Path, default=None, help="data root: replay the report suite's reports, evidence only")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    args = parser.parse_args()
    if args.suite is not None:
        source, cases = "report suite segments, evidence only", list(suite_findings(args.suite))
    else:
        source = "committed example reports"
        cases = [(file.parent.name, {k: v for k, v in json.loads(file.read_text(encoding="utf-8")).items() if k not in ("text", "seconds")})
                 for file in args.findings]
    for mode in args.modes:
        started = time.perf_counter()
        generator = Generator(args.generator, 64, mode)
        load_s = time.perf_counter() - started
        for name, findings in cases:
            findings = apply_ranking(findings)
            started = time.perf_counter()
            written = write(findings, generator)
            seconds = time.perf_counter() - started
            checks = check_text(written.text, findings, template_text(findings))
            record = {"suite": "report-writer", "report": name, "findings_from": source, "generator": args.generator, "mode": mode, "path": written.path,
                      "first_attempt": written.path == "generated", "attempts": written.attempts, "text": written.text,
                      "unsupported_delivered": sum(not c.supported for c in checks), "seconds": round(seconds, 3),
                      "load_s": round(load_s, 2), **provenance()}
            append_result(args.out, record)
            print(json.dumps({k: record[k] for k in ("report", "mode", "path", "seconds", "unsupported_delivered")}))
    return write_table(args.out, summary)


if __name__ == "__main__":
    sys.exit(main())
