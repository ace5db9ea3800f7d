"""`syndiag rul predict` wall time on one unit's folder (issue 16 target: <= 5 s on this machine), as a user runs it.

    python benchmarks/bench_rul_predict.py --data-root ../shared/data --checkpoint runs/rul-femto/rul-model
    python benchmarks/bench_rul_predict.py --data-root ../shared/data --checkpoint runs/rul-femto/rul-model \
        --full-rate 2500 --old-commit 5803c97 --repeats 3

Each of the 11 FEMTO test bearings once, in a fresh process (import, read of its CSV files with no feature cache,
prediction, plot); the wall times, their median and maximum in benchmarks/results/rul_predict_speed.json.

``--full-rate N`` (issue 32: <= 5 s cold on 2 cores): a full-rate unit folder of N snapshots in the FEMTO layout, built
in a temporary folder (never kept) from the shared learning bearings' real snapshots, in order, their acceleration
columns copied byte for byte and their clock columns rewritten to one snapshot every 10 s (the full set's rate); then
`rul predict` on it in a fresh process, ``--repeats`` times, alternating the code of ``--old-commit`` (extracted with
`git archive` into the temporary folder, run from there) and this checkout's; the wall times in
benchmarks/results/rul_predict_fullrate.json.
"""

from __future__ import annotations

import argparse
import json
import os
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
FULL_RATE = ROOT / "results" / "rul_predict_fullrate.json"
PERIOD_S = 10.0
ACC_FS = 25600.0


def full_rate_folder(data_root: Path, folder: Path, count: int) -> list[str]:
    """``count`` snapshots acc_00001.csv ... in ``folder``: the learning bearings' snapshots in order (repeated when there are
    fewer), acceleration text unchanged, clock columns continuous from 08:00:00; the source file of each, for the record."""
    sources = sorted((data_root / "femto" / "Learning_set").glob("Bearing*/acc_*.csv"))
    folder.mkdir(parents=True)
    used = []
    for k in range(count):
        source = sources[k % len(sources)]
        lines = source.read_bytes().replace(b"\r", b"").replace(b";", b",").strip().split(b"\n")
        rows = []
        for i, line in enumerate(lines):
            t = 8 * 3600 + k * PERIOD_S + i / ACC_FS
            acc = line.split(b",", 4)[4]
            rows.append(b"%d,%d,%d,%.4g," % (t // 3600, t % 3600 // 60, t % 60, round((t % 1) * 1e6)) + acc)
        (folder / f"acc_{k + 1:05d}.csv").write_bytes(b"\n".join(rows) + b"\n")
        used.append(source.relative_to(data_root).as_posix())
    return used


def predict_seconds(python_path: str | None, folder: Path, checkpoint: Path, png: Path) -> float:
    env = {**os.environ, "PYTHONPATH": python_path} if python_path else dict(os.environ)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from syndiag.cli import app; app()", "rul", "predict", str(folder), "--checkpoint",
                           str(checkpoint), "--png", str(png), "--json"], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"rul predict failed ({python_path or 'this checkout'}): {done.stderr[-2000:] or done.stdout[-2000:]}")
    return round(seconds, 3)


def full_rate(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "Bearing1_9"  # a name the old code accepts too
        started = time.perf_counter()
        sources = full_rate_folder(args.data_root, folder, args.full_rate)
        built = time.perf_counter() - started
        old_src = None
        if args.old_commit:
            archive = subprocess.run(["git", "archive", args.old_commit, "src"], capture_output=True, check=True, cwd=ROOT.parent).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            old_src = str(Path(tmp) / "src")
        seconds: dict[str, list[float]] = {"new": [], **({"old": []} if old_src else {})}
        predictions = {}
        for repeat in range(args.repeats):
            for code in seconds:
                seconds[code].append(predict_seconds(old_src if code == "old" else None, folder, args.checkpoint, Path(tmp) / "p.png"))
                print(f"repeat {repeat + 1}, {code} code: {seconds[code][-1]:.2f} s", flush=True)
        for code in seconds:
            found = subprocess.run([sys.executable, "-c", "from syndiag.cli import app; app()", "rul", "predict", str(folder), "--checkpoint",
                                    str(args.checkpoint), "--png", str(Path(tmp) / "q.png"), "--json"], capture_output=True, text=True,
                                   env={**os.environ, **({"PYTHONPATH": old_src} if code == "old" else {})}).stdout
            predictions[code] = json.loads(found)["rul_s"]
    report = {**provenance(), "snapshots": args.full_rate, "build_s": round(built, 2), "old_commit": args.old_commit,
              "seconds": seconds, "median_s": {k: sorted(v)[len(v) // 2] for k, v in seconds.items()}, "rul_s": predictions,
              "cores": len(os.sched_getaffinity(0)), "load_average_1min": round(os.getloadavg()[0], 2),
              "sources": {"first": sources[0], "last": sources[-1], "distinct": len(set(sources))}}
    atomic_write_text(FULL_RATE, json.dumps(report, indent=2) + "\n")
    print(f"median {report['median_s']} -> {FULL_RATE}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--full-rate", type=int, default=0, help="snapshots of a full-rate unit folder to time instead (0: the test bearings)")
    parser.add_argument("--old-commit", default=None, help="with --full-rate: also time this commit's code, alternating with this checkout's")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.full_rate:
        return full_rate(args)
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
