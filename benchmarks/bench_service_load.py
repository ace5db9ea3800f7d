"""Load test of the live service (issue 18), loopback only, bounded in count and time.

    python benchmarks/bench_service_load.py --checkpoint runs/cloud-de/onnx --files ../shared/data/cwru/105.mat \
        --sensors 10 25 50 --seconds 30

For each N: a fresh Mosquitto on a free port, `syndiag serve` in its own process, N sensors replaying the files in
real time (0.1 s binary payloads, QoS 1), one diagnosis per sensor per second. Measured: windows in, diagnosed,
dropped, the arrival-to-stored latency of every stored diagnosis (p50, p99), the service's CPU seconds and peak RSS
(from /proc). N is sustained when every due window was diagnosed (no drops, queue drained within 5 s of the end) and
p99 < 1 s. Then the largest sustained N is run at 2x: windows in must equal diagnosed + dropped + waiting, and the RSS
is sampled every second (flat within 10 % is the target). Results: benchmarks/results/service_load_cpu.json and .png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.service.net import free_port, listening, wait_until as wait  # noqa: E402
from syndiag.service.runner import replay  # noqa: E402


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    ticks = int(subprocess.run(["getconf", "CLK_TCK"], capture_output=True, text=True).stdout)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    rss = next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return (int(fields[11]) + int(fields[12])) / ticks, rss


def metrics(port: int) -> dict[str, float]:
    import httpx

    found = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.split()
            found[name.removeprefix("syndiag_").removesuffix("_total")] = float(value)
    return found


def run(n: int, args, workdir: Path) -> dict:
    broker_port, http_port = free_port(), free_port()
    conf = workdir / f"mosquitto-{n}.conf"
    conf.write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n")
    broker = subprocess.Popen([args.mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = workdir / f"load-{n}.sqlite"
    service = subprocess.Popen([str(Path(sys.executable).with_name("syndiag")), "serve", "--checkpoint", str(args.checkpoint),
                                "--set", f"broker_port={broker_port}", "--set", f"http_port={http_port}",
                                "--set", f"database_url=sqlite:///{db}", "--set", f"queue_size={args.queue}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss, stop = [], threading.Event()
    try:
        assert wait(lambda: listening(broker_port) and listening(http_port), 60), "service did not start"
        time.sleep(1.0)
        cpu0, _ = proc_stats(service.pid)

        def sample() -> None:
            while not stop.is_set():
                rss.append(proc_stats(service.pid)[1])
                time.sleep(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        sent = replay(args.files, n, "127.0.0.1", broker_port, seconds=args.seconds, speed=1.0, fs=args.fs)
        wall = time.monotonic() - started
        drained = wait(lambda: metrics(http_port).get("queue_depth", 1) == 0, 5.0)
        cpu1, _ = proc_stats(service.pid)
        found = metrics(http_port)
        stop.set()
        with sqlite3.connect(db) as connection:
            latency = np.array([r[0] for r in connection.execute("select latency_ms from diagnoses")], dtype=float)
        expected = n * int(args.seconds)
        return {"sensors": n, "seconds": args.seconds, "replay_wall_s": round(wall, 2), "published": sent, "expected_windows": expected,
                "windows_in": found.get("windows_in", 0), "diagnosed": found.get("diagnosed", 0), "dropped": found.get("dropped_queue_full", 0),
                "expired": found.get("expired", 0), "waiting": found.get("queue_depth", 0), "drained": drained,
                "p50_ms": float(np.percentile(latency, 50)) if latency.size else None,
                "p99_ms": float(np.percentile(latency, 99)) if latency.size else None,
                "service_cpu_s": round(cpu1 - cpu0, 2), "rss_mb": [round(r / 2**20, 1) for r in rss],
                "sustained": bool(drained and found.get("dropped_queue_full", 0) == 0 and found.get("diagnosed", 0) >= 0.98 * expected
                                  and latency.size and np.percentile(latency, 99) < 1000.0)}
    finally:
        stop.set()
        service.kill()
        service.wait()
        broker.kill()
        broker.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a one-channel ONNX export")
    parser.add_argument("--files", type=Path, nargs="+", required=True)
    parser.add_argument("--sensors", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fs", type=float, default=None)
    parser.add_argument("--queue", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service_load_cpu.json")
    args = parser.parse_args()
    args.mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sensors:
            rows.append(run(n, args, Path(tmp)))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "rss_mb"}))
        best = max([r["sensors"] for r in rows if r["sustained"]], default=None)
        overload = run(2 * best, args, Path(tmp)) if best else None
    if overload:
        overload["accounted"] = overload["windows_in"] == overload["diagnosed"] + overload["dropped"] + overload["waiting"]
        print(json.dumps({k: v for k, v in overload.items() if k != "rss_mb"}))
    atomic_write_text(args.out, json.dumps({**provenance(), "checkpoint": str(args.checkpoint), "runs": rows,
                                            "largest_sustained": best, "overload": overload}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
