#!/usr/bin/env bash
# One short check for a GPU machine (issue 19): the paper profiles (Syn-Diag pretrain -> finetune -> evaluate -> distill,
# the sensor model align -> finetune -> evaluate) on the largest backbone found there, within 10 minutes; prints the device,
# its memory and the seconds per step, and appends one results line to OUT/gpu_check.jsonl.
#
#   scripts/gpu-check.sh [--dry-run] [OUT]        (OUT defaults to runs/gpu-check)
#
# Backbone: $SYNDIAG_GPU_BACKBONE, else the first of Llama-3.1-8B-Instruct, Llama-3.2-1B-Instruct, Qwen2.5-1.5B-Instruct
# found as a transformers folder under $SYNDIAG_MODELS (default ~/models), else the packaged SmolLM2-135M.
# Data: $SYNDIAG_SHARED_DATA, else ../shared/data. --dry-run: the same code path with every size shrunk, on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY_RUN=1; shift; fi
OUT="${1:-runs/gpu-check}"
PYTHON="${PYTHON:-$( [[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python )}"
DATA="${SYNDIAG_SHARED_DATA:-../shared/data}"
[[ -d "$DATA/cwru" ]] || { echo "gpu-check: no CWRU data at $DATA (set SYNDIAG_SHARED_DATA)" >&2; exit 2; }

BACKBONE="${SYNDIAG_GPU_BACKBONE:-}"
if [[ -z "$BACKBONE" ]]; then
  for name in Llama-3.1-8B-Instruct Llama-3.2-1B-Instruct Qwen2.5-1.5B-Instruct; do
    candidate="${SYNDIAG_MODELS:-$HOME/models}/$name"
    if [[ -f "$candidate/config.json" ]]; then BACKBONE="$candidate"; break; fi
  done
fi
BACKBONE="${BACKBONE:-smollm2-135m}"

COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
mkdir -p "$OUT"
"$PYTHON" - <<'PY'
import torch
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}, {p.total_memory / 2**30:.1f} GiB, torch {torch.__version__}")
else:
    print(f"device: cpu (no CUDA), torch {torch.__version__}")
PY
echo "backbone: $BACKBONE"

ARGS=(--backbone "$BACKBONE" --data-root "$DATA" --out "$OUT" --source-commit "$COMMIT" --set "data.cwru.loads=[3]")
if (( DRY_RUN )); then ARGS+=(--tiny --device cpu --dtype float32); fi
status=0
timeout --signal=INT 600 "$PYTHON" benchmarks/gpu_profiles.py "${ARGS[@]}" || status=$?

"$PYTHON" - "$OUT" "$BACKBONE" "$DRY_RUN" "$status" <<'PY'
import json, sys
from pathlib import Path

out, backbone, dry_run, status = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
report = json.loads((out / "gpu_profiles.json").read_text())
stages = {s["stage"]: s for s in report.get("stages", [])}
finetune = stages.get("syndiag finetune", {})
evaluate = stages.get("syndiag evaluate", {})
memory = max((s.get("gpu_peak_gib") or s.get("cpu_peak_rss_gib") or 0) for s in stages.values()) if stages else None
line = {"script": "scripts/gpu-check.sh", "dry_run": dry_run, "backbone": backbone, "exit_status": status, "cut_by_time_limit": status == 124,
        "commit": report.get("source_commit"), "machine": report.get("machine"), "utc": report.get("utc"),
        "stages_ok": [n for n, s in stages.items() if s.get("ok")], "stages_failed": [n for n, s in stages.items() if not s.get("ok")],
        "seconds_per_step": finetune.get("seconds_per_step"), "peak_memory_gib": memory,
        "accuracy": (evaluate.get("metrics") or {}).get("accuracy")}
with open(out / "gpu_check.jsonl", "a", encoding="utf-8") as handle:
    handle.write(json.dumps(line, sort_keys=True) + "\n")
print(f"seconds per step (fine-tuning): {line['seconds_per_step']}; peak memory: {memory} GiB; "
      f"accuracy: {line['accuracy']}; stages ok: {len(line['stages_ok'])}, failed: {line['stages_failed'] or 'none'}")
sys.exit(0 if "syndiag evaluate" in line["stages_ok"] and not line["stages_failed"] else 1)
PY
