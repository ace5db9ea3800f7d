"""Zero-shot classes from their description by physics (issue 30, item 3): each compositional split of the zeroshot
suite (configs/openset/cwru.yaml), three seeds, the routes of ``workflows/zeroshot_physics.py`` (defect lines,
attribute transfer, both) with the random-text ablation; beside them the language-model route's own results
(zeroshot_cwru_cpu.jsonl, the zeroshot suite).

    python benchmarks/bench_zeroshot_physics.py --data-root ../shared/data

Results: benchmarks/results/zeroshot-physics_cwru_cpu.jsonl (one line per split and seed) and .md. A description that
names no fault type or location is refused before anything is computed (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, write_table  # noqa: E402

from syndiag.config.openset import OpenSetConfig  # noqa: E402
from syndiag.config.profiles import profile_path  # noqa: E402
from syndiag.errors import SyndiagError  # noqa: E402
from syndiag.evaluation.metrics import read_results  # noqa: E402
from syndiag.workflows.zeroshot_physics import ROUTES, run_zeroshot_physics  # noqa: E402

RESULTS = ROOT / "results" / "zeroshot-physics_cwru_cpu.jsonl"  # not zeroshot_*: the zeroshot suite's section reads those
LANGUAGE_MODEL = ROOT / "results" / "zeroshot_cwru_cpu.jsonl"


def language_model_rows(splits: list[str]) -> list[str]:
    """The language-model route per split (cloud backbone, SmolLM2 texts and random-token texts), from its own results."""
    records = [r for r in read_results(LANGUAGE_MODEL) if r.get("backbone") == "cloud"] if LANGUAGE_MODEL.is_file() else []
    rows = []
    for source in ("language-model", "random-tokens"):
        cells = []
        for split in splits:
            mine = [r["metrics"]["text"] for r in records if r["split"] == split and r["text_source"] == source]
            cells.append(f"{mean_interval([m['new'] for m in mine])} ({len(mine)} seeds; among new {mean_interval([m['new_among_new'] for m in mine])})"
                         if mine else "not run")
        rows.append(f"| (a) language model, text of {source} (cloud, `zeroshot_cwru_cpu.jsonl`) | " + " | ".join(cells) + " |")
    return rows


def table_head(records: list[dict], title: str, what: str, gate: str) -> list[str]:
    """A zero-shot table's title, provenance, reading and header row (one column per split)."""
    splits = list(dict.fromkeys(r["split"] for r in records))
    first = records[0]
    return [f"# {title}", "", f"`{first['command']}`, commit `{first['commit'][:10]}`, {first['machine']['cpu']} ({first['machine']['cores']} cores), "
            f"condition {first['condition']}{what}, seeds {sorted({r['seed'] for r in records})}.", "",
            "New-class test windows classified among all 19 classes (chance 0.053), mean ± 95 % interval over seeds; in brackets "
            f"among the two new classes only (chance 0.5). {gate}", "", "| route | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]


def route_rows(records: list[dict], rows: list[tuple[str, str, str]]) -> list[str]:
    """One line per (metrics kind, route, label): new among all (among new) per split."""
    splits = list(dict.fromkeys(r["split"] for r in records))
    lines = []
    for kind, route, label in rows:
        cells = []
        for split in splits:
            mine = [r["metrics"][kind][route] for r in records if r["split"] == split]
            cells.append(f"{mean_interval([m['new'] for m in mine])} ({mean_interval([m['new_among_new'] for m in mine])})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def summary(records: list[dict]) -> str:
    splits = list(dict.fromkeys(r["split"] for r in records))
    first = records[0]
    lines = table_head(records, "Zero-shot classes from their description: physics routes (cpu)", "",
                       "A window goes to a new class only when the seen classes' log-spectrum Mahalanobis score flags it (threshold: 1 % of held-in seen windows).")
    kinds = (("described", "description"), ("random_text", f"random descriptions (ablation, mean of {first['random_draws']} draws)"),
             ("swapped", "the new classes' descriptions swapped (ablation)"))
    lines += route_rows(records, [(kind, route, f"(b) {route}, {label}") for kind, label in kinds for route in ROUTES])
    lines += language_model_rows(splits)
    lines += ["", "| split | new windows flagged | seen windows flagged | seen windows right (described, combined) |", "|---|---|---|---|"]
    for split in splits:
        mine = [r for r in records if r["split"] == split]
        lines.append(f"| {split} | {mean_interval([r['novelty']['new_flagged'] for r in mine])} | {mean_interval([r['novelty']['seen_flagged'] for r in mine])} | "
                     f"{mean_interval([r['metrics']['described']['combined']['seen'] for r in mine])} |")
    lines += ["", "Size by energy ordering (a check, not used by any route): the energy (sum of the two channels' log RMS) that the "
              "seen classes of the same fault type predict for a new class's size (those of that size, else a line over size), "
              "its test windows' mean, and the share of its windows nearer its own prediction than the other new class's.", "",
              "| new class | predicted | test windows' mean | nearer its own prediction |", "|---|---|---|---|"]
    for name in dict.fromkeys(n for r in records for n in r["energy_size"]):
        mine = [r["energy_size"][name] for r in records if name in r["energy_size"]]
        lines.append(f"| {name} | {np.mean([m['predicted'] for m in mine]):.2f} | {np.mean([m['test_mean'] for m in mine]):.2f} | "
                     f"{mean_interval([m['nearer_own'] for m in mine])} |")
    worst = {route: min(float(np.mean([r["metrics"]["described"][route]["new"] for r in records if r["split"] == s])) for s in splits) for route in ROUTES}
    lines += ["", "Worst split, new classes among all: " + ", ".join(f"{route} {value:.3f}" for route, value in worst.items()) + "."]
    return "\n".join(lines) + "\n"


def main_of(run, results: Path, table, description: str, argv: list[str] | None = None) -> int:
    """The zero-shot benchmarks' command line: ``run(config, results, overrides, allow_dirty=...)``, then ``table`` written
    beside the results; a bad configuration or description: the error and exit status 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--config", default="openset/cwru.yaml", help="the open-set recipe whose splits, seeds and condition are used")
    parser.add_argument("--work-dir", type=Path, default=None, help="where aligned extractors are kept (default: the recipe's)")
    parser.add_argument("--results", type=Path, default=results)
    parser.add_argument("--allow-dirty", action="store_true", help="measure uncommitted code (never for committed results)")
    args = parser.parse_args(argv)
    try:
        config = OpenSetConfig.from_yaml(profile_path(args.config))
        if args.work_dir is not None:
            config = config.model_copy(update={"work_dir": args.work_dir})
        run(config, args.results, {"data.data_root": str(args.data_root)}, allow_dirty=args.allow_dirty)
    except SyndiagError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return write_table(args.results, table)


def main() -> int:
    return main_of(run_zeroshot_physics, RESULTS, summary, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
