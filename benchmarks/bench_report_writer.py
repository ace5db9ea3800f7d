"""The report writers on the same findings (issue 31): SmolLM2-135M generating freely against choosing among phrasings
filled from the findings, both under the claim-level grounding check. Replays the committed example reports' findings
(benchmarks/results/reports/*/findings.json, their text left out, the physics/classifier ranking applied), so no model
but the writer runs:

    python benchmarks/bench_report_writer.py

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


def summary(records: list[dict]) -> str:
    rows = ["| writer | reports | accepted at the first attempt | sentences removed | template | unsupported delivered | median s |",
            "|---|---|---|---|---|---|---|"]
    for mode in MODES:
        mine = [r for r in records if r["mode"] == mode]
        if not mine:
            continue
        seconds = sorted(r["seconds"] for r in mine)
        rows.append(f"| {mine[0]['generator']} {mode} | {len(mine)} | {sum(r['first_attempt'] for r in mine)}/{len(mine)} | "
                    f"{sum(len(a['removed']) for r in mine for a in r['attempts'])} | {sum(r['path'] == 'template' for r in mine)} | "
                    f"{sum(r['unsupported_delivered'] for r in mine)} | {seconds[len(seconds) // 2]:.2f} |")
    return "# Report writers on the committed example findings\n\n" + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=Path, nargs="*", default=sorted((ROOT / "results" / "reports").glob("*/findings.json")))
    parser.add_argument("--generator", default="smollm2-135m")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "report_writer_cpu.jsonl")
    args = parser.parse_args()
    for mode in MODES:
        started = time.perf_counter()
        generator = Generator(args.generator, 64, mode)
        load_s = time.perf_counter() - started
        for file in args.findings:
            findings = {k: v for k, v in json.loads(file.read_text(encoding="utf-8")).items() if k not in ("text", "seconds")}
            findings = apply_ranking(findings)
            started = time.perf_counter()
            written = write(findings, generator)
            seconds = time.perf_counter() - started
            checks = check_text(written.text, findings, template_text(findings))
            record = {"suite": "report-writer", "report": file.parent.name, "generator": args.generator, "mode": mode, "path": written.path,
                      "first_attempt": written.path == "generated", "attempts": written.attempts, "text": written.text,
                      "unsupported_delivered": sum(not c.supported for c in checks), "seconds": round(seconds, 3),
                      "load_s": round(load_s, 2), **provenance()}
            append_result(args.out, record)
            print(json.dumps({k: record[k] for k in ("report", "mode", "path", "seconds", "unsupported_delivered")}))
    return write_table(args.out, summary)


if __name__ == "__main__":
    sys.exit(main())
