"""Storage of the live service per sensor per day (issue 33, bounded storage): what the store holds after days of
service under the retention settings, and that a retention pass runs beside ingestion.

    python benchmarks/bench_service_retention.py --data-root /work/shared/data --sensors 4 --days 3

Days are simulated hour by hour on the sensors' clock, through the service's own store and retention code (a SQLite
store as ``syndiag serve`` opens it, ``service/retention.Retention``, ``service/raw_store.Segment``): each hour, every
sensor's 3,600 diagnoses (one a second, the service's default ``every_s``; label, probability, RMS, RMS velocity and
anomaly ratio drawn around real values), a raw snapshot per stream every ``retention.snapshot_every_s`` and the clips
of ``--alarms-per-day`` alarms per sensor (``raw_before_s + raw_after_s`` seconds), both cut from real CWRU drive-end
signal at 12 kHz (97.mat, 130.mat) and encoded as the service encodes them; then one retention pass at the hour's end.
The diagnoses are written directly (the live pipeline cannot produce days of windows in minutes); everything kept
afterwards is what the service's code keeps. Measured: the store's size in use (SQLite pages in use) at each day's
end, ``bytes_per_sensor_day`` (the growth of the last day, per sensor, once every tier is reached), its parts, the
size of a day of full-rate diagnoses without retention and of the raw signal as float32; each pass's duration, and the
latency of the service's own writes (``Store.record``, one row per sensor every 0.1 s from another thread) during
the passes against without; then the same days with ``--max-bytes`` set below that: the size after every pass and
what went (snapshots first, alarm clips last). Results: benchmarks/results/service_retention_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import provenance  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.config.service import RetentionConfig  # noqa: E402
from syndiag.data.cwru import read_cwru_mat  # noqa: E402
from syndiag.service.raw_store import Segment, raw_segments  # noqa: E402
from syndiag.service.retention import Retention  # noqa: E402
from syndiag.service.store import Store, diagnoses  # noqa: E402

FS, HOUR, DAY = 12000.0, 3600.0, 86400.0
START = 1_700_006_400.0 - 1_700_006_400.0 % DAY  # a whole day, so the simulated days are calendar-aligned


def hour_rows(sensors: list[str], start: float, rng: np.random.Generator) -> list[dict]:
    t = start + np.arange(1, int(HOUR) + 1, dtype=np.float64)
    rows = []
    for sensor in sensors:
        probability = np.clip(rng.normal(0.93, 0.04, t.size), 0.2, 1.0)
        velocity = np.abs(rng.normal(0.9, 0.08, t.size))
        ratio = np.abs(rng.normal(0.4, 0.2, t.size))
        rms = np.abs(rng.normal(0.07, 0.005, t.size))
        fault = rng.random(t.size) < 0.05
        rows += [{"sensor": sensor, "t_end": float(t[i]), "label": "DE_OR021@6" if fault[i] else "normal", "probability": float(probability[i]),
                  "rms": float(rms[i]), "unknown": bool(ratio[i] > 1.2), "latency_ms": 12.0, "stored_at": float(t[i]) + 0.012,
                  "velocity_mm_s": float(velocity[i]), "anomaly_ratio": float(ratio[i])} for i in range(t.size)]
    return rows


class Probe:
    """The service's own writes beside the passes: one diagnosis per sensor every 0.1 s through ``Store.record``."""

    def __init__(self, store: Store, sensors: int) -> None:
        self.store, self.sensors, self.t = store, sensors, START
        self.latencies: dict[str, list[float]] = {"during_pass": [], "between": []}
        self.in_pass, self.stopping = False, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping.is_set():
            rows = [{"sensor": f"bench/probe/s{i}", "t_end": self.t, "label": "normal", "probability": 0.9, "rms": 0.07, "unknown": False,
                     "latency_ms": 1.0, "stored_at": self.t} for i in range(self.sensors)]
            started = time.perf_counter()
            self.store.record(rows)
            self.latencies["during_pass" if self.in_pass else "between"].append(time.perf_counter() - started)
            self.t += 0.1
            time.sleep(0.1)


def run(args, signals: dict[str, np.ndarray], max_bytes: float, workdir: Path, probe_on: bool) -> dict:
    store = Store(f"sqlite:///{workdir / f'store-{int(max_bytes)}.sqlite'}")
    config = RetentionConfig(max_bytes=max_bytes)
    retention = Retention(store, config)
    sensors = [f"plant/machine{i + 1}/de" for i in range(args.sensors)]
    rng = np.random.default_rng(0)
    probe = Probe(store, args.sensors) if probe_on else None
    if probe is not None:
        probe.thread.start()
    clip_s = config.raw_before_s + config.raw_after_s
    alarm_hours = {h for h in range(24) if h % max(1, 24 // max(1, args.alarms_per_day)) == 0} if args.alarms_per_day else set()
    days, passes, after_pass = [], [], []
    raw_bytes = {"snapshot": 0, "alarm": 0}
    for hour in range(int(args.days * 24)):
        start = START + hour * HOUR
        with store.engine.begin() as connection:
            connection.execute(insert(diagnoses), hour_rows(sensors, start, rng))
            segments = []
            for i, sensor in enumerate(sensors):  # the snapshot due at the hour's end, and this hour's alarm clip
                x = signals["normal"]
                at = int((hour * HOUR + i * 7) % (x.size / FS - config.snapshot_s)) if x.size / FS > config.snapshot_s else 0
                segments.append(Segment("snapshot", sensor, sensor, None, start + HOUR - config.snapshot_s, FS,
                                        x[int(at * FS): int(at * FS) + int(config.snapshot_s * FS)]))
                if hour % 24 in alarm_hours:
                    y = signals["fault"]
                    segments.append(Segment("alarm", sensor, sensor, f"{sensor}:{hour}", start + 1800.0, FS, y[: int(clip_s * FS)]))
            rows = [s.row(config.raw_encoding, start + HOUR) for s in segments]
            for row in rows:
                raw_bytes[row["kind"]] += row["bytes"]
            connection.execute(insert(raw_segments), rows)
        if probe is not None:
            probe.in_pass = True
        began = time.perf_counter()
        done = retention.run(start + HOUR)
        passes.append(time.perf_counter() - began)
        if probe is not None:
            probe.in_pass = False
        after_pass.append(store.used_bytes())
        if (hour + 1) % 24 == 0:
            days.append({"day": (hour + 1) // 24, "used_bytes": after_pass[-1], **{f"rows_{k}": v for k, v in retention.storage()["rows"].items()},
                         "raw": retention.storage()["raw"], "last_pass": done})
    if probe is not None:
        probe.stopping.set()
        probe.thread.join()
    return {"days": days, "pass_s": passes, "after_pass": after_pass, "raw_bytes_written": raw_bytes,
            "probe": None if probe is None else probe.latencies, "store": store}


def full_rate_day(args, workdir: Path) -> int:
    """The bytes of one day of one sensor's diagnoses kept whole (no retention), in the same store schema."""
    store = Store(f"sqlite:///{workdir / 'full.sqlite'}")
    empty = store.used_bytes()
    rng = np.random.default_rng(1)
    for hour in range(24):
        with store.engine.begin() as connection:
            connection.execute(insert(diagnoses), hour_rows(["plant/machine1/de"], START + hour * HOUR, rng))
    return store.used_bytes() - empty


def stats(values: list[float]) -> dict:
    v = np.asarray(values, dtype=float) * 1000.0
    return {"n": int(v.size), **({} if not v.size else {"p50_ms": round(float(np.percentile(v, 50)), 2), "p99_ms": round(float(np.percentile(v, 99)), 2),
                                                         "max_ms": round(float(v.max()), 2)})}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="a folder holding cwru/97.mat and cwru/130.mat")
    parser.add_argument("--sensors", type=int, default=4)
    parser.add_argument("--days", type=int, default=3, help="simulated days (at least 3: the 10-minute tier starts after a day)")
    parser.add_argument("--alarms-per-day", type=int, default=4, help="alarm clips per sensor per day")
    parser.add_argument("--max-bytes", type=float, default=None, help="the bounded run's retention.max_bytes (default: 60 %% of the "
                        "unbounded run's final size)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service_retention_cpu.json")
    args = parser.parse_args()
    signals = {"normal": read_cwru_mat(args.data_root / "cwru" / "97.mat", 97, ["DE"])[0].astype(np.float32),
               "fault": read_cwru_mat(args.data_root / "cwru" / "130.mat", 130, ["DE"])[0].astype(np.float32)}
    defaults = RetentionConfig()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        free = run(args, signals, defaults.max_bytes, workdir, probe_on=True)
        days = free["days"]
        growth = days[-1]["used_bytes"] - days[-2]["used_bytes"]
        bound = args.max_bytes or 0.6 * days[-1]["used_bytes"]
        bounded = run(args, signals, bound, workdir, probe_on=False)
        full = full_rate_day(args, workdir)
    per_day = growth / args.sensors
    last = days[-1]
    report = {**provenance(), "settings": {**{k: v for k, v in vars(args).items() if k not in ("data_root", "out")},
                                           "retention": defaults.model_dump(mode="json"), "every_s": 1.0, "fs_hz": FS},
              "bytes_per_sensor_day": round(per_day),
              "bytes_per_sensor_day_parts": {
                  "raw_snapshots": round(free["raw_bytes_written"]["snapshot"] / args.sensors / args.days),
                  "raw_alarm_clips": round(free["raw_bytes_written"]["alarm"] / args.sensors / args.days),
                  "rows_and_indexes": round(per_day - (free["raw_bytes_written"]["snapshot"] + free["raw_bytes_written"]["alarm"]) / args.sensors / args.days)},
              "without_retention": {"diagnoses_bytes_per_sensor_day": full, "raw_float32_bytes_per_channel_day": int(FS * DAY * 4)},
              "days": days, "retention_pass_s": {"p50": round(float(np.percentile(free["pass_s"], 50)), 3),
                                                 "max": round(float(np.max(free["pass_s"])), 3),
                                                 "day_boundary_max": round(float(np.max(free["pass_s"][23::24])), 3)},
              "ingestion_writes": {"during_passes": stats(free["probe"]["during_pass"]), "between_passes": stats(free["probe"]["between"])},
              "bounded": {"max_bytes": round(bound), "largest_after_a_pass": int(max(bounded["after_pass"])),
                          "within_bound_after_every_pass": bool(max(bounded["after_pass"]) <= bound),
                          "last_day": bounded["days"][-1]},
              "kept_at_the_end": {"diagnoses_rows_per_sensor": last["rows_diagnoses"] / args.sensors,
                                  "rollup_rows_per_sensor": last["rows_diagnoses_rollup"] / args.sensors}}
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("days",)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
