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
