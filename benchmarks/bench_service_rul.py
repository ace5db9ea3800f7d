"""The remaining useful life in the live service (issue 33, item 1), on the FEMTO learning bearings, leave one bearing out.

    python benchmarks/bench_service_rul.py --data-root ../shared/data --checkpoint runs/quick-start/sensor-finetuned

For each learning bearing: a RUL checkpoint of ``--family`` fitted on the other five, its settings chosen by
leave-one-bearing-out on those five only (the grid of the rul recipe); then the held-out bearing streamed into the
service's pipeline snapshot by snapshot (horizontal and vertical acceleration at 25.6 kHz as the sensor model's two
vibration channels, the shaft speed at 1 Hz; each snapshot at its recorded time, rounded to the second), every window
diagnosed by the served model and stepped through the health state with the RUL of ``service/rul_live.py``. Recorded
at 50, 70, 80 and 90 % of each bearing's life: whether the unit reads degrading, the estimate and its interval against
the actual RUL; when the state first read degrading against the bearing's onset. The same history through
``syndiag rul predict``'s predictor must give the same estimate (checked). One bearing's sensor page is opened in
headless Chromium and shot (``--shoot``). Results: benchmarks/results/service_rul_cpu.json and service_rul_sensor.png.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
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
from syndiag.config.rul import RulConfig  # noqa: E402
from syndiag.config.service import ServeConfig  # noqa: E402
from syndiag.data.femto import read_femto  # noqa: E402
from syndiag.prognostics.rul_checkpoint import save_rul  # noqa: E402
from syndiag.prognostics.rul_prediction import RulPredictor  # noqa: E402
from syndiag.prognostics.units import read_units  # noqa: E402
from syndiag.service.net import free_port, wait_until  # noqa: E402
from syndiag.service.payload import encode  # noqa: E402
from syndiag.service.runner import build_pipeline  # noqa: E402
from syndiag.workflows.rul_lobo import fit_selected, select  # noqa: E402

FS = 25600.0
MARKS = (0.5, 0.7, 0.8, 0.9)


def stream(pipeline, sensor: str, bearing) -> list[dict]:
    """Every snapshot into the pipeline (its channels' payloads), the worker draining; the RUL evidence after each."""
    seen = []
    t_first, machine = round(bearing.snapshots[0].time_s), sensor.rsplit("/", 1)[0]
    for k, snap in enumerate(bearing.snapshots):
        t0 = 1.7e9 + round(snap.time_s) - t_first
        pipeline.ingest(f"{machine}/h", encode(k, t0, FS, snap.horizontal.astype(np.float32)))
        pipeline.ingest(f"{machine}/v", encode(k, t0, FS, snap.vertical.astype(np.float32)))
        pipeline.ingest(f"{machine}/speed", encode(k, t0, 1.0, np.array([bearing.rpm], np.float32)))  # last: the window waits for it
        wait_until(lambda: pipeline.snapshot()["queue_depth"] == 0 and pipeline.snapshot()["in_flight"] == 0, 30, every=0.01)
        evidence = pipeline.tracker.snapshot()["sensors"].get(sensor, {}).get("evidence", {})
        seen.append({"k": k, "time_s": round(snap.time_s) - t_first, "rul": evidence.get("rul"), "state": pipeline.tracker.states[sensor].level
                     if sensor in pipeline.tracker.states else None})
    return seen


def marks(seen: list[dict], life_s: float) -> list[dict]:
    found = []
    for share in MARKS:
        row = next(r for r in seen if r["time_s"] >= share * life_s)
        rul = row["rul"] or {}
        found.append({"life_share": share, "time_h": round(row["time_s"] / 3600, 3), "actual_rul_h": round((life_s - row["time_s"]) / 3600, 3),
                      "degrading": rul.get("degrading"), "rul_h": rul.get("rul_h"), "low_h": rul.get("low_h"), "high_h": rul.get("high_h"),
                      "at_least_h": rul.get("at_least_h"),
                      "covered": None if not rul.get("degrading") else rul["low_h"] <= (life_s - row["time_s"]) / 3600 <= rul["high_h"],
                      "lower_bound_held": None if rul.get("degrading") or rul.get("at_least_h") is None
                      else rul["at_least_h"] <= (life_s - row["time_s"]) / 3600})
    return found


def screenshot(pipeline, sensor: str, out: Path) -> dict:
    import uvicorn

    from syndiag.service.app import create_app

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"screenshot": None, "why": "chromium not installed"}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline, pipeline.config.checkpoint), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    try:
        wait_until(lambda: server.started, 20)
        url = f"http://127.0.0.1:{port}/sensor/{sensor}"
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100", "--virtual-time-budget=8000"]
        page = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([*common, f"--screenshot={out}", url], capture_output=True, timeout=120)
        cell = re.search(r"<td>(no degradation yet[^<]*|[\d.]+ h \([^<]*)</td>", page)
        return {"screenshot": out.name if out.is_file() else None, "rul_chart": "remaining useful life (h)" in page,
                "rul_cell": cell.group(1) if cell else None}
    finally:
        server.should_exit = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the served sensor model (vibration DE, FE and speed)")
    parser.add_argument("--family", default="similarity", help="the rul recipe's model (chosen there by leave-one-bearing-out)")
    parser.add_argument("--bearings", nargs="*", default=None, help="held-out bearings (default: all six learning bearings)")
    parser.add_argument("--shoot", default="Bearing1_1", help="the bearing whose sensor page is shot (its last snapshot's state)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service_rul_cpu.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recipe = RulConfig()
    units = read_units(args.data_root, "learning", bands=recipe.bands)
    held_out = args.bearings or [u.name for u in units]
    bearings = {b.name: b for b in read_femto(args.data_root, ("learning",), held_out)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in held_out:
            started = time.monotonic()
            others = [u for u in units if u.name != name]
            selection = select(args.family, recipe.grid[args.family], others, recipe.cuts)
            model, intervals = fit_selected(selection, others)
            folder = save_rul(Path(tmp) / f"rul-{name}", args.family, model, intervals, recipe.levels, {"bands": recipe.bands})
            sensor = f"femto/{name.lower()}/bearing"
            machine = sensor.rsplit("/", 1)[0]
            channels = {"DE": {"topic": f"{machine}/h", "fs": FS, "kind": "vibration"}, "FE": {"topic": f"{machine}/v", "fs": FS, "kind": "vibration"},
                        "speed": {"topic": f"{machine}/speed", "fs": 1.0, "kind": "speed"}}
            config = ServeConfig(checkpoint=args.checkpoint, database_url=f"sqlite:///{Path(tmp) / (name + '.db')}", every_s=0.1,
                                 sensors={sensor: {"channels": channels, "rul": str(folder)}},
                                 health={"baseline_windows": 20, "rul_snapshot_s": 10.0, "rul_watch_h": 1.0, "rul_alarm_h": 0.25},
                                 retention={"enabled": False})
            pipeline = build_pipeline(config)
            worker = threading.Thread(target=pipeline.run, daemon=True)
            worker.start()
            bearing = bearings[name]
            seen = stream(pipeline, sensor, bearing)
            life_s = seen[-1]["time_s"]
            history = pipeline.tracker.rul.history[sensor]
            predictor = RulPredictor.from_pretrained(folder)
            times = np.asarray(history[0])
            direct = predictor.predict(predictor.unit(sensor, times - times[0], np.stack(history[1])))
            onset = next((r["time_s"] for r in seen if r["rul"] and r["rul"]["degrading"]), None)
            row = {"bearing": name, "snapshots": len(seen), "life_h": round(life_s / 3600, 3), "settings": selection.settings,
                   "first_degrading_h": None if onset is None else round(onset / 3600, 3),
                   "offline_onset_h": None if direct.onset_s is None else round(direct.onset_s / 3600, 3),
                   "marks": marks(seen, life_s), "final_same_as_rul_predict": abs(direct.rul_s / 3600 - (seen[-1]["rul"] or {}).get("rul_h", -1)) < 1e-3,
                   "diagnosed": pipeline.snapshot()["diagnosed"], "seconds": round(time.monotonic() - started, 1)}
            if name == args.shoot:
                row["dashboard"] = screenshot(pipeline, sensor, args.out.with_name("service_rul_sensor.png"))
            pipeline.stop()
            worker.join(timeout=10)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "marks"}), flush=True)
    degrading = [m for r in rows for m in r["marks"] if m["degrading"]]
    summary = {"marks": len(rows) * len(MARKS), "degrading": len(degrading), "covered": sum(bool(m["covered"]) for m in degrading),
               "lower_bounds_held": sum(bool(m["lower_bound_held"]) for r in rows for m in r["marks"] if m["lower_bound_held"] is not None),
               "lower_bounds": sum(m["lower_bound_held"] is not None for r in rows for m in r["marks"]),
               "same_as_rul_predict": sum(r["final_same_as_rul_predict"] for r in rows)}
    atomic_write_text(args.out, json.dumps({**provenance(), "family": args.family, "level": min(recipe.levels), "checkpoint": str(args.checkpoint),
                                            "bearings": rows, "summary": summary}, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
