"""Peak memory and time of `syndiag report` on a long 12 kHz recording (issue 27): the model's windows in blocks, the
envelope evidence averaged over 10-s segments read a few at a time, the saliency from one window.

    python benchmarks/report_memory.py                   # 10 and 60 min; no model, a tiny ONNX export, a tiny PyTorch checkpoint
    python benchmarks/report_memory.py --minutes 60 --models none onnx

The recording is CWRU 130.mat's drive-end signal (outer race, 0.007 in, 1796 rpm) tiled to length, written as a 1-D
float32 .npy into a temporary folder (never kept). Each run is `syndiag report FILE --rpm 1796 --set fs=12000
--template-only` in a subprocess whose peak RSS is getrusage(RUSAGE_CHILDREN) of a small parent that starts only it
(bench_diagnose_memory.MEASURE), beside that of a process that only loads the model (the floor a report with it cannot go
under); results go to benchmarks/results/report_memory_cpu.json. Before this change the same
command on the 60-min recording was killed at 300 s above 4.5 GB; on a 10-min one it took 54 s and 879 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests"))
from bench_diagnose_memory import MEASURE
from machine import provenance

from syndiag.atomic import atomic_write_text

FS = 12000.0
RPM = 1796.0
DATA = {"length": 512, "step": 256, "image_size": 32, "n_scales": 16}
TARGET_MB = 300.0
MODELS = {"none": "no classifier: the envelope evidence and ISO zone alone",
          "onnx": "tiny random Syn-Diag cloud (tests/tiny_checkpoint.py) exported to ONNX: diagnosis, no saliency",
          "pytorch": "the same model as a PyTorch checkpoint: diagnosis and gradient saliency (torch and transformers resident: "
                     "see load_only_peak_rss_mb)"}


def source_signal() -> np.ndarray:
    """CWRU 130.mat's drive-end signal (outer race fault, 12 kHz) from the shared data."""
    import scipy.io

    root = Path(os.environ.get("SYNDIAG_SHARED_DATA", ROOT.parent.parent / "shared" / "data"))
    return scipy.io.loadmat(str(root / "cwru" / "130.mat"), variable_names=["X130_DE_time"])["X130_DE_time"].ravel().astype(np.float32)


def write_recording(path: Path, minutes: float, signal: np.ndarray) -> Path:
    """``signal`` tiled to ``minutes`` as a 1-D float32 .npy, written piecewise through a memory map."""
    n = int(minutes * 60 * FS)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n,))
    for start in range(0, n, signal.size):
        out[start : start + signal.size] = signal[: n - start]
    out.flush()
    del out
    return path


def build_models(folder: Path) -> dict[str, str]:
    """A tiny random Syn-Diag cloud checkpoint (PyTorch: the report draws its gradient saliency) and its ONNX export."""
    from tiny_checkpoint import tiny_checkpoint

    from syndiag.workflows.inference import export_checkpoint

    checkpoint = tiny_checkpoint(folder / "tiny", folder / "tiny-llama", **DATA)
    return {"pytorch": str(checkpoint), "onnx": str(export_checkpoint(checkpoint, folder / "tiny-onnx")[0])}


def load_only_mb(model: Path, logs: Path) -> float:
    """Peak RSS (MB) of a process that only loads ``model`` as diagnosis does: the floor a report with it cannot go under."""
    code = f"from syndiag.serving.diagnosis import load_classifier; load_classifier({str(model)!r})"
    measured = subprocess.run([sys.executable, "-c", MEASURE, str(logs.with_suffix(".out")), str(logs.with_suffix(".stderr")), sys.executable,
                               "-c", code], capture_output=True, text=True, check=True)
    return round(json.loads(measured.stdout)["max_rss_kb"] / 1024, 1)


def report(recording: Path, model: Path | None, logs: Path) -> dict:
    """`syndiag report` on ``recording`` in a child process: peak RSS (MB), seconds, exit status, what it found."""
    cli = Path(sys.executable).with_name("syndiag")
    command = [str(cli)] if cli.is_file() else [sys.executable, "-c", "from syndiag.cli import app; app()"]
    out = logs.with_name(logs.name + "-report")
    command += ["report", str(recording), "--rpm", f"{RPM:g}", "--set", f"fs={FS:g}", "--template-only", "--out", str(out)]
    if model is not None:
        command += ["--checkpoint", str(model)]
    stdout, stderr = logs.with_suffix(".out"), logs.with_suffix(".stderr")
    measured = subprocess.run([sys.executable, "-c", MEASURE, str(stdout), str(stderr), *command], capture_output=True, text=True, check=True)
    run = json.loads(measured.stdout)
    findings = json.loads((out / "findings.json").read_text()) if run["exit_code"] == 0 else {}
    evidence = findings.get("evidence", {})
    return {
        "command": " ".join(["syndiag", *command[command.index("report"):]]).replace(str(logs.parent), "$TMP"),
        "exit_code": run["exit_code"],
        "seconds": round(run["seconds"], 1),
        "peak_rss_mb": round(run["max_rss_kb"] / 1024, 1),  # Linux: kilobytes
        "evidence": evidence.get("strongest"),
        "evidence_ratio": evidence.get("strongest_ratio"),
        "segments": evidence.get("segments"),
        "resolution_hz": evidence.get("resolution_hz"),
        "windows": (findings.get("diagnosis") or {}).get("windows"),
        "figures": sorted(p.name for p in out.glob("*.png")) if out.is_dir() else [],
        "stderr_tail": "" if run["exit_code"] == 0 else stderr.read_text(errors="replace")[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0], help="recording lengths, run in this order")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="classifiers to run with, in this order")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "report_memory_cpu.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="syndiag-report-memory-"))
    try:
        built: dict[str, str] = {}
        if set(args.models) - {"none"}:  # built in a child process, so that torch never enters this one
            code = (f"import sys, json; sys.path[:0] = {[str(ROOT), str(ROOT.parent / 'tests')]!r}; from report_memory import build_models; "
                    f"print(json.dumps(build_models(__import__('pathlib').Path({str(work)!r}))))")
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            built = json.loads(done.stdout.strip().splitlines()[-1])
        models = {name: Path(built[name]) if name in built else None for name in args.models}
        floors = {name: load_only_mb(model, work / f"load-{name}") for name, model in models.items() if model is not None}
        signal = source_signal()
        runs = []
        for minutes in args.minutes:
            recording = write_recording(work / f"recording-{minutes:g}min.npy", minutes, signal)
            for name, model in models.items():
                run = {"minutes": minutes, "model": name, "file_mb": round(recording.stat().st_size / 1e6, 1),
                       **report(recording, model, work / f"run-{minutes:g}-{name}")}
                print(json.dumps(run), flush=True)
                runs.append(run)
            recording.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = {**provenance(), "recording": "CWRU 130.mat drive end (outer race 0.007 in, 1796 rpm) tiled, 1-D float32 .npy at 12 kHz",
           "models": MODELS, "data": DATA, "target_peak_rss_mb": TARGET_MB, "load_only_peak_rss_mb": floors, "runs": runs,
           "before": "issue 27: the 60-min report was killed at 300 s above 4.5 GB RSS with no output; 10 min: 54 s, 879 MB; the "
                     "previous commit (d7fcfe1) on this machine, 10 min, no model: 867 MB, 21 s"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
