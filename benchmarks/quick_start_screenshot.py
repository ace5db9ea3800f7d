"""The dashboard of the quick start's plant in headless Chromium (issue 33, item 5): ``syndiag quick-start`` (model trained
into --run-dir when absent), the plant page and one machine's page dumped and shot after ``--after`` seconds of replay.

    python benchmarks/quick_start_screenshot.py --data-root /work/shared/data --run-dir runs/quick-start

Writes benchmarks/results/quick_start_dashboard.png, quick_start_machine.png and what the pages showed (states, rows,
charts) beside them (quick_start_dashboard.json).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.service.net import free_port, listening, wait_until  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/quick-start"))
    parser.add_argument("--after", type=float, default=60.0, help="seconds of replay before the shot")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "quick_start_dashboard.png")
    parser.add_argument("--machine", default="/machine/plant/pump2", help="the machine page also shot (quick_start_machine.png)")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not installed (apt-get install chromium)")
    broker_port, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "syndiag", "quick-start", "--data-root", str(args.data_root), "--run-dir", str(args.run_dir),
               "--broker-port", str(broker_port), "--http-port", str(http_port), "--seconds", str(args.after + 60)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        if not wait_until(lambda: listening(http_port) or process.poll() is not None, 1200, every=0.5) or process.poll() is not None:
            raise SystemExit(f"quick-start stopped (exit {process.poll()}); see {args.run_dir / 'serve.log'}")
        time.sleep(args.after)
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1700", "--virtual-time-budget=8000"]
        pages = {}
        for name, path, shot in (("plant", "/", args.out), ("machine", args.machine, args.out.with_name("quick_start_machine.png"))):
            url = f"http://127.0.0.1:{http_port}{path}"
            pages[name] = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
            subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    finally:
        process.terminate()
        process.wait(timeout=60)
    page, machine = pages["plant"], pages["machine"]
    shown = {"states": dict(zip(("ok", "watch", "alarm"), (page.count(f'class="state-{s}">{s}</td>') for s in ("ok", "watch", "alarm")))),
             "machines": page.count('<a href="/machine/'), "velocities": re.findall(r"<td>(\d+\.\d\d \([ABCD]\))</td>", page),
             "alarm_buttons": page.count("<button>acknowledge</button>"), "machine_page": args.machine,
             "trend_charts": machine.count('class="chart class-chart"'), "health_charts": machine.count('class="chart health-chart"')}
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({**provenance(), "after_s": args.after, "page": shown}, indent=1) + "\n")
    print(json.dumps(shown))


if __name__ == "__main__":
    main()
