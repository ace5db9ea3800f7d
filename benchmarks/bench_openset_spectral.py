"""Open-set detection on the discriminant spectrum path, leave-one-family-out on CWRU, across operating conditions
(issue 30), model-free (no language model):

    python benchmarks/bench_openset_spectral.py --data-root DATA [--seeds 0 1 2]

Per held-out family (ball, fan-end, diameter-021), seed, pool and condition pair (1730 -> 1730, 1797 -> 1797,
1730 -> 1797 and 1797 -> 1730 rpm; 1730 rpm is 3 HP, 1797 rpm 0 HP), 5-shot on the known classes
(``data/openset_splits.py``):

  - the path (``training/spectral.py``, default settings) is fitted on the seed's pretraining pool of the **known**
    classes only (7 windows per class and condition), in three variants: every condition; without the target
    condition (a load the detector never saw a labelled window of; for a same-condition pair, every condition); the
    source condition only;
  - the novelty scores (``models/openset_spectral.py``) are fitted on the clean views of those pool windows and the
    support windows; the log-spectrum Mahalanobis of the support windows alone, thresholded on held-in windows of the
    source condition, is scored beside them (``benchmarks/bench_openset.py``'s model-free score);
  - the score is chosen by validation on the pool alone: each known fault class in turn left out of the fit and
    scored against held-in pool windows of the other known classes at every pool condition (mean AUROC);
  - thresholds at 1 % false alarms on held-in windows of the known classes at the pool's conditions (the training data's
    own conditions; never fitted on, never the score's validation windows), then recalibrated
    three ways with healthy windows of the target condition (train half, never a test window): none, threshold,
    recentre. On CWRU the healthy class of every load is a disjoint quarter of one recording (97.mat, 0 HP), so the
    healthy windows of a "new condition" are the same machine state: the recalibration can change little here.
  - predictions: the path's prototypes of the support windows.

One JSON line per (family, pair, seed, pool) in benchmarks/results/openset_spectral_cwru_cpu.jsonl (resumable), a
table beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, provenance, write_table  # noqa: E402

from syndiag.config import RunConfig  # noqa: E402
from syndiag.config.spectral import SpectralPathConfig  # noqa: E402
from syndiag.data.fewshot import pretraining_pool  # noqa: E402
from syndiag.data.openset_splits import family_split, openset_task  # noqa: E402
from syndiag.data.prepare import prepare  # noqa: E402
from syndiag.data.windowing import POOL  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.evaluation.openset_report import openset_metrics  # noqa: E402
from syndiag.models.openset import Mahalanobis  # noqa: E402
from syndiag.models.openset_spectral import NOVELTY_SCORES, RECALIBRATIONS, SpectralNovelty, recalibrated  # noqa: E402
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view  # noqa: E402
from syndiag.training.spectral import WindowArray, fit_prototypes, fit_spectral_path, with_noisy_copies  # noqa: E402
from syndiag.workflows.openset_detector import POOL_SHOTS, held_in, validate  # noqa: E402

RESULTS = ROOT / "results" / "openset_spectral_cwru_cpu.jsonl"
FAMILIES = ("ball", "fan-end", "diameter-021")
PAIRS = (("1730rpm", "1730rpm"), ("1797rpm", "1797rpm"), ("1730rpm", "1797rpm"), ("1797rpm", "1730rpm"))
POOLS = ("without the target", "every condition", "source only")
BASELINE = "log-spectrum-mahalanobis"
SHOTS, FALSE_ALARM = 5, 0.01
COLUMNS = ("auroc", "open_accuracy", "known_flagged", "unknown_flagged", "known_accuracy")


def pool_conditions(names: list[str], pool: str, source: str, target: str) -> list[str]:
    if pool == "every condition" or (pool == "without the target" and source == target):
        return list(names)
    if pool == "without the target":
        return [c for c in names if c != target]
    return [source]


def fitted_path(dataset, all_views, known, remap, conditions: list[str], seed: int, cache: dict):
    """The path of the known classes' pool at ``conditions``, its clean and noisy views, the score's validation."""
    key = (tuple(known), seed, tuple(conditions))
    if key not in cache:
        labels, config = np.asarray(dataset.labels), SpectralPathConfig()
        indices = pretraining_pool(dataset, seed, k=POOL_SHOTS, conditions=conditions)
        indices = indices[np.isin(labels[indices], known)]
        path = fit_spectral_path(np.asarray(dataset.windows[indices]), remap[labels[indices]], dataset.conditions[indices], dataset.fs,
                                 config, seed)
        source = WindowArray(np.asarray(dataset.windows), dataset.fs, path.grid)
        noisy, noisy_labels = with_noisy_copies(source, indices, remap[labels[indices]], config, np.random.default_rng([seed, 3030]))
        codes = [list(dataset.condition_names).index(c) for c in conditions]
        validation_rows, _ = held_in(remap[labels], dataset.conditions, dataset.split, len(known), codes, indices, seed)
        validation = validate(noisy, noisy_labels, all_views[indices], remap[labels[indices]], all_views[validation_rows],
                              remap[labels[validation_rows]], path.components, seed, int(remap[0]))
        cache[key] = (indices, path, validation)
    return cache[key]


def run_cell(dataset, all_views, family: str, source: str, target: str, seed: int, pool: str, cache: dict) -> dict:
    known, unknown = family_split(list(dataset.class_names), family)
    remap = np.full(len(dataset.class_names), -1)
    remap[list(known)] = np.arange(len(known))
    labels = np.asarray(dataset.labels)
    conditions = pool_conditions(list(dataset.condition_names), pool, source, target)
    started = time.perf_counter()
    indices, path, validation = fitted_path(dataset, all_views, known, remap, conditions, seed, cache)
    task = openset_task(dataset, family, SHOTS, seed, source, target)
    fit = np.union1d(indices, task.support)
    novelty = SpectralNovelty.fit(path.discriminant, all_views[fit], remap[labels[fit]], int(remap[0]))
    head = fit_prototypes(path, np.asarray(dataset.windows[task.support]), remap[labels[task.support]], len(known), dataset.fs,
                          SpectralPathConfig(), seed)
    predicted = np.asarray(known)[head.predict(path.discriminant.transform(all_views[task.test]))]
    codes = [list(dataset.condition_names).index(c) for c in conditions]
    _, calibration = held_in(remap[labels], dataset.conditions, dataset.split, len(known), codes, fit, seed)
    target_code = list(dataset.condition_names).index(target)
    healthy = np.setdiff1d(np.flatnonzero((labels == 0) & (dataset.conditions == target_code) & (dataset.split == POOL)), fit)
    is_unknown = np.isin(labels[task.test], unknown)
    metrics = {}
    for name in NOVELTY_SCORES:
        metrics[name] = {}
        for how in RECALIBRATIONS:
            threshold, offset = recalibrated(novelty, name, how, all_views[calibration], all_views[healthy], FALSE_ALARM)
            test = novelty.scores(all_views[task.test], (name,), offset)[name]
            metrics[name][how] = openset_metrics(None, test, predicted, labels[task.test], is_unknown, FALSE_ALARM, threshold)
    baseline = Mahalanobis().fit(all_views[task.support], labels[task.support])
    source_calibration = np.setdiff1d(task.calibration, fit)
    metrics[BASELINE] = {"none": openset_metrics(baseline.score(all_views[source_calibration]), baseline.score(all_views[task.test]),
                                                 predicted, labels[task.test], is_unknown, FALSE_ALARM)}
    chosen = max(NOVELTY_SCORES, key=lambda n: (validation[n], -NOVELTY_SCORES.index(n)))
    return {**provenance(), "family": family, "source": source, "target": target, "seed": seed, "pool": pool,
            "pool_conditions": conditions, "k": SHOTS, "components": path.components, "validation_auroc": validation, "chosen": chosen,
            "metrics": metrics, "support": int(task.support.size), "calibration": int(calibration.size), "healthy": int(healthy.size),
            "held_out": [dataset.class_names[c] for c in unknown], "seconds": round(time.perf_counter() - started, 2)}


def summary(records: list[dict]) -> str:
    head = records[0]
    lines = ["# Open set on the discriminant spectrum path, leave-one-family-out on CWRU (cpu)", "",
             f"`{head['command']}`, commit `{head['commit'][:10]}`. {head['k']}-shot on the known classes; path and scores "
             "fitted on the known classes' pool (scores: the clean views of the pool and the support); threshold at 1 % false "
             "alarms on held-in windows of the known classes at the pool's conditions (log-spectrum Mahalanobis: of the source "
             "condition); "
             "mean ± 95 % t interval over seeds. 'validated' = the score each cell's own validation chose (leave-one-known-"
             "class-out on the pool).", ""]
    for pool in POOLS:
        rows = [r for r in records if r["pool"] == pool]
        if not rows:
            continue
        lines += [f"## Pool: {pool}", "", "| held out | source → target | score | recalibration | seeds | validation AUROC | "
                  + " | ".join(COLUMNS) + " |", "|---|---|---|---|---|---|" + "---|" * len(COLUMNS)]
        for family in FAMILIES:
            for source, target in PAIRS:
                cell = [r for r in rows if (r["family"], r["source"], r["target"]) == (family, source, target)]
                if not cell:
                    continue
                for name in ("validated", *NOVELTY_SCORES, BASELINE):
                    for how in RECALIBRATIONS:
                        picked = [r["metrics"][r["chosen"] if name == "validated" else name].get(how) for r in cell]
                        if any(p is None for p in picked):
                            continue
                        valid = "–" if name == BASELINE else mean_interval(
                            [r["validation_auroc"][r["chosen"] if name == "validated" else name] for r in cell])
                        lines.append(f"| {family} | {source} → {target} | {name} | {how} | {len(cell)} | {valid} | "
                                     + " | ".join(mean_interval([p[c] for p in picked]) for c in COLUMNS) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pools", nargs="+", default=list(POOLS), choices=POOLS)
    args = parser.parse_args()
    done = {(r["family"], r["source"], r["target"], r["seed"], r["pool"]) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    dataset = prepare(RunConfig.from_yaml("syndiag/cpu", {"data.data_root": str(args.data_root)}).data)
    all_views = None
    for seed in args.seeds:
        cache: dict = {}
        for family in FAMILIES:
            for pool in args.pools:
                for source, target in PAIRS:
                    if (family, source, target, seed, pool) in done:
                        continue
                    if all_views is None:  # every window's view on the path's grid (default settings: the whole window)
                        all_views = spectrum_view(np.asarray(dataset.windows), dataset.fs,
                                                  SpectrumGrid.for_windows(dataset.fs, dataset.windows.shape[-1]))
                    record = run_cell(dataset, all_views, family, source, target, seed, pool, cache)
                    append_result(RESULTS, record)
                    best = record["metrics"][record["chosen"]]
                    print(f"{family} {source}->{target} seed {seed} [{pool}] chosen {record['chosen']}: AUROC "
                          f"{best['none']['auroc']:.3f}, open acc {best['none']['open_accuracy']:.3f} / recentred "
                          f"{best['recentre']['open_accuracy']:.3f}, known flagged {best['none']['known_flagged']:.3f} "
                          f"({record['seconds']} s)", flush=True)
    return write_table(RESULTS, summary)


if __name__ == "__main__":
    sys.exit(main())
