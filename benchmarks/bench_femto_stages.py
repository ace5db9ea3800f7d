"""The sensor model on FEMTO degradation stages (`syndiag sensor stages`), three seeds, with and without temperature.

    python benchmarks/bench_femto_stages.py --data-root ../shared/data [--seeds 0 1 2]

Per seed: the `sensor/femto` recipe trained with its four channels and evaluated with everything and with the
temperature removed at test time; and the same recipe trained without the temperature channel. One JSON line per
(seed, variant) in benchmarks/results/femto_stages_cpu.jsonl (finished ones are skipped: resumable), then a table
with the mean and a 95 % t interval over seeds in benchmarks/results/femto_stages_cpu.md. Test bearings: Bearing1_2,
Bearing2_2 and Bearing3_2 (Bearing2_2 and Bearing3_2 have no temperature files, so their temperature is absent
whatever the variant); the pool: Bearing1_1, Bearing2_1, Bearing3_1.
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
from syndiag.config.sensor_run import SensorRunConfig  # noqa: E402
from syndiag.evaluation.metrics import append_result, classification_report, read_results  # noqa: E402
from syndiag.workflows.sensor_stages import evaluate_stages, train_stages  # noqa: E402

RESULTS = ROOT / "results" / "femto_stages_cpu.jsonl"
VARIANTS = ("all channels", "temperature removed at test", "trained without temperature")
BASELINES = ("majority stage (floor)", "log-RMS nearest stage mean")


def baselines(trained) -> dict[str, float]:
    """Stage accuracy and macro F1 of the floor (always the training bearings' most common stage) and of a
    practitioner's one-number rule on the same K-shot support: the snapshot's log RMS (both accelerometers) nearest a stage's mean."""
    windows, task = trained.windows, trained.task
    rms = np.sqrt((windows.signals["acc_h"].astype(np.float64) ** 2 + windows.signals["acc_v"].astype(np.float64) ** 2).mean(1) / 2)
    log_rms = np.log(rms)
    truth = windows.labels[task.test]
    pool = windows.split == 0
    majority = np.bincount(windows.labels[pool], minlength=len(windows.class_names)).argmax()
    means = np.array([log_rms[task.train][windows.labels[task.train] == c].mean() for c in range(len(windows.class_names))])
    nearest = np.abs(log_rms[task.test][:, None] - means[None, :]).argmin(1)
    out = {}
    for name, predicted in zip(BASELINES, (np.full(truth.size, majority), nearest)):
        report = classification_report(truth, predicted, windows.class_names)
        out[name] = {"accuracy": report.accuracy, "macro_f1": report.macro_f1}
    return out


def config_for(seed: int, data_root: Path, with_temperature: bool, work: Path) -> SensorRunConfig:
    config = SensorRunConfig.from_yaml("sensor/femto", {"seed": seed, "data.data_root": str(data_root),
                                                        "output_dir": str(work / f"seed{seed}-{'all' if with_temperature else 'no-temp'}")})
    if not with_temperature:
        config = config.model_copy(update={"channels": [c for c in config.channels if c.kind != "temperature"]})
    return config


def summary(records: list[dict]) -> str:
    lines = ["| variant | seeds | stage accuracy | macro F1 | stage MAE | 90 % coverage |", "|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        rows = [r for r in records if r["variant"] == variant]
        if not rows:
            continue
        cells = []
        for key in ("accuracy", "macro_f1", "severity_mae", "severity_interval_90_coverage"):
            cells.append(mean_interval([r["metrics"][key] for r in rows]))
        lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in rows)} | " + " | ".join(cells) + " |")
    first_of_seed = [r for r in records if r["variant"] == VARIANTS[0]]
    for name in BASELINES:
        if first_of_seed:
            accuracy = np.mean([r["baselines"][name]["accuracy"] for r in first_of_seed])
            f1 = np.mean([r["baselines"][name]["macro_f1"] for r in first_of_seed])
            lines.append(f"| {name} | {', '.join(str(r['seed']) for r in first_of_seed)} | {accuracy:.3f} | {f1:.3f} | | |")
    first = records[0]
    return "\n".join([
        "# Sensor model on FEMTO degradation stages (cpu profile)", "",
        f"`{first['command']}`, commit `{first['commit'][:10]}`, {first['machine']['cpu']} ({first['machine']['cores']} cores).",
        f"Test bearings {', '.join(first['test_bearings'])} ({first['test_samples']} snapshots, per stage {first['stage_counts']}); "
        "K = 5 snapshots per stage from Bearing1_1, Bearing2_1, Bearing3_1. Mean ± 95 % t interval over seeds.", "",
        *lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=Path("runs/bench-femto-stages"))
    args = parser.parse_args()
    done = {(r["seed"], r["variant"]) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    for seed in args.seeds:
        for with_temperature in (True, False):
            wanted = VARIANTS[:2] if with_temperature else VARIANTS[2:]
            drops = ([], ["temperature"]) if with_temperature else ([],)
            pending = [(v, d) for v, d in zip(wanted, drops) if (seed, v) not in done]
            if not pending:
                continue
            config = config_for(seed, args.data_root, with_temperature, args.work)
            trained = train_stages(config)
            for variant, drop in pending:
                record = evaluate_stages(config, trained, drop, results=False).record
                record.update(provenance(), variant=variant, baselines=baselines(trained))
                append_result(RESULTS, record)
                print(f"seed {seed} {variant}: stage accuracy {record['metrics']['accuracy']:.4f}, "
                      f"MAE {record['metrics']['severity_mae']:.3f} ({record['train_seconds']:.0f} s)", flush=True)
    records = list(read_results(RESULTS))
    atomic_write_text(RESULTS.with_suffix(".md"), summary(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
