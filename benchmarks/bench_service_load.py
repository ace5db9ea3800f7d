"""Load test of the live service (issue 18), loopback only, bounded in count and time.

    python benchmarks/bench_service_load.py --checkpoint runs/cloud-de/onnx --files ../shared/data/cwru/105.mat \
        --sensors 10 25 50 --seconds 30

For each N: a fresh Mosquitto on a free port, `syndiag serve` in its own process, N sensors replaying the files in
real time (0.1 s binary payloads, QoS 1), one diagnosis per sensor per second. Measured: windows in, diagnosed,
dropped, the arrival-to-stored latency of every stored diagnosis (p50, p99), the service's CPU seconds and peak RSS
(from /proc). N is sustained when every due window was diagnosed (no drops, queue drained within 5 s of the end) and
p99 < 1 s. Then the largest sustained N is run at 2x: windows in must equal diagnosed + dropped + waiting, and the RSS
is sampled every second (flat within 10 % is the target) over ``--overload-seconds``. During the run with the most
sensors, headless Chromium opens the dashboard: its first contentful paint and first complete refresh (table and every
chart, from the page's own Performance API) are recorded and a screenshot is saved. Results:
benchmarks/results/service_load_cpu.{json,png} and service_dashboard.png.
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


def dashboard(port: int, args) -> dict:
    """First contentful paint and first complete refresh of the site page (ms from navigation), and a screenshot."""
    import re

    url = f"http://127.0.0.1:{port}/site/site1"
    common = [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]
    started = time.monotonic()
    page = subprocess.run([*common, "--virtual-time-budget=8000", "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    wall = time.monotonic() - started
    found = {key: int(value) for key, value in re.findall(r'data-(first-paint-ms|first-render-ms)="(\d+)"', page)}
    rows = page.count("<tr><td>")
    shot = args.out.with_name("service_dashboard.png")
    subprocess.run([*common, "--virtual-time-budget=8000", f"--screenshot={shot}", url], capture_output=True, timeout=120)
    return {"first_contentful_paint_ms": found.get("first-paint-ms"), "first_complete_refresh_ms": found.get("first-render-ms"),
            "sensor_rows": rows, "browser_wall_s": round(wall, 2), "screenshot": shot.name if shot.is_file() else None}


def run(n: int, args, workdir: Path, seconds: float | None = None, browse: bool = False) -> dict:
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
        seconds = seconds or args.seconds
        page: dict = {}
        browser = threading.Timer(min(10.0, seconds / 2), lambda: page.update(dashboard(http_port, args))) if browse and args.chromium else None
        if browser:
            browser.start()
        sent = replay(args.files, n, "127.0.0.1", broker_port, seconds=seconds, speed=1.0, fs=args.fs)
        if browser:
            browser.join()
        wall = time.monotonic() - started
        drained = wait(lambda: metrics(http_port).get("queue_depth", 1) == 0 and metrics(http_port).get("in_flight", 1) == 0, 5.0)
        cpu1, _ = proc_stats(service.pid)
        found = metrics(http_port)
        stop.set()
        with sqlite3.connect(db) as connection:
            latency = np.array([r[0] for r in connection.execute("select latency_ms from diagnoses")], dtype=float)
        expected = n * int(seconds)
        return {"sensors": n, "seconds": seconds, "dashboard": page or None, "replay_wall_s": round(wall, 2), "published": sent, "expected_windows": expected,
                "windows_in": found.get("windows_in", 0), "diagnosed": found.get("diagnosed", 0), "dropped": found.get("dropped_queue_full", 0),
                "expired": found.get("expired", 0), "waiting": found.get("queue_depth", 0), "in_flight": found.get("in_flight", 0),
                "drained": drained,
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
    parser.add_argument("--overload-seconds", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service_load_cpu.json")
    args = parser.parse_args()
    args.mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    args.chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sensors:
            rows.append(run(n, args, Path(tmp), browse=n == max(args.sensors)))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "rss_mb"}), flush=True)
        best = max([r["sensors"] for r in rows if r["sustained"]], default=None)
        overload = run(2 * best, args, Path(tmp), seconds=args.overload_seconds) if best else None
    if overload:
        overload["accounted"] = overload["windows_in"] == overload["diagnosed"] + overload["dropped"] + overload["waiting"] + overload["in_flight"]
        print(json.dumps({k: v for k, v in overload.items() if k != "rss_mb"}))
    if overload and overload["rss_mb"]:
        settled = overload["rss_mb"][len(overload["rss_mb"]) // 10:]
        overload["rss_spread_after_first_tenth"] = round((max(settled) - min(settled)) / min(settled), 3)
    report = {**provenance(), "checkpoint": str(args.checkpoint), "runs": rows, "largest_sustained": best, "overload": overload}
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    plot(report, args.out.with_suffix(".png"))
    return 0


def plot(report: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    from syndiag.evaluation.metrics import save_figure_png

    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    runs = [r for r in report["runs"] if r["p50_ms"] is not None]
    n = [r["sensors"] for r in runs]
    left.plot(n, [r["p50_ms"] for r in runs], "o-", label="p50")
    left.plot(n, [r["p99_ms"] for r in runs], "s-", label="p99")
    left.axhline(1000, color="grey", ls="--", lw=0.8)
    for r in runs:
        left.annotate("sustained" if r["sustained"] else "not sustained", (r["sensors"], r["p99_ms"]), fontsize=7, xytext=(3, 3),
                      textcoords="offset points")
    left.set(xlabel="sensors at 12 kHz, one diagnosis per second each", ylabel="arrival -> stored (ms)", yscale="log",
             title="latency by load")
    left.legend(fontsize=8)
    overload = report.get("overload")
    if overload and overload["rss_mb"]:
        right.plot(range(len(overload["rss_mb"])), overload["rss_mb"])
        right.set(xlabel="s", ylabel="service RSS (MB)", title=f"{overload['sensors']} sensors (2x): memory; "
                  f"dropped {overload['dropped']:.0f} of {overload['windows_in']:.0f} windows")
    figure.tight_layout()
    save_figure_png(figure, path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
