"""Peak memory and time of `syndiag diagnose` on a 1-hour 12 kHz recording (a 173 MB float32 .npy), streamed in blocks.

    python benchmarks/bench_diagnose_memory.py                  # 60 min and 1 min recordings, a tiny model exported to ONNX
    python benchmarks/bench_diagnose_memory.py --model stub     # a hand-built ONNX graph instead (no torch export)

Writes the recordings into a temporary folder, runs `syndiag diagnose FILE --fs 12000 --json` on each in a subprocess
and records the peak resident memory of that subprocess (resource.getrusage(RUSAGE_CHILDREN).ru_maxrss in a small
parent that starts only it) and its seconds in benchmarks/results/diagnose_memory.json. The windows are the paper's
(512 samples, step 256: 168,748 per hour); the spectrograms are small (16 scales, 32x32) so the run takes minutes on
two cores: memory is what is measured. Before streaming (issue 14), the same command held 1.2 GB after 30 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests"))
from machine import provenance

FS = 12000.0
DATA = {"length": 512, "step": 256, "image_size": 32, "n_scales": 16}


def write_recording(path: Path, minutes: float, seed: int = 0) -> Path:
    """A 1-D float32 .npy of a tone plus noise, written in one-minute pieces (never whole in this process)."""
    n = int(minutes * 60 * FS)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n,))
    rng = np.random.default_rng(seed)
    piece = int(60 * FS)
    for start in range(0, n, piece):
        t = np.arange(start, min(start + piece, n)) / FS
        out[start : start + len(t)] = np.sin(2 * np.pi * 157.0 * t) + 0.3 * rng.standard_normal(len(t))
    out.flush()
    del out
    return path


def build_model(folder: Path, kind: str) -> Path:
    from tiny_checkpoint import onnx_folder, tiny_checkpoint

    if kind == "stub":
        return onnx_folder(folder / "stub-onnx", image_size=DATA["image_size"], **{k: v for k, v in DATA.items() if k != "image_size"})
    from syndiag.workflows.inference import export_checkpoint

    checkpoint = tiny_checkpoint(folder / "tiny", folder / "tiny-llama", **DATA)
    return export_checkpoint(checkpoint, folder / "tiny-onnx")[0]


MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "with open(sys.argv[1], 'wb') as out, open(sys.argv[2], 'wb') as err:\n"
    "    code = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode\n"
    "print(json.dumps({'exit_code': code, 'seconds': time.perf_counter() - started,\n"
    "                  'max_rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)
"""Runs a command and reports its peak RSS: resource.getrusage(RUSAGE_CHILDREN) of a small parent that starts only it
(measured from this script directly, a child's figure would include what it shared with a large parent at fork)."""


def diagnose(recording: Path, model: Path, logs: Path) -> dict:
    """Run the CLI on ``recording`` in a child process; its peak RSS (MB), seconds, exit status and summary."""
    cli = Path(sys.executable).with_name("syndiag")
    command = [str(cli)] if cli.is_file() else [sys.executable, "-c", "from syndiag.cli import app; app()"]
    command += ["diagnose", str(recording), "--checkpoint", str(model), "--fs", f"{FS:g}", "--json"]
    stdout, stderr = logs.with_suffix(".json"), logs.with_suffix(".stderr")
    measured = subprocess.run([sys.executable, "-c", MEASURE, str(stdout), str(stderr), *command], capture_output=True, text=True, check=True)
    run = json.loads(measured.stdout)
    summary = json.loads(stdout.read_text()) if run["exit_code"] == 0 else {}
    return {
        "command": " ".join(["syndiag", *command[-7:]]),
        "exit_code": run["exit_code"],
        "seconds": round(run["seconds"], 1),
        "peak_rss_mb": round(run["max_rss_kb"] / 1024, 1),  # Linux: kilobytes
        "windows": summary.get("windows"),
        "segments": len(summary.get("segments", [])),
        "prediction": summary.get("prediction"),
        "majority": summary.get("majority"),
        "progress_lines": [line for line in stderr.read_text(errors="replace").splitlines() if "windows (" in line][-3:],
        "stderr_tail": "" if run["exit_code"] == 0 else stderr.read_text(errors="replace")[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 60.0], help="recording lengths, run in this order")
    parser.add_argument("--model", choices=["tiny", "stub"], default="tiny")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "diagnose_memory.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="syndiag-diagnose-memory-"))
    try:
        # built in a child process, so that torch (for the export) never enters this one
        code = f"import sys; sys.path[:0] = {[str(ROOT), str(ROOT.parent / 'tests')]!r}; from bench_diagnose_memory import build_model; " \
               f"print(build_model(__import__('pathlib').Path({str(work)!r}), {args.model!r}))"
        model = Path(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        runs = []
        for minutes in args.minutes:
            recording = write_recording(work / f"recording-{minutes:g}min.npy", minutes)
            run = {"minutes": minutes, "file_mb": round(recording.stat().st_size / 1e6, 1), **diagnose(recording, model, work / f"run-{minutes:g}")}
            print(json.dumps(run), flush=True)
            runs.append(run)
            recording.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {
        **provenance(),
        "model": {"tiny": "tiny random Syn-Diag cloud model (tests/tiny_checkpoint.py) exported to ONNX",
                  "stub": "hand-built ONNX graph (tests/tiny_checkpoint.py onnx_folder)"}[args.model],
        "data": DATA,
        "fs": FS,
        "runs": runs,
        "before_streaming": "issue 14: 1.2 GB resident after 30 s on the 1-hour recording, every window built in memory",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from syndiag.atomic import atomic_write_text

    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
