"""Summarise the cloud -> edge -> update runs and the resource benchmark into benchmarks/results/edge_cwru.md.

    python benchmarks/report_edge.py

Reads benchmarks/results/updates_cwru_cpu.jsonl (syndiag benchmark --suite updates), benchmarks/results/resources_cwru_cpu.json and,
for the distillation loss curve, each edge line's `distill_losses` (recorded since 2026-12-07), else the edge checkpoint
under runs/cwru-cpu-seed<S>/edge when it is present.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from syndiag.evaluation.benchmark_report import latest_per_cell
from syndiag.evaluation.metrics import read_results


def seed_rows(records: list[dict], runs: Path) -> list[str]:
    by_seed: dict[int, dict[str, dict]] = defaultdict(dict)
    for r in records:
        by_seed[r["seed"]][r["method"]] = r
    lines = ["| seed | cloud | edge | edge − cloud | distil s | distil MSE first → last epoch | teacher over 30 cycles (start → end, lowest) "
             "| student (start → end) | heads accepted | median ‖∇S−∇T‖/‖∇T‖ | median cos(∇S, ∇T) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    gaps, teacher_changes = [], []
    for seed, methods in sorted(by_seed.items()):
        cloud, edge, update = methods.get("Syn-Diag-Cloud"), methods.get("Syn-Diag-Edge"), methods.get("Syn-Diag-online-update")
        if not (cloud and edge):
            continue
        gap = edge["metrics"]["accuracy"] - cloud["metrics"]["accuracy"]
        gaps.append(gap)
        checkpoint = runs / f"cwru-cpu-seed{seed}" / "edge" / "config.json"
        losses = edge.get("distill_losses") or (json.loads(checkpoint.read_text()).get("losses", []) if checkpoint.is_file() else [])
        mse = f"{losses[0]:.3f} → {losses[-1]:.3f} ({len(losses)} epochs)" if losses else "–"
        row = [str(seed), f"{cloud['metrics']['accuracy']:.4f}", f"{edge['metrics']['accuracy']:.4f}", f"{gap:+.4f}", f"{edge['train_seconds']:.0f}", mse]
        if update:
            cycles = update["cycles"]
            teacher = [c["teacher_accuracy"] for c in cycles]
            start = update["initial"]["teacher_accuracy"]
            teacher_changes.append(teacher[-1] - start)
            row += [f"{start:.4f} → {teacher[-1]:.4f} (lowest {min(teacher):.4f})",
                    f"{update['initial']['student_accuracy']:.4f} → {cycles[-1]['student_accuracy']:.4f}",
                    f"{sum(c['accepted'] for c in cycles)} / {len(cycles)}",
                    f"{statistics.median(c['gradient_consistency'] for c in cycles):.3f}",
                    f"{statistics.median(c['gradient_cosine'] for c in cycles):.3f}" if all("gradient_cosine" in c for c in cycles) else "–"]
        else:
            row += ["–"] * 5
        lines.append("| " + " | ".join(row) + " |")
    if gaps:
        lines += ["", f"Edge − cloud over {len(gaps)} seed(s): mean {statistics.mean(gaps):+.4f}, lowest {min(gaps):+.4f}."]
    if teacher_changes:
        lines.append(f"Teacher accuracy change over the update cycles: mean {statistics.mean(teacher_changes):+.4f}, smallest {min(teacher_changes):+.4f}.")
    return lines


def resource_rows(report: dict) -> list[str]:
    models = [m for m in ("cloud", "edge", "cloud-onnx", "edge-onnx") if m in report]
    keys = [("parameters_total", "parameters (total)", lambda v: f"{v / 1e6:.1f} M"),
            ("parameters_trainable", "parameters (trainable)", lambda v: f"{v / 1e6:.2f} M"),
            ("peak_rss_mb", "peak RSS", lambda v: f"{v:.0f} MB"),
            ("latency_ms_batch1_median", "latency, batch 1", lambda v: f"{v:.1f} ms"),
            ("throughput_samples_per_s_batch32", "throughput, batch 32", lambda v: f"{v:.0f} /s"),
            ("train_step_ms_batch4_median", "training step, batch 4", lambda v: f"{v:.0f} ms"),
            ("onnx_file_mb", "ONNX file", lambda v: f"{v:.0f} MB")]
    labels = {"cloud": "cloud, PyTorch", "edge": "edge, PyTorch", "cloud-onnx": "cloud, ONNX Runtime", "edge-onnx": "edge, ONNX Runtime"}
    lines = ["| | " + " | ".join(labels[m] for m in models) + " |", "|---|" + "---|" * len(models)]
    for key, label, fmt in keys:
        if any(key in report[m] for m in models):
            lines.append(f"| {label} | " + " | ".join(fmt(report[m][key]) if key in report[m] else "–" for m in models) + " |")
    lines += ["", "| ratio | peak RSS | latency, batch 1 | throughput, batch 32 |", "|---|---|---|---|"]
    ratios = {"edge_over_cloud": "edge / cloud, both PyTorch", "edge_onnx_over_cloud_onnx": "edge / cloud, both ONNX Runtime",
              "edge_onnx_over_cloud_torch": "edge ONNX Runtime / cloud PyTorch"}
    for key, label in ratios.items():
        if key in report:
            r = report[key]
            lines.append(f"| {label} | {r['peak_rss']:.2f} | {r['latency_batch1']:.2f} | {r['throughput_batch32']:.2f} |"
                         if "peak_rss" in r else f"| {label} | {r['peak_rss_mb']:.2f} | {r['latency_ms_batch1_median']:.2f} | {r['throughput_samples_per_s_batch32']:.2f} |")
    per_round = report.get("edge_over_cloud_latency_batch1_per_round")
    if per_round:
        lines += ["", f"Edge / cloud latency at batch 1 (PyTorch) in each of the {len(per_round)} rounds: {', '.join(f'{r:.2f}' for r in per_round)}: "
                  "single timings drift on this shared machine, so each number above is the median over rounds."]
    lines.append("")
    lines.append(f"Targets: latency ≤ 0.5 × cloud, peak memory ≤ 0.3 × cloud. Command: `{report.get('command', '?')}`; commit {report.get('commit', '?')}; "
                 f"machine {report.get('machine', {}).get('cpu', '?')}, {report.get('machine', {}).get('cores', '?')} cores; {report.get('utc', '')}.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/updates_cwru_cpu.jsonl"))
    parser.add_argument("--resources", type=Path, default=Path("benchmarks/results/resources_cwru_cpu.json"))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/edge_cwru.md"))
    args = parser.parse_args()
    everything = read_results(args.results)
    records = latest_per_cell(everything, "updates")
    commits = sorted({r["git_commit"] for r in records})
    lines = ["# Syn-Diag edge on CWRU: distillation, online updates, resources", "",
             f"Generated by `python benchmarks/report_edge.py` from `{args.results}` (the newest of each cell's lines: {len(records)} of "
             f"{len(everything)}, the others superseded by a rerun) and `{args.resources}`.",
             f"Runs: `syndiag benchmark --profile cpu --suite updates` (CWRU 1730 rpm, 5-shot, cpu profile, 1,900 test windows); "
             f"commit(s): {', '.join(commits)}.", "",
             "## Accuracy, distillation and 30 update cycles", "", *seed_rows(records, args.runs), ""]
    if args.resources.is_file():
        lines += ["## Resources (one run; each model in its own process, median of several rounds)", "", *resource_rows(json.loads(args.resources.read_text()))]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
