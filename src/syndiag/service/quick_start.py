"""The quick start (issue 33, item 6): one command trains the best small model the project has (the sensor model with the
discriminant spectrum path and no language model, recipe sensor/spectral), writes a service config declaring a plant of
real CWRU recordings, starts Mosquitto when none listens, the service, and a real-time replay of the recordings."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from syndiag.config.sensor_run import SensorRunConfig
from syndiag.errors import ConfigError
from syndiag.service.net import listening, wait_until
from syndiag.service.plant_replay import EVERY_S, Machine, plant_machines, replay_plant

log = logging.getLogger(__name__)

RECIPE = "sensor/spectral"
RECIPE_SETS = {"model.language_model": "none", "align.epochs": 0}
"""No language model (the same accuracy as with one on CWRU at a tenth of the training time, docs/spectral-path.md) and no
alignment epochs (the spectrum path is still fitted on the alignment pool; the answer comes mostly from it): 1.0000 on the
1900 test windows of its own task, trained in minutes on 2 cores (docs/service.md "Quick start")."""
MODEL_FILE = "quick-start-model.json"
PLANT_FILE = "quick-start-plant.json"
SERVE_FILE = "quick-start.yaml"


def model_recipe(data_root: Path, run_dir: Path, sets: dict | None = None) -> SensorRunConfig:
    return SensorRunConfig.from_yaml(RECIPE, {**RECIPE_SETS, "data.data_root": str(data_root), "output_dir": str(run_dir), **(sets or {})})


def ensure_model(data_root: Path, run_dir: Path, say: Callable[[str], None] = print) -> dict:
    """Train the model into ``run_dir`` (alignment, fine-tuning, the accuracy on its own test windows) unless its record
    says it is there; returns that record (checkpoint, accuracy, training seconds)."""
    # defers torch and the training code: a quick start whose model is trained never loads them in this process
    from syndiag.workflows.sensor import run_sensor_align, run_sensor_evaluate, run_sensor_finetune

    record_path = run_dir / MODEL_FILE
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        checkpoint = run_dir / Path(record["checkpoint"]).name  # the record names it within run_dir, wherever it is run from
        if checkpoint.is_dir():
            say(f"model {checkpoint} already trained (accuracy {record['accuracy']:.4f} on its {record['test_windows']} test windows)")
            return {**record, "checkpoint": str(checkpoint), "trained_now": False}
    config = model_recipe(data_root, run_dir)
    started = time.monotonic()
    say(f"training the sensor model ({RECIPE}, no language model) into {run_dir}: the spectrum path on the multi-condition pool ...")
    run_sensor_align(config)
    say("fine-tuning on 5 windows per class at 1730 rpm ...")
    tuned = run_sensor_finetune(config)
    evaluation = run_sensor_evaluate(config, results=False)
    record = {"recipe": RECIPE, "sets": RECIPE_SETS, "checkpoint": str(tuned.checkpoint), "task": evaluation.task.name,
              "accuracy": evaluation.record["metrics"]["accuracy"], "macro_f1": evaluation.record["metrics"]["macro_f1"],
              "test_windows": len(evaluation.task.test), "train_seconds": round(time.monotonic() - started, 1)}
    record_path.write_text(json.dumps({**record, "checkpoint": Path(tuned.checkpoint).name}, indent=1), encoding="utf-8")
    say(f"trained in {record['train_seconds']:.0f} s: accuracy {record['accuracy']:.4f} on {record['test_windows']} test windows")
    return {**record, "trained_now": True}


def write_service_config(run_dir: Path, checkpoint: str, machines: list[Machine], broker_port: int, http_port: int,
                         every_s: float = EVERY_S) -> Path:
    """The service config of the plant (each machine's sensor declared with its channels) and the plant's record of what
    each sensor replays (its recording and its true class), beside it."""
    served = {"checkpoint": checkpoint, "broker_port": broker_port, "http_port": http_port, "every_s": every_s,
              "client_id": "syndiag-quick-start", "database_url": f"sqlite:///{run_dir / 'service.db'}",
              "sensors": {m.sensor: m.declaration() for m in machines},
              # a fault diagnosed at least 0.9 sure reads alarm; the anomaly baseline: each machine's first 20 s
              "health": {"fault_level": "alarm", "baseline_windows": int(20 / every_s)}}
    path = run_dir / SERVE_FILE
    path.write_text(yaml.safe_dump(served, sort_keys=False), encoding="utf-8")
    (run_dir / PLANT_FILE).write_text(json.dumps({m.sensor: {"label": m.label, "source": m.source} for m in machines}, indent=1),
                                      encoding="utf-8")
    return path


def start_broker(run_dir: Path, port: int) -> subprocess.Popen | None:
    """Mosquitto on ``port`` unless something listens there already (then None: that broker is used)."""
    if listening(port):
        return None
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        raise ConfigError(f"no MQTT broker on 127.0.0.1:{port} and mosquitto is not installed (apt-get install mosquitto)")
    conf = run_dir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n", encoding="utf-8")
    process = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_until(lambda: listening(port), 10):
        process.terminate()
        raise ConfigError(f"mosquitto did not start listening on 127.0.0.1:{port} within 10 s")
    return process


def start_service(config_path: Path, http_port: int, log_path: Path, timeout_s: float = 120.0) -> subprocess.Popen:
    """``syndiag serve -c CONFIG`` in its own process (its log in ``log_path``), once its HTTP port answers."""
    handle = open(log_path, "ab")
    process = subprocess.Popen([sys.executable, "-m", "syndiag", "serve", "-c", str(config_path)], stdout=handle, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    handle.close()
    if not wait_until(lambda: process.poll() is not None or listening(http_port), timeout_s, every=0.2) or process.poll() is not None:
        process.terminate()
        raise ConfigError(f"syndiag serve -c {config_path} did not start (exit {process.poll()}); its log: {log_path}")
    return process


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_quick_start(data_root: Path, run_dir: Path = Path("runs/quick-start"), broker_port: int = 1883, http_port: int = 8000,
                    seconds: float | None = None, say: Callable[[str], None] = print, stop_event: threading.Event | None = None) -> dict:
    """Train (or reuse) the model, declare the plant, start broker (when none listens), service and the replay; replay for
    ``seconds`` (None: until interrupted or ``stop_event``), then stop what it started. Returns the model's record, the
    dashboard's URL and what was replayed."""
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    machines = plant_machines(model_recipe(data_root, run_dir).data)  # first: a data root without the recordings stops here
    model = ensure_model(data_root, run_dir, say)
    config_path = write_service_config(run_dir, model["checkpoint"], machines, broker_port, http_port)
    broker = start_broker(run_dir, broker_port)
    service = None
    try:
        service = start_service(config_path, http_port, run_dir / "serve.log")
        url = f"http://127.0.0.1:{http_port}/"
        say(f"service up after {time.monotonic() - started:.0f} s; config {config_path}, log {run_dir / 'serve.log'}\n"
            f"replaying {len(machines)} machines in real time: "
            + ", ".join(f"{m.sensor} ({m.label})" for m in machines)
            + f"\ndashboard {url}   (Ctrl-C stops the replay, the service{' and the broker' if broker else ''})")
        replayed = replay_plant(machines, "127.0.0.1", broker_port, seconds=seconds, stop=stop_event)
    except KeyboardInterrupt:
        replayed = {"interrupted": True}
    finally:
        stop(service)
        stop(broker)
    return {"model": model, "url": f"http://127.0.0.1:{http_port}/", "config": str(config_path), "replayed": replayed}
