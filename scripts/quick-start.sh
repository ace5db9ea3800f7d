#!/usr/bin/env bash
# The quick start (docs/service.md "Quick start"): trains the sensor model with the spectrum path and no language model
# into runs/quick-start (skipped when there), starts Mosquitto when none listens on 1883, the service on
# http://127.0.0.1:8000/ and a real-time replay of five machines' real CWRU recordings; Ctrl-C stops what it started.
#   bash scripts/quick-start.sh --data-root /path/to/data [--seconds N] [--http-port P] [--broker-port P]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/syndiag quick-start "$@"
