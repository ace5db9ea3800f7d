"""Open report.html files in a real headless browser (Chromium from Debian's packages) and save a screenshot of each.

    apt-get install chromium
    python benchmarks/report_screenshot.py benchmarks/results/reports/*/report.html

Checks per report: the browser exits 0, the screenshot is a PNG with content (not one flat colour), and the DOM
Chromium built holds every embedded figure as a decoded image (it runs a script that counts images with a natural width).
Writes report.png beside each report.html and a summary to benchmarks/results/report_screenshots.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

CHECK = "<script>window.onload=()=>{document.title='images:'+[...document.images].filter(i=>i.naturalWidth>0).length+'/'+document.images.length}</script>"


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    return found


def check(html: Path, exe: str) -> dict:
    import matplotlib.image as mpimg
    import numpy as np

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000"]
    png = html.with_name("report.png")
    shot = subprocess.run([exe, *flags, f"--screenshot={png}", "--window-size=1100,2600", html.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(html.read_text(encoding="utf-8").replace("</head>", CHECK + "</head>"), encoding="utf-8")
        dom = subprocess.run([exe, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    title = dom.stdout.split("<title>")[1].split("</title>")[0] if "<title>" in dom.stdout else ""
    image = mpimg.imread(png) if png.is_file() else None
    loaded, total = (int(v) for v in title.removeprefix("images:").split("/")) if title.startswith("images:") else (0, -1)
    return {"report": str(html), "screenshot": str(png), "browser_exit": shot.returncode, "dom_exit": dom.returncode,
            "images_decoded": loaded, "images": total, "screenshot_std": None if image is None else float(np.std(image)),
            "ok": shot.returncode == 0 and image is not None and float(np.std(image)) > 0.01 and loaded == total > 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "report_screenshots.json")
    args = parser.parse_args()
    exe = browser()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    rows = [check(path, exe) for path in args.reports]
    for row in rows:
        print(f"{'ok ' if row['ok'] else 'BAD'} {row['report']}: {row['images_decoded']}/{row['images']} images decoded, screenshot {row['screenshot']}")
    args.out.write_text(json.dumps({**provenance(), "browser": version, "reports": rows}, indent=1) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
