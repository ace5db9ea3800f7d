"""The openset and zeroshot suites' sections of BENCHMARKS.md (issue 17): per method and score, AUROC, FPR at 95 % TPR
and open-set accuracy per held-out family (mean ± 95 % t interval over seeds), the ROC curves; zero-shot accuracies
beside chance, random vectors, random token embeddings and one real example."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from syndiag.evaluation.metrics import read_results, save_figure_png

SCORE_NAMES = {"msp": "max softmax", "energy": "energy", "mahalanobis": "Mahalanobis", "knn": "kNN distance"}


def mean_interval(values: list[float]) -> str:
    """mean ± half-width of the 95 % t interval over seeds (the mean alone for one seed)."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    mean = float(np.mean(values))
    if len(values) < 2:
        return f"{mean:.3f} (1 seed)"
    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return f"{mean:.3f} ± {half:.3f}"


def _opening(path: Path, title: str) -> tuple[list[dict], list[str]]:
    """The results of ``path`` and the section's title, commands, commits and machine (no lines when there are none)."""
    records = read_results(path)
    if not records:
        return [], []
    first = records[0]
    return records, [title, "", f"- command(s): {'; '.join(sorted({'`' + r['command'] + '`' for r in records}))}",
            f"- commit(s): {', '.join(sorted({r['commit'][:10] for r in records}))}; machine: {first['machine']['cpu']} "
            f"({first['machine']['cores']} cores); profile {first['profile']}; seeds {sorted({r['seed'] for r in records})}"]


def openset_section(path: Path, report_dir: Path, display) -> list[str]:
    records, lines = _opening(path, f"## Unknown faults, trained models, leave-one-family-out (`{path.name}`)")
    if not records:
        return []
    first = records[0]
    lines += [
             f"- {first['k']}-shot on the known classes; the held-out family never reaches pretraining, fine-tuning or the class-text "
             "bank; threshold at 1 % false alarms on held-in windows of the known classes (not in the support set)",
             "- targets (issue 17): AUROC >= 0.95 and open-set accuracy >= 0.90 on every split", ""]
    groups: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        for score, m in r["metrics"].items():
            cell = groups[(r["method"], score, f"{r['source']}->{r['target']}")]
            for key in ("auroc", "fpr_at_95_tpr", "open_accuracy", "known_accuracy"):
                cell[(r["family"], key)].append(m[key])
    families = sorted({r["family"] for r in records})
    lines += ["| method | score | train -> test | " + " | ".join(f"{f}: AUROC / FPR95 / open acc." for f in families) + " |",
              "|---|---|---|" + "---|" * len(families)]
    for (method, score, pair), cell in sorted(groups.items()):
        parts = [" / ".join(mean_interval(cell[(f, k)]) for k in ("auroc", "fpr_at_95_tpr", "open_accuracy")) for f in families]
        lines.append(f"| {method} | {SCORE_NAMES.get(score, score)} | {pair} | " + " | ".join(parts) + " |")
    png = path.with_name(path.stem + "_roc.png")
    roc_figure(records, png)
    lines += ["", f"![ROC curves]({display(png, report_dir)})", ""]
    return lines


def roc_figure(records: list[dict], png: Path) -> Path:
    """One panel per held-out family: the mean ROC curve over seeds of each method and score (the same-condition pairs when
    there are any)."""
    same = [r for r in records if r["source"] == r["target"]]
    records = same or records
    families = sorted({r["family"] for r in records})
    fig = Figure(figsize=(4.2 * len(families), 4))
    axes = fig.subplots(1, len(families), squeeze=False)
    for ax, family in zip(axes[0], families):
        curves: dict[tuple, list] = defaultdict(list)
        for r in records:
            if r["family"] == family:
                for score, roc in r["roc"].items():
                    curves[(r["method"], score)].append(roc)
        for (method, score), rocs in sorted(curves.items()):
            tpr = np.mean([roc["tpr"] for roc in rocs], axis=0)
            ax.plot(rocs[0]["fpr"], tpr, label=f"{method}, {SCORE_NAMES.get(score, score)}", linestyle="-" if method != "prototypes" else "--")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
        ax.set(title=f"held out: {family}", xlabel="known windows flagged (FPR)", ylabel="unknown windows flagged (TPR)")
    axes[0][0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return save_figure_png(fig, png, dpi=110)


def zeroshot_section(path: Path, report_dir: Path, display) -> list[str]:
    records, lines = _opening(path, f"## Zero-shot fault classes from their description (`{path.name}`)")
    if not records:
        return []
    first = records[0]
    lines += [
             f"- windows: every test window of {first['condition']} ({first['test_windows']}); the split's classes are left out of "
             "alignment pretraining; a window goes to the class whose text feature t_g is most similar to its v_g",
             "- `new, among all`: new-class windows classified among all classes (chance "
             f"{first['chance']['all']:.3f}); `new, among new`: among the new classes only (chance {first['chance']['new_among_new']:.2f}); "
             "random vectors: the new classes' t_g replaced by random unit vectors; one real example: replaced by the v_g of one "
             "real window; random tokens: the whole alignment on texts of random token embeddings (the LM's knowledge removed)", "",
             "| split (new classes) | backbone | class texts | seen, among all | new, among all | new, among new | "
             "new among new, random vectors | new among all, one real example |", "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["split"], ", ".join(r["new_classes"]), r["backbone"], r["backbone_name"].split("/")[-1], r["text_source"])].append(r["metrics"])
    for (split, new, backbone, name, source), ms in sorted(groups.items()):
        cells = [mean_interval([m["text"]["seen"] for m in ms]), mean_interval([m["text"]["new"] for m in ms]),
                 mean_interval([m["text"]["new_among_new"] for m in ms]), mean_interval([m["random_vectors"]["new_among_new"] for m in ms]),
                 mean_interval([m["one_real_example"]["new"] for m in ms])]
        lines.append(f"| {split} ({new}) | {backbone} ({name}) | {source} | " + " | ".join(cells) + " |")
    return lines + [""]
