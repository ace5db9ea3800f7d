"""Seconds per report on this machine (issue 20), the default language model writing the text, the classifier a
fine-tuned Syn-Diag cloud checkpoint; run it on an idle machine (the report suite's own timings ran beside other jobs).

    python benchmarks/bench_report_speed.py --checkpoint runs/report-suite/classifier/finetuned \
        --files ../shared/data/cwru/105.mat ../shared/data/cwru/118.mat ../shared/data/cwru/130.mat

The language model loads once (as in the suite and in a long-running service); each report is timed whole: reading,
the classifier, the evidence, the text (with its checks and any retry), Markdown, HTML and figures written. Writes
benchmarks/results/report_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.config.report import ReportConfig  # noqa: E402
from syndiag.report.writer import Generator  # noqa: E402
from syndiag.workflows.report import run_report  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--files", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "report_speed.json")
    args = parser.parse_args()
    config = ReportConfig()
    started = time.perf_counter()
    generator = Generator(config.generator, config.max_new_tokens)
    load_s = time.perf_counter() - started
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for file in args.files:
            report = run_report(file, args.checkpoint, config, Path(tmp) / file.stem, generator)
            rows.append({"file": file.name, "seconds": report.seconds, "text_path": report.written.path,
                         "text_seconds": round(report.written.seconds, 3)})
            print(json.dumps(rows[-1]))
    seconds = sorted(r["seconds"] for r in rows)
    atomic_write_text(args.out, json.dumps({**provenance(), "checkpoint": str(args.checkpoint), "generator": config.generator,
                                            "generator_load_s": round(load_s, 2), "reports": rows,
                                            "median_s": seconds[len(seconds) // 2], "max_s": seconds[-1]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
