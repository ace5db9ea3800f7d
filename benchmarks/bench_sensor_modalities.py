"""The sensor model's modality ablations and severity interpolation on CWRU, 1730 rpm, 5-shot, three seeds.

    python benchmarks/bench_sensor_modalities.py --data-root ../shared/data --visual-extractor "runs/bench-cloud/cwru-db3cefdd/seed{seed}/pretrained"

Per seed, the `sensor/cpu` recipe (aligned, then fine-tuned, as `syndiag sensor align|finetune` do) trained on
  - DE only; DE + FE; DE + FE + speed (the recipe's layout), each evaluated with everything it was trained on;
  - the full layout evaluated with the fan-end or the drive-end sensor removed at test time (missing-sensor robustness);
  - the full layout fine-tuned with the 0.014 in severity targets hidden (`finetune.severity_holdout`), whose holdout
    MAE is the interpolation test (train on 0.007 and 0.021 in, estimate 0.014).
One JSON line per (seed, variant) in benchmarks/results/modalities_sensor_cwru_cpu.jsonl (finished ones are skipped:
resumable), then a table with the mean and a 95 % t interval over seeds beside it (.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, provenance, write_table  # noqa: E402

from syndiag.config.sensor_run import SensorRunConfig  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.workflows.sensor import run_sensor_align, run_sensor_evaluate, run_sensor_finetune  # noqa: E402

RESULTS = ROOT / "results" / "modalities_sensor_cwru_cpu.jsonl"
LAYOUTS = {"DE only": ["DE"], "DE + FE": ["DE", "FE"], "DE + FE + speed": ["DE", "FE", "speed"]}
DROPS = {"DE + FE + speed, FE removed at test": ["FE"], "DE + FE + speed, DE removed at test": ["DE"]}
HOLDOUT = "DE + FE + speed, 0.014 in hidden in training"
VARIANTS = (*LAYOUTS, *DROPS, HOLDOUT)
COLUMNS = ("accuracy", "macro_f1", "severity_ordinal_accuracy", "severity_mae", "severity_holdout_mae")


def config_for(seed: int, args: argparse.Namespace, channels: list[str], holdout: bool = False) -> SensorRunConfig:
    tag = "-".join(channels) + ("-holdout" if holdout else "")
    overrides = {"seed": seed, "threads": args.threads, "data.data_root": str(args.data_root),
                 "visual_extractor": args.visual_extractor.format(seed=seed), "output_dir": str(args.work / f"seed{seed}-{tag}")}
    if holdout:
        overrides["finetune.severity_holdout"] = [0.014]
    config = SensorRunConfig.from_yaml("sensor/cpu", overrides)
    return config.model_copy(update={"channels": [c for c in config.channels if c.name in channels]})


def measure(seed: int, variant: str, config: SensorRunConfig, drop: list[str] | None = None) -> dict:
    record = run_sensor_evaluate(config, drop=drop, results=False).record
    record.update(provenance(), variant=variant)
    append_result(RESULTS, record)
    metrics = record["metrics"]
    print(f"seed {seed} {variant}: accuracy {metrics['accuracy']:.4f}, severity ordinal {metrics['severity_ordinal_accuracy']:.4f}"
          + (f", holdout MAE {metrics['severity_holdout_mae']:.4f} in" if "severity_holdout_mae" in metrics else ""), flush=True)
    return record


def run_seed(seed: int, args: argparse.Namespace, done: set) -> None:
    for variant, channels in LAYOUTS.items():
        full = channels == LAYOUTS["DE + FE + speed"]
        pending = [v for v in ([variant, *DROPS, HOLDOUT] if full else [variant]) if (seed, v) not in done]
        if not pending:
            continue
        config = config_for(seed, args, channels)
        run_sensor_align(config)
        if {variant, *DROPS} & set(pending):
            run_sensor_finetune(config)
        for name in pending:
            if name == HOLDOUT:
                held = config_for(seed, args, channels, holdout=True)
                run_sensor_finetune(held, checkpoint=Path(config.output_dir) / "sensor-aligned")
                measure(seed, name, held)
            else:
                measure(seed, name, config, DROPS.get(name))


def summary(records: list[dict]) -> str:
    lines = ["| variant | seeds | accuracy | macro F1 | severity ordinal acc. | severity MAE (in) | 0.014 in held out: MAE (in) |",
             "|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        rows = [r for r in records if r["variant"] == variant]
        if rows:
            cells = [mean_interval([r["metrics"][key] for r in rows], 4) if key in rows[0]["metrics"] else "" for key in COLUMNS]
            lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in rows)} | " + " | ".join(cells) + " |")
    first = records[0]
    parameters = first["parameters"]
    return "\n".join([
        "# Sensor model: modality ablations and severity interpolation, CWRU 1730 rpm, 5-shot (cpu profile)", "",
        (f"`{first['command']}`, commit `{first['commit'][:10]}`, {first['machine']['cpu']} ({first['machine']['cores']} cores), "
        f"data {first['dataset']}, {first['test_samples']} test windows per run. Mean ± 95 % t interval over seeds."),
        (f"Trained parameters (encoder, adapter, heads) {parameters['adapter_and_heads']:,}; frozen language model "
        f"{parameters['frozen_lm']:,} ({100 * parameters['adapter_and_heads'] / parameters['frozen_lm']:.2f} %)."), "",
        *lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--visual-extractor", required=True, help="the aligned Syn-Diag checkpoint, with {seed}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("runs/bench-sensor-modalities"))
    args = parser.parse_args()
    done = {(r["seed"], r["variant"]) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    for seed in args.seeds:
        run_seed(seed, args, done)
    return write_table(RESULTS, summary)


if __name__ == "__main__":
    sys.exit(main())
