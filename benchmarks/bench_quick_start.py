"""The quick start measured (issue 33, item 6): ``syndiag quick-start`` run as a user runs it, from an empty run folder
(the model trained) and again with the model there, each on free loopback ports; the wall time from the command's start
to the first stored diagnosis, and the accuracy of the live diagnoses of the replayed recordings (whose classes are
known: the plant's record beside the service config), per machine and over all.

    python benchmarks/bench_quick_start.py --data-root /work/shared/data --seconds 90

Results: benchmarks/results/quick_start_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.service.net import free_port  # noqa: E402
from syndiag.service.quick_start import PLANT_FILE, MODEL_FILE  # noqa: E402


def get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def one_run(args, run_dir: Path) -> dict:
    """The command, timed to its first stored diagnosis; the machines' states near the end; the stored diagnoses scored."""
    for old in run_dir.glob("service.db*"):  # each run's diagnoses on their own: the first one is this run's first
        old.unlink()
    broker_port, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "syndiag", "quick-start", "--data-root", str(args.data_root), "--run-dir", str(run_dir),
               "--broker-port", str(broker_port), "--http-port", str(http_port), "--seconds", str(args.seconds)]
    started, load_before = time.monotonic(), os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first, states, up, loads = None, None, None, [load_before]
    while process.poll() is None:
        time.sleep(0.25)
        loads.append(os.getloadavg()[0])  # the machine is shared: how loaded it was while this ran
        found = get(f"http://127.0.0.1:{http_port}/api/sensors")
        if found is not None and up is None:
            up = time.monotonic() - started
        if found is not None and first is None and found["sensors"]:
            first = time.monotonic() - started
        if first is not None and time.monotonic() - started > first + args.seconds - 10:
            states = get(f"http://127.0.0.1:{http_port}/api/states") or states
    output = process.stdout.read()
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and what it started and waited for (service, broker)
    cpu_s = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    if process.returncode != 0:
        raise SystemExit(f"quick-start failed (exit {process.returncode}):\n{output}")
    truth = json.loads((run_dir / PLANT_FILE).read_text())
    with sqlite3.connect(run_dir / "service.db") as db:
        rows = db.execute("SELECT sensor, label, probability FROM diagnoses").fetchall()
        dropped = db.execute("SELECT reason, COUNT(*) FROM dropped_windows GROUP BY reason").fetchall()
    per_machine = {}
    for sensor, known in truth.items():
        labels = Counter(label for name, label, _ in rows if name == sensor)
        total = sum(labels.values())
        per_machine[sensor] = {"true_class": known["label"], "recording": Path(known["source"].split(" ")[0]).name + known["source"][len(known["source"].split(" ")[0]):],
                               "windows": total, "correct": labels[known["label"]], "accuracy": round(labels[known["label"]] / max(total, 1), 4),
                               "labels": dict(labels.most_common()),
                               "state": (states or {}).get("sensors", {}).get(sensor, {}).get("state")}
    windows = sum(m["windows"] for m in per_machine.values())
    correct = sum(m["correct"] for m in per_machine.values())
    return {"model": json.loads((run_dir / MODEL_FILE).read_text()), "seconds_to_http": round(up or -1, 1),
            "seconds_to_first_diagnosis": round(first or -1, 1), "wall_seconds": round(time.monotonic() - started, 1),
            "cpu_seconds": round(cpu_s, 1), "load_average_1min": {"start": round(load_before, 2), "mean": round(sum(loads) / len(loads), 2), "max": round(max(loads), 2)},
            "cores": os.cpu_count(),
            "windows_diagnosed": windows, "live_accuracy": round(correct / max(windows, 1), 4), "dropped": dict(dropped),
            "machines": per_machine, "output": output.strip().splitlines()[-12:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=90.0, help="seconds of replay per run")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "quick_start_cpu.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syndiag-quick-start-"))
    cold = one_run(args, work / "run")
    warm = one_run(args, work / "run")
    shutil.rmtree(work, ignore_errors=True)  # kept when a run fails: its log and model tell why
    report = {**provenance(), "command": "syndiag quick-start --data-root DATA (--seconds %g, free ports)" % args.seconds,
              "cold (model trained)": cold, "warm (model there)": warm,
              "target": "first diagnosis <= 600 s from the command's start on 2 cores, model >= 0.95 on its own test"}
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    for name in ("cold (model trained)", "warm (model there)"):
        run = report[name]
        print(f"{name}: first diagnosis at {run['seconds_to_first_diagnosis']} s; model {run['model']['accuracy']:.4f} on its test; "
              f"live {run['live_accuracy']:.4f} on {run['windows_diagnosed']} windows")


if __name__ == "__main__":
    main()
