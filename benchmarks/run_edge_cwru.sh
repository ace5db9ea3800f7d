#!/usr/bin/env bash
# Cloud -> edge -> updates on real CWRU (1730 rpm, 5-shot, seed 0, cpu profile), then the resource benchmark.
# Reuses the seed-0 pretrained checkpoint of benchmarks/bench_cloud.py when it exists.
# Records go to benchmarks/results/edge_cwru.jsonl; figures to runs/cwru-cpu/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
R=configs/syndiag/cpu.yaml
S=(--data-root "$DATA" --set output_dir=runs/cwru-cpu --set results_file=benchmarks/results/edge_cwru.jsonl)
PRE=runs/bench-cloud/seed0/pretrained
if [ -f "$PRE/model.safetensors" ]; then .venv/bin/syndiag finetune -c $R "${S[@]}" --checkpoint "$PRE";
else .venv/bin/syndiag pretrain -c $R "${S[@]}" && .venv/bin/syndiag finetune -c $R "${S[@]}"; fi
.venv/bin/syndiag evaluate -c $R "${S[@]}"
.venv/bin/syndiag distill -c $R "${S[@]}"
.venv/bin/syndiag update -c $R "${S[@]}" --cycles 30
.venv/bin/python benchmarks/bench_resources.py --cloud runs/cwru-cpu/finetuned --edge runs/cwru-cpu/edge
