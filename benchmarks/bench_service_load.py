"""Load test of the live service (issues 18, 33), loopback only, bounded in count and time.

    python benchmarks/bench_service_load.py --checkpoint runs/cloud-de/onnx --files ../shared/data/cwru/105.mat \
        --sensors 10 25 50 --seconds 30
    python benchmarks/bench_service_load.py --plant --data-root ../shared/data --checkpoint runs/quick-start/sensor-finetuned \
        --sensors 10 25 50 100 --staggered 10 --seconds 30

``--plant``: the quick start's sensor model (several channels: drive-end and fan-end vibration at 12 kHz, speed at 1 Hz,
each its own stream) serving N machines, each replaying one of the quick start's five CWRU recordings (its test half),
every sensor declared; else N one-channel sensors replay ``--files``. The service runs with its defaults (health states,
alarms, retention, raw clips and snapshots: everything a plant has on). ``--staggered`` counts are run again with each
sensor's clock ``i / N`` s behind (machines that started at different times: their windows fall due at other instants).

For each N: a fresh Mosquitto on a free port, `syndiag serve` in its own process, N sensors replaying the files in
real time (0.1 s binary payloads, QoS 1), one diagnosis per sensor per second. Measured: windows in, diagnosed,
dropped, the arrival-to-stored latency of every stored diagnosis (p50, p99), the service's CPU seconds and peak RSS
(from /proc). N is sustained when every due window was diagnosed (no drops, queue drained within 5 s of the end) and
p99 < 1 s. Then the largest sustained N is run at 2x: windows in must equal diagnosed + dropped + waiting, and the RSS
is sampled every second (flat within 10 % is the target) over ``--overload-seconds``. During the run with the most
sensors, headless Chromium opens the dashboard's plant page and one machine's page: first contentful paint and first
complete refresh (tables and charts, from the page's own Performance API) are recorded and screenshots saved. Results:
benchmarks/results/service_load_cpu.{json,png} (``--out``), service_dashboard.png and service_dashboard_machine.png.
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


def page_timings(port: int, args, path: str, shot_name: str) -> dict:
    """First contentful paint and first complete refresh of one page (ms from navigation), its rows and charts, a screenshot."""
    import re

    url = f"http://127.0.0.1:{port}{path}"
    common = [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"]
    started = time.monotonic()
    page = subprocess.run([*common, "--virtual-time-budget=8000", "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    wall = time.monotonic() - started
    found = {key: int(value) for key, value in re.findall(r'data-(first-paint-ms|first-render-ms)="(\d+)"', page)}
    shot = args.out.with_name(shot_name)
    subprocess.run([*common, "--virtual-time-budget=8000", f"--screenshot={shot}", url], capture_output=True, timeout=120)
    return {"path": path, "first_contentful_paint_ms": found.get("first-paint-ms"), "first_complete_refresh_ms": found.get("first-render-ms"),
            "rows": page.count("<tr><td>"), "charts": page.count('class="uplot'), "browser_wall_s": round(wall, 2),
            "screenshot": shot.name if shot.is_file() else None}


def dashboard(port: int, args, machine: str) -> dict:
    """The plant page and one machine's page."""
    return {"plant": page_timings(port, args, "/", "service_dashboard.png"),
            "machine": page_timings(port, args, machine, "service_dashboard_machine.png")}


def plant(n: int, args) -> list:
    """N machines, the quick start's five recordings in turn."""
    from dataclasses import replace

    from syndiag.service.plant_replay import plant_machines
    from syndiag.service.quick_start import model_recipe

    if not hasattr(args, "machines"):
        args.machines = plant_machines(model_recipe(args.data_root, Path(tempfile.gettempdir())).data)
    return [replace(m, name=f"{m.name}-{i // len(args.machines)}") for i, m in
            ((i, args.machines[i % len(args.machines)]) for i in range(n))]


def run(n: int, args, workdir: Path, seconds: float | None = None, browse: bool = False, stagger_s: float = 0.0) -> dict:
    broker_port, http_port = free_port(), free_port()
    conf = workdir / f"mosquitto-{n}.conf"
    conf.write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n")
    broker = subprocess.Popen([args.mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = Path(tempfile.mkdtemp(prefix=f"load-{n}-{stagger_s:g}-", dir=workdir)) / "load.sqlite"
    serve = [str(Path(sys.executable).with_name("syndiag")), "serve", "--set", f"broker_port={broker_port}", "--set", f"http_port={http_port}",
             "--set", f"database_url=sqlite:///{db}", "--set", f"queue_size={args.queue}"]
    machines = None
    if args.plant:
        import yaml

        from syndiag.service.quick_start import write_service_config

        machines = plant(n, args)
        folder = Path(tempfile.mkdtemp(prefix=f"plant-{n}-{stagger_s:g}-", dir=workdir))
        config = write_service_config(folder, str(args.checkpoint), machines, broker_port, http_port, every_s=1.0)
        served = yaml.safe_load(config.read_text())
        served["database_url"] = f"sqlite:///{db}"
        config.write_text(yaml.safe_dump(served, sort_keys=False))
        serve = [*serve[:2], "-c", str(config), "--set", f"queue_size={args.queue}"]
    else:
        serve = [*serve, "--checkpoint", str(args.checkpoint)]
    service = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss, stop = [], threading.Event()
    try:
        assert wait(lambda: listening(broker_port) and listening(http_port), 60), "service did not start"
        time.sleep(1.0)
        cpu0, _ = proc_stats(service.pid)

        def sample() -> None:
            while not stop.is_set():
                try:
                    rss.append(proc_stats(service.pid)[1])
                except (OSError, StopIteration):  # the service has exited (its end, or a crash the counters show)
                    return
                time.sleep(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        seconds = seconds or args.seconds
        page: dict = {}
        machine = f"/machine/plant/{machines[0].name}" if machines else "/machine/site1/machine1"
        browser = threading.Timer(min(10.0, seconds / 2), lambda: page.update(dashboard(http_port, args, machine))) if browse and args.chromium else None
        if browser:
            browser.start()
        if machines:
            from syndiag.service.plant_replay import replay_plant

            sent = replay_plant(machines, "127.0.0.1", broker_port, seconds=seconds, stagger_s=stagger_s)
        else:
            sent = replay(args.files, n, "127.0.0.1", broker_port, seconds=seconds, speed=1.0, fs=args.fs, stagger_s=stagger_s)
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
        return {"sensors": n, "stagger_s": stagger_s, "seconds": seconds, "dashboard": page or None,
                "alarms": found.get("alarms", 0), "counters": found, "replay_wall_s": round(wall, 2), "published": sent, "expected_windows": expected,
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
    parser.add_argument("--checkpoint", type=Path, required=True, help="a one-channel model (ONNX export), or with --plant a sensor model")
    parser.add_argument("--files", type=Path, nargs="+", help="recordings the one-channel sensors replay")
    parser.add_argument("--plant", action="store_true", help="serve a sensor model to N machines of the quick start's plant")
    parser.add_argument("--data-root", type=Path, default=None, help="--plant: the CWRU data root")
    parser.add_argument("--staggered", type=int, nargs="*", default=[], help="sensor counts run again with staggered clocks")
    parser.add_argument("--sensors", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fs", type=float, default=None)
    parser.add_argument("--queue", type=int, default=256)
    parser.add_argument("--overload-seconds", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service_load_cpu.json")
    args = parser.parse_args()
    args.mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    args.chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if args.plant == bool(args.files) or (args.plant and args.data_root is None):
        parser.error("give --files (one-channel sensors) or --plant with --data-root, one of the two")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, stagger in [*((n, 0.0) for n in args.sensors), *((n, 1.0) for n in args.staggered)]:
            rows.append(run(n, args, Path(tmp), browse=n == max(args.sensors) and not stagger, stagger_s=stagger))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "rss_mb"}), flush=True)
        best = max([r["sensors"] for r in rows if r["sustained"] and not r["stagger_s"]], default=None)
        overload = run(2 * best, args, Path(tmp), seconds=args.overload_seconds) if best else None
    if overload:
        overload["accounted"] = overload["windows_in"] == overload["diagnosed"] + overload["dropped"] + overload["waiting"] + overload["in_flight"]
        print(json.dumps({k: v for k, v in overload.items() if k != "rss_mb"}))
    if overload and overload["rss_mb"]:
        settled = overload["rss_mb"][len(overload["rss_mb"]) // 10:]
        overload["rss_spread_after_first_tenth"] = round((max(settled) - min(settled)) / min(settled), 3)
    report = {**provenance(), "checkpoint": str(args.checkpoint), "mode": "plant (sensor model)" if args.plant else "one-channel",
              "runs": rows, "largest_sustained": best, "overload": overload}
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    plot(report, args.out.with_suffix(".png"))
    return 0


def plot(report: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    from syndiag.evaluation.metrics import save_figure_png

    figure = Figure(figsize=(11, 3.6))
    left, right = figure.subplots(1, 2)
    runs = [r for r in report["runs"] if r["p50_ms"] is not None and not r.get("stagger_s")]
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
