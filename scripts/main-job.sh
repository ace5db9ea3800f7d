#!/usr/bin/env bash
# The main job: prepare -> pretrain -> finetune -> evaluate, Syn-Diag cloud, CWRU 1730 rpm, 5-shot, cpu profile.
# Without a data root it runs on the embedded simulated CWRU-like rig; pass --data-root DIR (or set
# SYNDIAG_DATA) for the real CWRU files. Extra arguments go to every step (e.g. --set seed=1).
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${RECIPE:-configs/syndiag/cpu.yaml}
SYNDIAG=.venv/bin/syndiag
start=$(date +%s)
"$SYNDIAG" data prepare --config "$RECIPE" "$@"
"$SYNDIAG" pretrain --config "$RECIPE" "$@"
"$SYNDIAG" finetune --config "$RECIPE" "$@"
"$SYNDIAG" evaluate --config "$RECIPE" "$@"
echo "main job finished in $(( $(date +%s) - start )) s"
