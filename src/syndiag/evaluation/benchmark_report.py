"""BENCHMARKS.md from the harness's results files: mean ± std, 95 % bootstrap intervals, the paper's numbers beside ours, plots."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_write_text
from syndiag.evaluation.benchmark_plots import plot_accuracy_vs_k
from syndiag.evaluation.metrics import classification_report, read_results, write_confusion_png
from syndiag.evaluation.paper_results import (
    TABLE1_CWRU_SAME_CONDITION,
    TABLE2_SEU_SAME_CONDITION,
    PaperResult,
    paper_result,
)
from syndiag.evaluation.report_suite_report import report_suite_section
from syndiag.evaluation.resources import resources_section
from syndiag.evaluation.rul_report import rul_section
from syndiag.evaluation.unknown_report import openset_section, zeroshot_section
from syndiag.evaluation.update_curves import write_update_curves

PAPER_NAMES = {"ResNet-50": "Resnet50"}


def correct_vector(record: dict) -> np.ndarray:
    """The per-test-window correctness bits a cell record stores (hex of numpy.packbits)."""
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(record["correct"]), dtype=np.uint8))
    return bits[: record["test_samples"]].astype(bool)


def two_level_bootstrap(vectors: list[np.ndarray], replicates: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean of per-seed vectors, resampling seeds and, within each, test windows."""
    rng = np.random.default_rng(seed)
    means = np.zeros(replicates)
    chosen = rng.integers(0, len(vectors), (replicates, len(vectors)))
    for slot in range(len(vectors)):
        for i, vector in enumerate(vectors):
            rows = np.flatnonzero(chosen[:, slot] == i)
            means[rows] += vector[rng.integers(0, vector.size, (rows.size, vector.size))].mean(axis=1)
    low, high = np.percentile(means / len(vectors), [2.5, 97.5])
    return float(low), float(high)


def bootstrap_interval(records: list[dict], replicates: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of the mean accuracy over a cell's seeds (two-level bootstrap)."""
    return two_level_bootstrap([correct_vector(r) for r in records], replicates, seed)


def cell_groups(records: list[dict]) -> dict[tuple, list[dict]]:
    """(source, target, k, method) -> the records of that cell, one per seed."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["conditions"]["source"][0], r["conditions"]["target"], r["k"], r["method"])].append(r)
    return groups


def paired_difference(records: list[dict], reference: list[dict], replicates: int = 2000, seed: int = 0) -> dict | None:
    """Mean of (reference − records) accuracy over the seeds both ran, with a 95 % paired bootstrap interval.

    Pairing is what makes the margin meaningful: the same seed gives both methods the same K-shot set and the same
    test windows, so seeds and then test windows are resampled jointly for the two methods.
    """
    by_seed = {r["seed"]: r for r in records}
    pairs = [(ref, by_seed[ref["seed"]]) for ref in reference if ref["seed"] in by_seed and ref["test_samples"] == by_seed[ref["seed"]]["test_samples"]]
    if not pairs:
        return None
    differences = [correct_vector(ref).astype(float) - correct_vector(other) for ref, other in pairs]
    return {"mean": float(np.mean([d.mean() for d in differences])), "interval": two_level_bootstrap(differences, replicates, seed),
            "seeds": sorted(ref["seed"] for ref, _ in pairs)}


def margin_section(records: list[dict], reference_method: str = "Syn-Diag-Cloud") -> list[str]:
    """Syn-Diag cloud minus every other method, cell by cell, paired on seeds and test windows: the ablations say what each part adds."""
    groups = cell_groups(records)
    cells = sorted({key[:3] for key in groups if key[3] == reference_method})
    methods = sorted({key[3] for key in groups if key[:3] in cells and key[3] != reference_method})
    differences = {(cell, method): paired_difference(groups.get((*cell, method), []), groups[(*cell, reference_method)])
                   for cell in cells for method in methods}
    methods = [m for m in methods if any(differences[(cell, m)] for cell in cells)]
    if not methods:
        return []
    verdicts: dict[str, list[str]] = defaultdict(list)
    rows = []
    for source, target, k in cells:
        texts = []
        for method in methods:
            d = differences[((source, target, k), method)]
            if d is None:
                texts.append("")
                continue
            low, high = d["interval"]
            verdicts[method].append("above" if low > 0 else "below" if high < 0 else "tied")
            texts.append(f"{d['mean']:+.4f} [{low:+.3f}, {high:+.3f}]")
        label = f"{target}" if source == target else f"{source} → {target}"
        rows.append(f"| {label} | {k} | " + " | ".join(texts) + " |")
    counts = " | ".join(f"{verdicts[m].count('above')} / {verdicts[m].count('tied')} / {verdicts[m].count('below')}" for m in methods)
    return [f"{reference_method} minus each method, paired on seeds and test windows: mean difference [95 % paired bootstrap interval]; "
            f"positive means {reference_method} is better. Last row: cells where it is above / tied with (the interval holds 0) / below the method.", "",
            "| condition | K | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods), *rows,
            "| above / tied / below | | " + counts + " |", ""]


def summarise(records: list[dict]) -> dict[tuple, dict]:
    """(source, target, k, method) -> mean, std, interval, seeds, noise means, median train seconds."""
    groups = cell_groups(records)
    summary = {}
    for key, rows in groups.items():
        accuracy = np.array([r["metrics"]["accuracy"] for r in rows])
        noise_levels = sorted({snr for r in rows for snr in r.get("accuracy_under_noise", {})}, key=float, reverse=True)
        summary[key] = {
            "mean": float(accuracy.mean()),
            "std": float(accuracy.std(ddof=1)) if len(rows) > 1 else 0.0,
            "interval": bootstrap_interval(rows),
            "seeds": sorted(r["seed"] for r in rows),
            "noise": {snr: float(np.mean([r["accuracy_under_noise"][snr] for r in rows if snr in r.get("accuracy_under_noise", {})])) for snr in noise_levels},
            "train_seconds": float(np.median([r["train_seconds"] for r in rows])),
        }
    return summary


def cell_text(s: dict, full_seeds: int = 1) -> str:
    """mean ± std [interval]; a cell with fewer seeds than the table's fullest cell names the seeds it has."""
    low, high = s["interval"]
    if len(s["seeds"]) == 1:
        spread = f"(seed {s['seeds'][0]} only)"
    else:
        spread = f"± {s['std']:.4f}" + (f" (seeds {', '.join(map(str, s['seeds']))})" if len(s["seeds"]) < full_seeds else "")
    return f"{s['mean']:.4f} {spread} [{low:.3f}, {high:.3f}]"


def table1_section(summary: dict[tuple, dict], figure_dir: Path, report_dir: Path, suite: str = "table1",
                   paper_table: list[PaperResult] = TABLE1_CWRU_SAME_CONDITION) -> list[str]:
    lines = []
    full_seeds = max(len(s["seeds"]) for s in summary.values())
    conditions = sorted({key[0] for key in summary})
    for condition in conditions:
        keys = [key for key in summary if key[0] == condition]
        shots = sorted({key[2] for key in keys})
        methods = sorted({key[3] for key in keys}, key=lambda m: -np.mean([summary[k]["mean"] for k in keys if k[3] == m]))
        lines += [f"### {condition}", "", "| method | " + " | ".join(f"{k}-shot" for k in shots) + " | paper (" + ", ".join(f"{k}" for k in shots) + "-shot) |",
                  "|---|" + "---|" * (len(shots) + 1)]
        for method in methods:
            cells = [cell_text(summary[(condition, condition, k, method)], full_seeds) if (condition, condition, k, method) in summary else "" for k in shots]
            paper = [paper_result(PAPER_NAMES.get(method, method), condition, k, paper_table) for k in shots]
            paper_text = ", ".join(f"{p.accuracy:.4f}" if p else "–" for p in paper)
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {paper_text} |")
        noise_k = 5 if 5 in shots else shots[-1]
        levels = sorted({snr for key in keys for snr in summary[key]["noise"]}, key=float, reverse=True)
        if levels:
            lines += ["", f"Robustness, {noise_k}-shot, white Gaussian noise added to the test windows (mean accuracy over seeds):", "",
                      "| method | clean | " + " | ".join(f"SNR {snr} dB" for snr in levels) + " |", "|---|---|" + "---|" * len(levels)]
            for method in methods:
                s = summary.get((condition, condition, noise_k, method))
                if s:
                    lines.append(f"| {method} | {s['mean']:.4f} | " + " | ".join(f"{s['noise'].get(snr, float('nan')):.4f}" for snr in levels) + " |")
        png = plot_accuracy_vs_k(summary, condition, methods, shots, figure_dir / f"{suite}_{condition}_accuracy_vs_k.png")
        lines += ["", f"![accuracy vs K, {condition}]({os.path.relpath(png, report_dir)})", ""]
    return lines


def table3_section(summary: dict[tuple, dict]) -> list[str]:
    methods = sorted({key[3] for key in summary})
    pairs = sorted({(key[0], key[1], key[2]) for key in summary})
    full_seeds = max(len(s["seeds"]) for s in summary.values())
    lines = ["| source → target | K | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for source, target, k in pairs:
        cells = [cell_text(summary[(source, target, k, m)], full_seeds) if (source, target, k, m) in summary else "" for m in methods]
        lines.append(f"| {source} → {target} | {k} | " + " | ".join(cells) + " |")
    complete = [p for p in pairs if all((*p, m) in summary for m in methods)]
    if complete:
        per_method = {m: [summary[(*p, m)]["mean"] for p in complete] for m in methods}
        lines.append(f"| mean over the {len(complete)} pairs every method has | | " + " | ".join(f"{np.mean(v):.4f}" for v in per_method.values()) + " |")
        lines.append("| lowest of those pairs | | " + " | ".join(f"{min(v):.4f}" for v in per_method.values()) + " |")
        lines.append("| pairs ≥ 0.95 | | " + " | ".join(f"{sum(x >= 0.95 for x in v)}/{len(v)}" for v in per_method.values()) + " |")
    return lines


def noise_rows(summary: dict[tuple, dict]) -> list[str]:
    """Accuracy under white Gaussian noise added to the test windows, per cell and method (mean over seeds), where cells have it."""
    keys = [key for key, value in summary.items() if value["noise"]]
    if not keys:
        return []
    levels = sorted({snr for key in keys for snr in summary[key]["noise"]}, key=float, reverse=True)
    lines = ["", "Robustness: white Gaussian noise added to the test windows (mean accuracy over seeds; clean / " +
             " / ".join(f"{snr} dB" for snr in levels) + "):", "", "| source → target | K | method | clean | " +
             " | ".join(f"SNR {snr} dB" for snr in levels) + " |", "|---|---|---|---|" + "---|" * len(levels)]
    for source, target, k, method in sorted(keys):
        s = summary[(source, target, k, method)]
        lines.append(f"| {source} → {target} | {k} | {method} | {s['mean']:.4f} | " +
                     " | ".join(f"{s['noise'].get(snr, float('nan')):.4f}" for snr in levels) + " |")
    return lines


def pretraining_inside(record: dict) -> float:
    """Seconds of one-time pretraining a cell's wall time includes (older cells: inferred, it exceeds training + testing)."""
    if "pretraining_in_cell_seconds" in record:
        return record["pretraining_in_cell_seconds"]
    pretraining = record.get("pretrain_seconds") or 0.0
    return pretraining if record["cell_seconds"] >= pretraining + record["train_seconds"] + record["eval_seconds"] else 0.0


def cell_seconds(record: dict) -> float:
    """A cell's own machine time, its share of one-time pretraining left out (older cells: training and clean testing)."""
    if "cell_seconds" not in record:
        return record["train_seconds"] + record["eval_seconds"]
    return record["cell_seconds"] - pretraining_inside(record)


def compute_lines(records: list[dict], per_condition: bool = True) -> list[str]:
    """Machine time per condition (or for the whole file): the cells (training and every test, noise included) and the one-time pretraining."""
    groups = {c: [r for r in records if r["conditions"]["target"] == c] for c in sorted({r["conditions"]["target"] for r in records})}
    if not per_condition:
        groups = {"all pairs": records}
    elif len(groups) > 1:
        groups["all conditions"] = records
    lines = []
    for label, here in groups.items():
        pretraining = {(r["seed"], r.get("backbone")): r["pretrain_seconds"] for r in here if r.get("pretrain_seconds")}
        by_method: dict[str, float] = {}
        for r in here:
            by_method[r["method"]] = by_method.get(r["method"], 0.0) + cell_seconds(r)
        total = sum(by_method.values()) + sum(pretraining.values())
        untimed = sum("cell_seconds" not in r for r in here)
        lines.append(f"- compute, {label}: {len(here)} cells, {total / 60:.0f} min in all "
                     f"({sum(pretraining.values()) / 60:.0f} min of it one-time pretraining per seed and backbone, counted once, shared between tables; "
                     f"{untimed} older cells recorded training and clean testing only)")
        lines.append("  - cells by method, pretraining left out: "
                     + ", ".join(f"{m} {sec / 60:.0f} min" if sec >= 60 else f"{m} {sec:.0f} s" for m, sec in sorted(by_method.items(), key=lambda item: -item[1])))
    return lines


def confusion_figures(records: list[dict], suite: str, figure_dir: Path, report_dir: Path) -> list[str]:
    """Per condition at the smallest K: the confusion matrices of Syn-Diag cloud and of the best other method, summed over seeds (cells that store one)."""
    stored = [r for r in records if "confusion" in r and r["conditions"]["source"][0] == r["conditions"]["target"]]
    links = []
    for condition in sorted({r["conditions"]["target"] for r in stored}):
        here = [r for r in stored if r["conditions"]["target"] == condition]
        k = min(r["k"] for r in here)
        at_k = [r for r in here if r["k"] == k]
        every = [r for r in records if r["conditions"]["source"][0] == r["conditions"]["target"] == condition and r["k"] == k]
        means = {m: np.mean([r["metrics"]["accuracy"] for r in every if r["method"] == m]) for m in {r["method"] for r in every}}
        others = sorted((m for m in means if not m.startswith("Syn-Diag")), key=lambda m: -means[m])
        for method in [m for m in ("Syn-Diag-Cloud",) if m in means] + others[:1]:
            rows = [r for r in at_k if r["method"] == method]
            if not rows:
                continue
            counts = np.sum([np.asarray(r["confusion"]) for r in rows], axis=0)
            truth, predicted = np.nonzero(counts)
            repeats = counts[truth, predicted]
            report = classification_report(np.repeat(truth, repeats), np.repeat(predicted, repeats), rows[0]["class_names"])
            name = f"{suite}_{condition}_{k}shot_confusion_{method.replace(' ', '_').replace('/', '')}.png"
            png = write_confusion_png(report, figure_dir / name, f"{method}, {condition}, {k}-shot, seeds {sorted(r['seed'] for r in rows)} summed")
            links.append(f"![confusion, {method}, {condition}, {k}-shot]({os.path.relpath(png, report_dir)})")
    return links


def updates_section(records: list[dict], stem: str, figure_dir: Path, report_dir: Path) -> list[str]:
    """Fig. 4: per seed, the cloud and edge accuracy after distillation and the teacher/student curves over the update cycles."""
    updates = sorted((r for r in records if r["method"] == "Syn-Diag-online-update"), key=lambda r: r["seed"])
    evaluated = {(r["method"], r["seed"]): r["metrics"]["accuracy"] for r in records if r["method"] in ("Syn-Diag-Cloud", "Syn-Diag-Edge")}
    lines = ["| seed | task | cloud | edge (distilled) | teacher: start → end | student: start → end | heads accepted | "
             "median cos(∇S, ∇T) | median ‖∇S−∇T‖/‖∇T‖ |", "|---|---|---|---|---|---|---|---|---|"]
    figures = []
    for r in updates:
        cycles = r["cycles"]
        cloud, edge = evaluated.get(("Syn-Diag-Cloud", r["seed"])), evaluated.get(("Syn-Diag-Edge", r["seed"]))
        cosines = [c["gradient_cosine"] for c in cycles if "gradient_cosine" in c]
        lines.append(
            f"| {r['seed']} | {r['conditions']['target']}, {r['k']}-shot | {cloud:.4f} | {edge:.4f} | "
            f"{r['initial']['teacher_accuracy']:.4f} → {r['metrics']['teacher_accuracy']:.4f} | "
            f"{r['initial']['student_accuracy']:.4f} → {r['metrics']['student_accuracy']:.4f} | {sum(c['accepted'] for c in cycles)}/{len(cycles)} | "
            f"{np.median(cosines) if cosines else float('nan'):.3f} | {np.median([c['gradient_consistency'] for c in cycles]):.3f} |"
            if cloud is not None and edge is not None else f"| {r['seed']} | incomplete record set | | | | | | | |")
        png = write_update_curves(cycles, r["initial"], figure_dir / f"{stem}_seed{r['seed']}.png",
                                  f"online updates, seed {r['seed']}, {r['conditions']['target']}, {r['k']}-shot")
        figures.append(f"![update curves, seed {r['seed']}]({os.path.relpath(png, report_dir)})")
    return [*lines, "", *figures]


def short_commit(commit: str) -> str:
    """A 40-hex commit as its 10-character prefix, keeping the "+dirty" mark of a run from a tree with uncommitted changes."""
    sha, dirty, mark = commit.partition("+")
    return sha[:10] + dirty + mark


def provenance_lines(records: list[dict], superseded: int = 0) -> list[str]:
    """Machine, commits, commands, data and profile of ``records`` (the lines shown); ``superseded``: older lines of the
    same cells that later runs replaced (kept in the file, not shown)."""
    commits = Counter(short_commit(r.get("commit", r.get("git_commit", "?"))) for r in records)
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores" if "machine" in r else "not recorded" for r in records})
    commands = sorted({r.get("command", "not recorded") for r in records})
    data = sorted({r.get("data", "?") for r in records})
    lines = [f"- machine: {'; '.join(machines)}", f"- commit(s), runs each: {', '.join(f'{c} ({n})' for c, n in sorted(commits.items()))}", f"- command(s): {'; '.join(f'`{c}`' for c in commands)}",
             f"- data: {'; '.join(data)}", f"- profile(s): {', '.join(sorted({r['profile'] for r in records}))}; runs: {len(records)}"]
    dirty = sum(n for c, n in commits.items() if c.endswith("+dirty"))
    if dirty:
        lines.append(f"- **{dirty} of {len(records)} run(s) marked +dirty**: made from a tree with uncommitted changes, so the code that produced them is in no commit")
    if superseded:
        lines.append(f"- {superseded} older line(s) of the same cells superseded by later runs (kept in the file, not shown)")
    return lines


def latest_per_cell(records: list[dict], suite: str | None = None) -> list[dict]:
    """One line per cell (suite, method, seed, K, conditions): the last one appended, which a re-run supersedes the others with;
    ``suite`` stands for the suite of a line that names none (the updates suite's first lines)."""
    latest: dict[tuple, dict] = {}
    for r in records:
        latest[(r.get("suite", suite), r["method"], r["seed"], r["k"], r["conditions"]["source"][0], r["conditions"]["target"])] = r
    return list(latest.values())


def table_title(suite: str, records: list[dict]) -> str:
    """"Table 1: CWRU 19-way, same condition", named after the data the lines were made on."""
    names = {"cwru": "CWRU", "seu": "SEU gearbox", "seu-gearset": "SEU gearbox"}
    datasets = sorted({names.get(r["dataset"], r["dataset"]) for r in records})
    ways = sorted({len(r["class_names"]) for r in records if "class_names" in r})
    ways_text = f" {'/'.join(map(str, ways))}-way" if ways else ""
    number = {"table1": "Table 1", "table2": "Table 2", "table3": "Table 3", "sensor": "Sensor model"}[suite]
    kind = {"table3": " cross-condition", "sensor": f"{ways_text}, same and far cross-condition"}.get(suite, f"{ways_text}, same condition")
    return f"{number}: {', '.join(datasets)}{kind}"


def display_path(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when below it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path(start).resolve()))
    except ValueError:
        return str(path)


def write_report(results_dir: Path, out: Path) -> Path:
    """Regenerate ``out`` (BENCHMARKS.md) from the results files in ``results_dir``: tables, updates, resources."""
    lines = ["# Benchmarks", "", f"Generated by `syndiag benchmark` from the results files in `{display_path(results_dir, out.parent)}/`; do not edit by hand.",
             "Cells: mean ± std over seeds [95 % bootstrap interval, resampling seeds and test windows]. The same seed gives every",
             "method the same K-shot set and test set. Paper numbers: arXiv 2510.05733 (single runs).", ""]
    for suite in ("table1", "table2", "table3", "sensor"):
        for path in sorted(results_dir.glob(f"{suite}_*.jsonl")):
            every = read_results(path)
            records = latest_per_cell(every)
            if not records:
                continue
            titles = {suite: table_title(suite, records)}
            lines += [f"## {titles[suite]} (`{path.name}`)", "", *provenance_lines(records, len(every) - len(records)),
                      *compute_lines(records, suite != "table3"), ""]
            summary = summarise(records)
            if suite in ("table3", "sensor"):
                lines += table3_section(summary)
                if suite == "sensor":
                    lines += noise_rows(summary)
            else:
                paper = TABLE2_SEU_SAME_CONDITION if suite == "table2" else TABLE1_CWRU_SAME_CONDITION
                lines += table1_section(summary, results_dir, out.parent, suite, paper)
                lines += confusion_figures(records, suite, results_dir, out.parent)
            margins = margin_section(records)
            if margins:
                lines += ["", f"### Margins: what Syn-Diag cloud adds over each method ({titles[suite].split(':')[0]})", "", *margins]
            lines.append("")
    for pattern, section in (("rul_*.jsonl", rul_section), ("openset_trained_*.jsonl", openset_section), ("zeroshot_*.jsonl", zeroshot_section),
                             ("report_*.jsonl", report_suite_section)):
        for path in sorted(results_dir.glob(pattern)):
            lines += section(path, out.parent, display_path)
    for path in sorted(results_dir.glob("updates_*.jsonl")):
        every = read_results(path)
        records = latest_per_cell(every, "updates")
        if any(r["method"] == "Syn-Diag-online-update" for r in records):
            lines += [f"## Fig. 4: online edge → cloud updates (`{path.name}`)", "", *provenance_lines(records, len(every) - len(records)), "",
                      *updates_section(records, path.stem, results_dir, out.parent), ""]
    for path in sorted(results_dir.glob("resources_*.json")):
        report = json.loads(path.read_text())
        lines += [f"## Fig. 5: resources, cloud vs edge (`{path.name}`)", "",
                  f"- machine: {report['machine']['cpu']}, {report['machine']['cores']} cores; commit {report['commit']}; {report.get('utc', '')}",
                  f"- command: `{report.get('command', '?')}`", "", *resources_section(report, path.with_suffix('.png'), out.parent), ""]
    tables = sorted(results_dir.glob("*.md"))
    if tables:
        lines += ["## Tables written by the benchmark scripts (`benchmarks/*.py`)", ""]
        for path in tables:
            title = next((line.lstrip("# ").strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# ")), path.stem)
            lines.append(f"- [{title}]({display_path(path, out.parent)})")
        lines.append("")
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out
