"""Open-set detection, leave-one-family-out on CWRU (issue 17), for the model-free classifiers on log spectra.

    python benchmarks/bench_openset.py --data-root ../shared/data [--seeds 0 1 2]

Per held-out family (ball, fan-end, diameter-021), seed and condition pair (1730 -> 1730 rpm, and 1730 -> 1797 rpm:
trained at 3 HP, tested at 0 HP), 5-shot on the known classes (data/openset_splits.py):
  - log-spectrum 1-NN: the nearest support window's class; novelty = the kNN distance (k = 1) of the L2-normalised
    log spectra;
  - log-spectrum Mahalanobis: the nearest class mean under a shared Ledoit-Wolf covariance; novelty = that distance.
Threshold at 1 % false alarms on the held-in calibration windows. Results: benchmarks/results/openset_cpu.jsonl (one
line per cell; resumable) and openset_cpu.md (mean ± 95 % t interval over seeds). The trained classifiers of the
project (Syn-Diag cloud and edge, the sensor model) need their extractor pretrained without the held-out family: not
in this script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.config import RunConfig  # noqa: E402
from syndiag.data.openset_splits import openset_task  # noqa: E402
from syndiag.data.prepare import prepare  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.evaluation.openset_report import openset_metrics  # noqa: E402
from syndiag.models.baselines import log_spectrum  # noqa: E402
from syndiag.models.openset import KnnDistance, Mahalanobis  # noqa: E402

RESULTS = ROOT / "results" / "openset_cpu.jsonl"
FAMILIES = ("ball", "fan-end", "diameter-021")
PAIRS = (("1730rpm", "1730rpm"), ("1730rpm", "1797rpm"))
METHODS = ("log-spectrum 1-NN", "log-spectrum Mahalanobis")
COLUMNS = ("auroc", "fpr_at_95_tpr", "open_accuracy", "known_accuracy", "known_flagged", "unknown_flagged")


def predict(method: str, x: np.ndarray, task, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-set predictions of the test windows, novelty scores of the calibration and test windows."""
    support, y = x[task.support], labels[task.support]
    if method == "log-spectrum 1-NN":
        scorer = KnnDistance(1).fit(support)
        unit = support / np.linalg.norm(support, axis=1, keepdims=True)
        test = x[task.test] / np.linalg.norm(x[task.test], axis=1, keepdims=True)
        predicted = y[np.argmax(test @ unit.T, axis=1)]
        return predicted, scorer.score(x[task.calibration]), scorer.score(x[task.test])
    scorer = Mahalanobis().fit(support, y)
    distances = scorer.distances(x[task.test])
    predicted = np.unique(y)[distances.argmin(axis=1)]
    return predicted, scorer.score(x[task.calibration]), distances.min(axis=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=5)
    args = parser.parse_args()
    done = {(r["method"], r["family"], r["source"], r["target"], r["seed"]) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    dataset = prepare(RunConfig.from_yaml("syndiag/cpu", {"data.data_root": str(args.data_root)}).data)
    x = log_spectrum(np.asarray(dataset.windows))
    labels = np.asarray(dataset.labels)
    for family in FAMILIES:
        for source, target in PAIRS:
            for seed in args.seeds:
                task = openset_task(dataset, family, args.shots, seed, source, target)
                for method in METHODS:
                    if (method, family, source, target, seed) in done:
                        continue
                    predicted, calibration, scores = predict(method, x, task, labels)
                    metrics = openset_metrics(calibration, scores, predicted, labels[task.test], np.isin(labels[task.test], task.unknown))
                    append_result(RESULTS, {**provenance(), "method": method, "family": family, "source": source, "target": target,
                                            "seed": seed, "k": args.shots, "metrics": metrics, "support": int(task.support.size),
                                            "calibration": int(task.calibration.size),
                                            "held_out": [dataset.class_names[c] for c in task.unknown]})
                    print(f"{family} {source}->{target} seed {seed} {method}: AUROC {metrics['auroc']:.3f}, "
                          f"open accuracy {metrics['open_accuracy']:.3f}", flush=True)
    records = read_results(RESULTS)
    lines = ["# Open set, leave-one-family-out on CWRU, model-free classifiers (cpu)", "",
             f"`{records[0]['command']}`, commit `{records[0]['commit'][:10]}`. {records[0]['k']}-shot on the known classes; "
             "threshold at 1 % false alarms on held-in windows; mean ± 95 % t interval over seeds.", "",
             "| held out | source → target | method | seeds | " + " | ".join(COLUMNS) + " |", "|---|---|---|---|" + "---|" * len(COLUMNS)]
    for family in FAMILIES:
        for source, target in PAIRS:
            for method in METHODS:
                rows = [r for r in records if (r["family"], r["source"], r["target"], r["method"]) == (family, source, target, method)]
                if rows:
                    lines.append(f"| {family} | {source} → {target} | {method} | {len(rows)} | "
                                 + " | ".join(mean_interval([r["metrics"][c] for r in rows]) for c in COLUMNS) + " |")
    atomic_write_text(RESULTS.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"-> {RESULTS.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
