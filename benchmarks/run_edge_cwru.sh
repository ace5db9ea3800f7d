#!/usr/bin/env bash
# Cloud -> edge -> 30 update cycles on real CWRU (1730 rpm, 5-shot, cpu profile), one folder per seed, then the
# resource benchmark (PyTorch and ONNX Runtime) on the first seed's models.
# Reuses the pretrained checkpoints of benchmarks/bench_cloud.py (runs/bench-cloud/seed<S>/pretrained) when they exist.
# Resumable: a seed's finished stages (finetuned, edge, updates) are skipped on a re-run.
# Records go to benchmarks/results/edge_cwru.jsonl; figures to runs/cwru-cpu-seed<S>/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
SEEDS=${SEEDS:-0 1 2}
R=configs/syndiag/cpu.yaml
SYN=.venv/bin/syndiag
for SEED in $SEEDS; do
  OUT=runs/cwru-cpu-seed$SEED
  S=(--data-root "$DATA" --set seed=$SEED --set output_dir=$OUT --set results_file=benchmarks/results/edge_cwru.jsonl)
  PRE=runs/bench-cloud/seed$SEED/pretrained
  if [ ! -f "$OUT/finetuned/model.safetensors" ]; then
    if [ -f "$PRE/model.safetensors" ]; then $SYN finetune -c $R "${S[@]}" --checkpoint "$PRE";
    else $SYN pretrain -c $R "${S[@]}" && $SYN finetune -c $R "${S[@]}"; fi
    $SYN evaluate -c $R "${S[@]}"
  fi
  [ -f "$OUT/edge/model.safetensors" ] || $SYN distill -c $R "${S[@]}"
  [ -f "$OUT/update_curves.png" ] || $SYN update -c $R "${S[@]}" --cycles 30
done
FIRST=runs/cwru-cpu-seed${SEEDS%% *}
$SYN export --checkpoint $FIRST/finetuned --out $FIRST/finetuned-onnx
$SYN export --checkpoint $FIRST/edge --out $FIRST/edge-onnx
.venv/bin/python benchmarks/bench_resources.py --cloud $FIRST/finetuned --edge $FIRST/edge \
  --cloud-onnx $FIRST/finetuned-onnx --edge-onnx $FIRST/edge-onnx
