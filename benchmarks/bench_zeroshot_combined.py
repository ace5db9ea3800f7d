"""Zero-shot classes from their description: the language-model route, the physics routes' gate and attributes, and
their combination on the same windows (issue 30, item 3; ``workflows/zeroshot_combined.py``), each compositional split
of configs/openset/cwru.yaml, three seeds, the cloud model (SmolLM2, first 10 blocks) aligned on the seen classes.

    python benchmarks/bench_zeroshot_combined.py --data-root ../shared/data [--work-dir runs/openset]

Results: benchmarks/results/zeroshot-combined_cwru_cpu.jsonl (one line per split and seed) and .md. Each cell aligns
the extractor once (about 4 minutes on 2 CPU cores) into the zeroshot suite's cache folder, reused when present.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from bench_zeroshot_physics import main_of, route_rows, table_head  # noqa: E402
from machine import mean_interval  # noqa: E402

from syndiag.workflows.zeroshot_combined import COMBINED_ROUTES, run_zeroshot_combined  # noqa: E402

RESULTS = ROOT / "results" / "zeroshot-combined_cwru_cpu.jsonl"  # not zeroshot_*: the zeroshot suite's section reads those


def summary(records: list[dict]) -> str:
    splits = list(dict.fromkeys(r["split"] for r in records))
    first = records[0]
    lines = table_head(records, "Zero-shot classes from their description: language model, physics, and both (cpu)",
                       f", {first['backbone']} ({first['backbone_name']})", "Gated: a window goes to a new class only when the seen "
                       "classes' log-spectrum Mahalanobis score flags it (1 % of held-in seen windows).")
    kinds = (("text", "description"), ("random_vectors", "new classes' t_g random (ablation)"))
    lines += route_rows(records, [(kind, route, f"{route}, {label}") for kind, label in kinds for route in COMBINED_ROUTES
                                  if not (kind == "random_vectors" and route == "attributes")])
    lines += ["", "| split | seen windows right: language-model | gated routes |", "|---|---|---|"]
    for split in splits:
        mine = [r["metrics"]["text"] for r in records if r["split"] == split]
        lines.append(f"| {split} | {mean_interval([m['language-model']['seen'] for m in mine])} | "
                     f"{mean_interval([m['language-model + attributes']['seen'] for m in mine])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    return main_of(run_zeroshot_combined, RESULTS, summary, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
