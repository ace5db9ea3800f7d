"""`syndiag rul predict` wall time on one unit's folder (issue 16 target: <= 5 s on this machine), as a user runs it.

    python benchmarks/bench_rul_predict.py --data-root ../shared/data --checkpoint runs/rul-femto/rul-model

Each of the 11 FEMTO test bearings once, in a fresh process (import, read of its CSV files with no feature cache,
prediction, plot); the wall times, their median and maximum in benchmarks/results/rul_predict_speed.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402

RESULTS = ROOT / "results" / "rul_predict_speed.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    args = parser.parse_args()
    folders = sorted((args.data_root / "femto" / "Test_set").glob("Bearing*"))
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            started = time.perf_counter()
            subprocess.run([sys.executable, str(Path(sys.executable).parent / "syndiag"), "rul", "predict", str(folder), "--checkpoint", str(args.checkpoint),
                            "--png", str(Path(tmp) / f"{folder.name}.png")], check=True, capture_output=True)
            seconds[folder.name] = round(time.perf_counter() - started, 3)
            print(f"{folder.name}: {seconds[folder.name]:.2f} s", flush=True)
    values = sorted(seconds.values())
    report = {**provenance(), "seconds": seconds, "median_s": values[len(values) // 2], "max_s": values[-1],
              "snapshots": {f.name: len(list(f.glob("acc_*.csv"))) for f in folders}}
    atomic_write_text(RESULTS, json.dumps(report, indent=2) + "\n")
    print(f"median {report['median_s']:.2f} s, max {report['max_s']:.2f} s -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
