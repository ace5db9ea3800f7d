"""Syn-Diag cloud accuracy on CWRU 19-way (default 1730 rpm), several seeds and K, beside a log-spectrum 1-NN on the same splits.

    python benchmarks/bench_cloud.py --config configs/syndiag/cpu.yaml --data-root ../shared/data --seeds 0 1 2 --shots 5 1

Resumable: one JSON line per finished cell in --out; a re-run skips finished cells. Pretraining is done once
per seed (its 7-shot pool depends on the seed) and kept as a checkpoint under --work.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import provenance  # noqa: E402

from syndiag.config.run import RunConfig  # noqa: E402
from syndiag.data.prepare import prepare  # noqa: E402
from syndiag.evaluation.evaluate import evaluate_task  # noqa: E402
from syndiag.evaluation.metrics import (  # noqa: E402
    append_result,
    classification_report,
    read_results,
    run_record,
)
from syndiag.models.baselines import LogSpectrumNearestNeighbour  # noqa: E402
from syndiag.models.cloud import SynDiagCloud  # noqa: E402
from syndiag.training.finetune import finetune  # noqa: E402
from syndiag.training.pipeline import finetune_task, setup  # noqa: E402
from syndiag.training.pretrain import pretrain  # noqa: E402


def done_cells(path: Path) -> set[tuple]:
    if not path.is_file():
        return set()
    return {(r["method"], r["seed"], r["k"], r["conditions"]["target"]) for r in read_results(path) if r.get("benchmark") == "cloud"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/syndiag/cpu.yaml"))
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 1])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cloud_cwru.jsonl"))
    parser.add_argument("--work", type=Path, default=Path("runs/bench-cloud"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    base = RunConfig.from_yaml(args.config, {"data.data_root": str(args.data_root)})
    dataset = prepare(base.data)
    finished = done_cells(args.out)
    meta = {**provenance(), "benchmark": "cloud", "data": dataset.meta["source"]}
    for seed in args.seeds:
        config = base.model_copy(update={"seed": seed})
        task_of = {k: finetune_task(config, dataset, k=k, seed=seed) for k in args.shots}
        for k, task in task_of.items():
            if ("log-spectrum-1NN", seed, k, task.target) in finished:
                continue
            started = time.perf_counter()
            baseline = LogSpectrumNearestNeighbour().fit(np.asarray(dataset.windows[task.train]), dataset.labels[task.train])
            predicted = baseline.predict(np.asarray(dataset.windows[task.test]))
            report = classification_report(dataset.labels[task.test], predicted, dataset.class_names)
            append_result(args.out, {**meta, **run_record(
                method="log-spectrum-1NN", backbone="none", dataset=dataset.meta["dataset"],
                conditions={"source": list(task.source), "target": task.target}, k=k, seed=seed, profile=config.profile,
                config_hash=config.config_hash(), metrics={"accuracy": report.accuracy, "macro_precision": report.macro_precision, "macro_f1": report.macro_f1},
                train_seconds=0.0, eval_seconds=round(time.perf_counter() - started, 2))})
            print(f"seed {seed} {k}-shot log-spectrum 1-NN: {report.accuracy:.4f}", flush=True)
        pending = [k for k, task in task_of.items() if ("Syn-Diag-Cloud", seed, k, task.target) not in finished]
        if not pending:
            continue
        pretrained = args.work / f"seed{seed}" / "pretrained"
        if not (pretrained / "model.safetensors").is_file():
            session = setup(config)
            result = pretrain(session.model, dataset, config)
            session.model.save_pretrained(pretrained, extra={"stage": "pretrained", "seed": seed, "seconds": round(result.seconds, 1)})
            pretrain_seconds = result.seconds
            del session
        else:
            pretrain_seconds = json.loads((pretrained / "config.json").read_text()).get("seconds", 0.0)
        for k in pending:
            task = task_of[k]
            model = SynDiagCloud.from_pretrained(pretrained)
            tuned = finetune(model, dataset, task, config.finetune, seed)
            evaluation = evaluate_task(
                model, dataset, task, args.work / f"seed{seed}", None, method="Syn-Diag-Cloud", backbone=config.model.backbone,
                profile=config.profile, config_hash=config.config_hash(), train_seconds=tuned.seconds, batch_size=config.finetune.eval_batch_size,
                extra={"seconds_per_train_step": round(tuned.seconds_per_step, 4), "pretrain_seconds": round(pretrain_seconds, 1), "cell_seconds": None},
            )
            record = {**meta, **evaluation.record}
            record["cell_seconds"] = round(tuned.seconds + record["eval_seconds"], 1)
            append_result(args.out, record)
            print(f"seed {seed} {k}-shot Syn-Diag-Cloud: {evaluation.report.accuracy:.4f} "
                  f"(fine-tune {tuned.seconds:.0f} s, eval {record['eval_seconds']:.0f} s)", flush=True)
            del model


if __name__ == "__main__":
    main()
