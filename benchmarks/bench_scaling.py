"""Scaling down and out on this machine (issue 19): seconds per step and peak memory of a Syn-Diag cloud fine-tuning
cell (cpu profile, 5-shot at 1730 rpm, the paper's batch of 4) in float32, bf16 autocast, gradient accumulation,
activation checkpointing, and data parallel over 1 and 2 processes (torchrun, gloo), and inference with the frozen
language model in float32 and in dynamic int8, side by side in one run.

    python benchmarks/bench_scaling.py --checkpoint runs/bench-cloud/cwru-db3cefdd/seed0/pretrained --data-root ../shared/data

Every configuration runs in its own process (``--measure``), from the same pretrained checkpoint and the same windows;
peak memory is the process's resident high-water mark over the training steps alone (reset through
/proc/self/clear_refs before them) and over its whole life. Accuracy of the same configurations over three seeds is
the table1 suite's business (``Syn-Diag-Cloud bf16`` etc.). Writes benchmarks/results/scaling_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

CONFIGURATIONS = {
    "float32": {},
    "bf16 autocast": {"dtype": "bfloat16"},
    "float32, accumulation 4 (micro-batch 1)": {"accumulation": 4},
    "bf16 + accumulation 4": {"dtype": "bfloat16", "accumulation": 4},
    "float32, activation checkpointing": {"checkpointing": True},
    "bf16 + accumulation 4 + checkpointing": {"dtype": "bfloat16", "accumulation": 4, "checkpointing": True},
}


def resident_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_inference(args: argparse.Namespace) -> None:
    """Seconds per window and the memory increase of classifying 190 test windows (10 per class), float32 or int8 LM."""
    import numpy as np

    from syndiag.config.run import RunConfig
    from syndiag.evaluation.predict import predict
    from syndiag.models.quantize import int8_language_model
    from syndiag.workflows.session import finetune_task, setup

    config = RunConfig.from_yaml("syndiag/cpu", {"data.data_root": str(args.data_root), "output_dir": "/tmp/bench-scaling"})
    session = setup(config, checkpoint=args.checkpoint)
    quantized = int8_language_model(session.model) if args.int8 else 0
    task = finetune_task(config, session.dataset, k=5, seed=0)
    labels = session.dataset.labels[task.test]
    windows = np.concatenate([task.test[labels == c][:10] for c in np.unique(labels)])
    predict(session.model, session.dataset, windows[:8], 64)  # warm-up
    Path("/proc/self/clear_refs").write_text("5")
    before = resident_mib("VmRSS")
    started = time.perf_counter()
    predict(session.model, session.dataset, windows, 64)
    seconds = time.perf_counter() - started
    print("RESULT " + json.dumps({"windows": len(windows), "quantized_layers": quantized, "ms_per_window": round(1000 * seconds / len(windows), 2),
                                  "rss_before_mib": round(before), "inference_peak_rss_mib": round(resident_mib("VmHWM")),
                                  "inference_increment_mib": round(resident_mib("VmHWM") - before)}), flush=True)


def measure(args: argparse.Namespace) -> None:
    import torch

    from syndiag.config.run import RunConfig
    from syndiag.config.runtime import ScalingConfig
    from syndiag.models.device import place
    from syndiag.ranks import is_main_process, world_size
    from syndiag.training.engine import configure_training
    from syndiag.training.finetune import finetune
    from syndiag.workflows.session import finetune_task, setup

    config = RunConfig.from_yaml("syndiag/cpu", {"data.data_root": str(args.data_root), "output_dir": "/tmp/bench-scaling"})
    session = setup(config, checkpoint=args.checkpoint)
    place(session.model, "cpu", args.dtype)
    configure_training(ScalingConfig(grad_accumulation=args.accumulation, gradient_checkpointing=args.checkpointing), args.dtype,
                       Path("/tmp/bench-scaling"), session.model)
    task = finetune_task(config, session.dataset, k=5, seed=0)
    task = replace(task, train=task.train[: args.steps * args.batch])
    stage = config.finetune.model_copy(update={"epochs": 1, "min_steps": 0, "batch_size": args.batch, "noise_snr_db": None})
    Path("/proc/self/clear_refs").write_text("5")
    before = resident_mib("VmRSS")
    started = time.perf_counter()
    result = finetune(session.model, session.dataset, task, stage, seed=0)
    seconds = time.perf_counter() - started
    record = {"steps": result.steps, "global_batch": args.batch, "processes": world_size(), "threads": torch.get_num_threads(),
              "seconds_per_step": round(seconds / result.steps, 3), "samples_per_s": round(result.steps * args.batch / seconds, 2),
              "rss_before_training_mib": round(before), "training_peak_rss_mib": round(resident_mib("VmHWM")),
              "training_increment_mib": round(resident_mib("VmHWM") - before),
              "final_loss": round(result.losses[-1], 4)}
    if is_main_process():
        print("RESULT " + json.dumps(record), flush=True)


def child(name: str, command: list[str], env: dict | None = None) -> dict:
    """Run one measuring process and return its RESULT line."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT.parent / "src"), os.environ.get("PYTHONPATH", "")]), **(env or {})}
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
    if output.returncode or not lines:
        raise RuntimeError(f"{name}: exit {output.returncode}\n{output.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def run(args: argparse.Namespace, name: str, options: dict, processes: int = 1) -> dict:
    common = ["--checkpoint", str(args.checkpoint), "--data-root", str(args.data_root)]
    if options.get("inference"):
        record = {"configuration": name, **child(name, [sys.executable, __file__, "--measure-inference", *common,
                                                         *(["--int8"] if options.get("int8") else [])])}
        print(json.dumps(record), flush=True)
        return record
    flags = ["--measure", *common, "--steps", str(args.steps), "--batch", str(options.get("batch", 4)), "--dtype",
             options.get("dtype", "float32"), "--accumulation", str(options.get("accumulation", 1)),
             *(["--checkpointing"] if options.get("checkpointing") else [])]
    if options.get("torchrun"):
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), __file__, *flags]
        env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))}
    else:
        command, env = [sys.executable, __file__, *flags], None
    record = {"configuration": name, **options, **child(name, command, env)}
    print(json.dumps(record), flush=True)
    return record


def markdown(report: dict) -> str:
    rows = report["configurations"]
    base = rows[0]
    lines = ["# Scaling down and out: a Syn-Diag cloud fine-tuning cell on this machine (issue 19)", "",
             f"- command: `{report['command']}`; commit {report['commit']}; {report['machine']['cpu']}, {report['machine']['cores']} cores; {report['utc']}",
             f"- cpu profile (SmolLM2-135M, first 10 blocks), 5-shot at 1730 rpm, seed 0; {report['steps']} optimizer steps per configuration, each in its own process",
             "- memory: resident high-water mark during the training steps (the model and data already loaded) and its increase over the "
             "resident size just before them", "",
             "| configuration | processes x threads | global batch | s / step | samples / s | training peak RSS (MiB) | increase during training (MiB) | vs float32 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['seconds_per_step'] / base['seconds_per_step']:.2f}x time, {r['training_increment_mib'] / max(base['training_increment_mib'], 1):.2f}x increase"
        lines.append(f"| {r['configuration']} | {r['processes']} x {r['threads']} | {r['global_batch']} | {r['seconds_per_step']} | {r['samples_per_s']} | "
                     f"{r['training_peak_rss_mib']} | {r['training_increment_mib']} | {ratio} |")
    ddp = report.get("data_parallel", [])
    if ddp:
        lines += ["", "Data parallel (torchrun, gloo; same global batch, OMP threads = cores / processes):", "",
                  "| processes x threads | global batch | s / step | samples / s | peak RSS per process (MiB) |", "|---|---|---|---|---|"]
        for r in ddp:
            lines.append(f"| {r['processes']} x {r['threads']} | {r['global_batch']} | {r['seconds_per_step']} | {r['samples_per_s']} | {r['training_peak_rss_mib']} |")
        if len(ddp) == 2:
            lines += ["", f"2 processes vs 1: {ddp[1]['samples_per_s'] / ddp[0]['samples_per_s']:.2f}x the throughput."]
    inference = report.get("inference", [])
    if inference:
        lines += ["", "Inference, the frozen language model in float32 and in dynamic int8 (its unadapted linear layers):", "",
                  "| language model | quantised layers | ms / window | peak RSS (MiB) | increase during inference (MiB) |", "|---|---|---|---|---|"]
        for r in inference:
            lines.append(f"| {r['configuration']} | {r['quantized_layers']} | {r['ms_per_window']} | {r['inference_peak_rss_mib']} | "
                         f"{r['inference_increment_mib']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a pretrained Syn-Diag cloud checkpoint of the cpu profile")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "scaling_cpu.json")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--accumulation", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure-inference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--int8", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return 0
    if args.measure_inference:
        measure_inference(args)
        return 0
    from machine import provenance

    from syndiag.atomic import atomic_write_text

    rows = [run(args, name, options) for name, options in CONFIGURATIONS.items()]
    ddp = [run(args, f"data parallel x{n}", {"batch": 8, "torchrun": True}, processes=n) for n in (1, 2)]
    inference = [run(args, name, {"inference": True, "int8": int8}) for name, int8 in (("float32", False), ("int8", True))]
    report = {**provenance(), "steps": args.steps, "checkpoint": str(args.checkpoint), "configurations": rows, "data_parallel": ddp,
              "inference": inference}
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), markdown(report))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
