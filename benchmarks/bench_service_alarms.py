"""Alarm delivery of the live service (issue 33), loopback only: latency from the window that raised an alarm to its
webhook and its MQTT alarm topic, and every stored alarm delivered once across a kill -9 of the service and a restart
of the broker.

    python benchmarks/bench_service_alarms.py --data-root /work/shared/data --sensors 4

A fresh Mosquitto, ``syndiag serve`` in its own process (SQLite store, one window per sensor per second), a webhook
receiver in this process (a local HTTP server that accepts everything) and an MQTT listener on
``syndiag/+/+/+/alarm``. Each sensor streams real CWRU drive-end signal in real time (0.1 s binary payloads, QoS 1):
normal (97.mat) for its baseline, then fault phases (130.mat, outer race 0.021 in) between normal phases, so its state
goes to alarm in each fault phase (from its anomaly score against its own baseline: the CWRU faults stay in ISO zone A)
and back to ok after it. The service is killed with SIGKILL 1.5 s into one fault phase, before its alarms are raised,
and started again at once (same MQTT session, same store: the raising windows reach it through the broker while it
restarts); the broker is restarted 1 s into another. Measured per alarm: the time from the publication
of the payload holding the raising window's last sample to the alarm's first arrival at the webhook and at the MQTT
listener; over the run: alarms stored, delivered, lost (stored, never received) and duplicated (received twice). The
classifier is not what is measured: its labels are all declared healthy (``health.healthy_labels``), so the states come
from the signal itself. Results: benchmarks/results/service_alarms_cpu.json.
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
sys.path.insert(0, str(ROOT.parent / "tests"))
from machine import provenance  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402

from syndiag.atomic import atomic_write_text  # noqa: E402
from syndiag.data.cwru import read_cwru_mat  # noqa: E402
from syndiag.service.net import free_port, listening, wait_until as wait  # noqa: E402
from syndiag.service.payload import encode  # noqa: E402

FS, CHUNK_S = 12000.0, 0.1


def schedule(args) -> list[tuple[str, float, float]]:
    """The phases of every sensor: (recording, start s, end s)."""
    phases, t = [("normal", 0.0, args.baseline_s)], args.baseline_s
    for _ in range(args.cycles):
        phases += [("fault", t, t + args.fault_s), ("normal", t + args.fault_s, t + args.fault_s + args.normal_s)]
        t += args.fault_s + args.normal_s
    return phases


def start_service(args, workdir: Path, broker_port: int, http_port: int, receiver: Receiver) -> subprocess.Popen:
    config = {"checkpoint": str(args.checkpoint), "broker_port": broker_port, "http_port": http_port, "every_s": 1.0,
              "database_url": f"sqlite:///{workdir / 'alarms.sqlite'}", "client_id": "bench-alarms",
              "health": {"baseline_windows": args.baseline_windows, "raise_windows": args.raise_windows, "clear_windows": args.clear_windows,
                         "window_s": 1.0, "machine_group": "iso-10816-1:class1", "false_alarm": 0.02,
                         "healthy_labels": list(args.labels)},
              "alarms": {"webhooks": {"bench": {"url": receiver.url, "timeout_s": 2.0}}, "backoff_s": 0.2, "backoff_max_s": 2.0}}
    path = workdir / "serve.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen([str(Path(sys.executable).with_name("syndiag")), "serve", "-c", str(path)],
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "serve.log", "a"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="a folder holding cwru/97.mat and cwru/130.mat")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a one-channel ONNX export (default: the tests' stub graph)")
    parser.add_argument("--sensors", type=int, default=4)
    parser.add_argument("--baseline-s", type=float, default=40.0)
    parser.add_argument("--fault-s", type=float, default=8.0)
    parser.add_argument("--normal-s", type=float, default=16.0)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--baseline-windows", type=int, default=36)
    parser.add_argument("--raise-windows", type=int, default=3)
    parser.add_argument("--clear-windows", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "service_alarms_cpu.json")
    args = parser.parse_args()
    import paho.mqtt.client as mqtt

    signals = {name: read_cwru_mat(args.data_root / "cwru" / f"{n}.mat", n, ["DE"])[0].astype(np.float32) for name, n in
               (("normal", 97), ("fault", 130))}
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.checkpoint is None:
            from tiny_checkpoint import onnx_folder  # the tests' stub graph: the classifier is not what is measured

            args.checkpoint = onnx_folder(workdir / "onnx")
        args.labels = json.loads((args.checkpoint / "config.json").read_text())["class_names"]
        broker_port, http_port = free_port(), free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n")

        def start_broker() -> subprocess.Popen:
            return subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        broker = start_broker()
        assert wait(lambda: listening(broker_port), 20), "mosquitto did not start"
        receiver, heard = Receiver(), []
        listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-alarm-listener", clean_session=False)
        listener.on_message = lambda c, u, m: heard.append((json.loads(m.payload)["id"], time.time()))
        listener.on_connect = lambda c, u, f, rc, p: c.subscribe("syndiag/+/+/+/alarm", qos=1)
        listener.connect("127.0.0.1", broker_port)
        listener.loop_start()
        service = start_service(args, workdir, broker_port, http_port, receiver)
        events, published = [], {}
        try:
            assert wait(lambda: listening(http_port), 90), "the service did not start"
            time.sleep(1.0)
            publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-alarm-publisher", clean_session=False)
            publisher.max_queued_messages_set(0)
            publisher.connect("127.0.0.1", broker_port)
            publisher.loop_start()
            names = [f"plant/machine{i + 1}/de" for i in range(args.sensors)]
            for name in names:
                publisher.publish(f"syndiag/{name}/config", json.dumps({"fs": FS}), qos=1, retain=True)
            phases = schedule(args)
            total = phases[-1][2]
            faults = [(a, b) for kind, a, b in phases if kind == "fault"]
            kill_at = faults[1][0] + 1.5 if len(faults) > 1 else None  # the windows that raise this phase's alarms come during the restart
            broker_at = faults[2][0] + 1.0 if len(faults) > 2 else None
            started, seq, n = float(int(time.time()) + 1), 0, int(round(CHUNK_S * FS))
            time.sleep(max(0.0, started - time.time()))
            while (elapsed := seq * CHUNK_S) < total:
                kind = next(k for k, a, b in phases if a <= elapsed < b)
                x = signals[kind]
                for i, name in enumerate(names):
                    start = (int(round(elapsed * FS)) + i * 7919) % (x.size - n)
                    publisher.publish(f"syndiag/{name}/data", encode(seq, started + elapsed, FS, x[start:start + n]), qos=1)
                published[round(started + elapsed + CHUNK_S, 3)] = time.time()
                seq += 1
                if kill_at is not None and elapsed >= kill_at:
                    service.kill()  # SIGKILL mid-stream, in a fault phase
                    service.wait()
                    events.append({"event": "kill -9 of the service", "at_s": round(elapsed, 1)})
                    service = start_service(args, workdir, broker_port, http_port, receiver)
                    kill_at = None
                if broker_at is not None and elapsed >= broker_at:
                    broker.kill()
                    broker.wait()
                    broker = start_broker()
                    events.append({"event": "broker restart", "at_s": round(elapsed, 1)})
                    broker_at = None
                time.sleep(max(0.0, started + seq * CHUNK_S - time.time()))
            db = workdir / "alarms.sqlite"

            def stored() -> list[tuple]:
                with sqlite3.connect(db) as connection:
                    return connection.execute("select id, sensor, level, t_end, raised_at, arrived_at from alarms order by raised_at").fetchall()

            def delivered() -> bool:
                ids = {row[0] for row in stored()}
                return ids <= set(receiver.accepted()) and ids <= {i for i, _ in heard}

            drained = wait(delivered, 60)
            time.sleep(2.0)
            alarms = stored()
        finally:
            service.kill()
            service.wait()
            listener.loop_stop()
            broker.kill()
            broker.wait()
    first_hook, first_mqtt = {}, {}
    for got in receiver.got:
        first_hook.setdefault(got[0], got[4])
    for i, t in heard:
        first_mqtt.setdefault(i, t)
    near = [e["at_s"] for e in events]
    rows = []
    for alarm_id, sensor, level, t_end, raised_at, arrived_at in alarms:
        sent = published.get(round(t_end, 3))
        elapsed = t_end - started
        rows.append({"id": alarm_id, "sensor": sensor, "level": level, "t_s": round(elapsed, 1), "after_fault": any(0 <= elapsed - f < 15 for f in near),
                     "webhook_s": None if sent is None or alarm_id not in first_hook else round(first_hook[alarm_id] - sent, 3),
                     "mqtt_s": None if sent is None or alarm_id not in first_mqtt else round(first_mqtt[alarm_id] - sent, 3),
                     "stored_s": None if sent is None else round(raised_at - sent, 3)})

    def stats(key: str, rows: list[dict]) -> dict:
        values = np.array([r[key] for r in rows if r[key] is not None], dtype=float)
        return {"n": int(values.size), **({} if not values.size else {"p50": round(float(np.percentile(values, 50)), 3),
                "p95": round(float(np.percentile(values, 95)), 3), "max": round(float(values.max()), 3)})}

    calm = [r for r in rows if not r["after_fault"]]
    hook_ids = receiver.accepted()
    mqtt_ids = [i for i, _ in heard]
    ids = {r["id"] for r in rows}
    expected_raises = args.sensors * args.cycles
    report = {**provenance(), "checkpoint": "tests' stub graph (labels all healthy)" if "onnx" == args.checkpoint.name else str(args.checkpoint),
              "settings": {k: v for k, v in vars(args).items() if k not in ("checkpoint", "data_root", "out", "labels")},
              "events": events, "drained": drained, "alarms_stored": len(rows),
              "alarms_raised_to_alarm": sum(r["level"] == "alarm" for r in rows), "fault_phases": expected_raises,
              "webhook": {"received": len(hook_ids), "distinct": len(set(hook_ids)), "duplicates": len(hook_ids) - len(set(hook_ids)),
                          "lost": len(ids - set(hook_ids)), "latency_s": stats("webhook_s", calm),
                          "latency_s_within_15s_after_a_fault": stats("webhook_s", [r for r in rows if r["after_fault"]])},
              "mqtt": {"received": len(mqtt_ids), "distinct": len(set(mqtt_ids)), "duplicates": len(mqtt_ids) - len(set(mqtt_ids)),
                       "lost": len(ids - set(mqtt_ids)), "latency_s": stats("mqtt_s", calm),
                       "latency_s_within_15s_after_a_fault": stats("mqtt_s", [r for r in rows if r["after_fault"]])},
              "stored_latency_s": stats("stored_s", calm), "alarms": rows}
    report["target_webhook_p_max_le_2s"] = bool(report["webhook"]["latency_s"].get("max", 99) <= 2.0)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "alarms"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
