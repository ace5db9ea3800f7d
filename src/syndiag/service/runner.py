"""``syndiag serve`` and ``syndiag replay`` as library functions (issue 18)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.config.profiles import profile_path
from syndiag.config.run import RunConfig
from syndiag.config.runtime import RuntimeConfig
from syndiag.config.service import ServeConfig
from syndiag.data.model_input import read_model_input
from syndiag.errors import ConfigError
from syndiag.service.alarms import Deliveries
from syndiag.service.health import store_health
from syndiag.service.keeper import Keeper
from syndiag.service.payload import encode
from syndiag.service.pipeline import Pipeline
from syndiag.service.publisher import check_replay_options, close, confirm, connect
from syndiag.service.store import Store
from syndiag.serving.predictor import load_predictor


@dataclass
class Service:
    pipeline: Pipeline
    worker: threading.Thread
    ingestion: object | None
    deliveries: Deliveries | None = None
    keeper: Keeper | None = None

    def health(self) -> dict:
        """ok only when the worker and the MQTT client's thread run, the broker is connected and the store answers."""
        return store_health(self.pipeline, {"worker": "running" if self.worker.is_alive() else "stopped",
                                            **({} if self.ingestion is None else {
                                                "ingestion": "running" if self.ingestion.alive() else "stopped",
                                                "broker": "connected" if self.ingestion.connected else "disconnected"})})

    def stop(self) -> None:
        if self.ingestion is not None:
            self.ingestion.stop()
        self.pipeline.stop()
        self.worker.join(timeout=10)
        if self.deliveries is not None:
            self.deliveries.stop()
        if self.keeper is not None:
            self.keeper.stop()


def build_pipeline(config: ServeConfig, publish=None) -> Pipeline:
    """The model (an ONNX export runs without PyTorch) as a Predictor, the store: a one-channel model diagnoses each stream
    on its own, a sensor model (several sensors at their own rates) each declared sensor's channels together."""
    predictor = load_predictor(config.checkpoint, RuntimeConfig(device="cpu", threads=config.model_threads))
    needs = predictor.needs
    if len(needs.channels) != 1 and predictor.meta.layout is None:
        raise ConfigError(f"{config.checkpoint}: the model reads {len(needs.channels)} channels ({needs.describe()}) at one rate; "
                          "the live service diagnoses a one-channel model per stream, or a sensor model per declared sensor")
    return Pipeline(config, predictor, Store(config.database_url), publish)


def start_service(config: ServeConfig, mqtt: bool = True) -> Service:
    """The pipeline with its worker thread and (``mqtt``) the broker ingestion, started."""
    from syndiag.service.mqtt import Ingestion  # defers paho: a service without a broker (the tests, role cloud) never loads it

    ingestion = None
    pipeline = build_pipeline(config)
    if mqtt:
        ingestion = Ingestion(pipeline, config.broker_host, config.broker_port, config.topic_prefix, config.client_id, config.share_group)
        pipeline.publish = ingestion.publish
        if config.alarms.mqtt:
            pipeline.alarm_targets.insert(0, "mqtt")
    deliveries = Deliveries(pipeline.store, config.alarms, config.topic_prefix, pipeline.alarm_targets, pipeline.count,
                            None if ingestion is None else ingestion.publish_confirmed)
    pipeline.on_alarms = deliveries.wake
    deliveries.start()
    if ingestion is not None:
        ingestion.start()
    keeper = None
    if config.retention.enabled:  # raw clips and snapshots stored (none with share_group), retention passes, beside ingestion
        keeper = Keeper(pipeline.store, config.retention, pipeline.capture, pipeline.count)
        keeper.start()
    worker = threading.Thread(target=pipeline.run, name="syndiag-worker", daemon=True)
    worker.start()
    return Service(pipeline, worker, ingestion, deliveries, keeper)


def serve(config: ServeConfig) -> None:
    """Run until interrupted: MQTT ingestion, the worker, and the HTTP API on ``http_host:http_port``; with role cloud, only
    the head exchange (``POST /heads``, ``GET /heads``, ``POST /heads/rollback``)."""
    # defers uvicorn and fastapi: replay and the service without HTTP never load them
    import uvicorn

    from syndiag.service.app import create_app  # defers fastapi, as above

    if config.role == "cloud":
        if config.run_recipe is None:
            raise ConfigError("role cloud needs run_recipe: the cloud model's run recipe (its OUTPUT_DIR holds the head registry)")
        cloud = RunConfig.from_yaml(profile_path(config.run_recipe))
        uvicorn.run(create_app(None, None, cloud), host=config.http_host, port=config.http_port, log_level="warning")
        return
    service = start_service(config)
    try:
        uvicorn.run(create_app(service.pipeline, config.checkpoint, health=service.health, deliveries=service.deliveries,
                               keeper=service.keeper),
                    host=config.http_host, port=config.http_port, log_level="warning")
    finally:
        service.stop()


def replay(files: list[Path], sensors: int, host: str, port: int, prefix: str = "syndiag", site: str = "site1",
           seconds: float | None = None, chunk_s: float = 0.1, speed: float = 1.0, fs: float | None = None, channel: str = "DE",
           stagger_s: float = 0.0) -> dict:
    """Stream recordings to the broker as ``sensors`` sensors (machine<i>/accel, the files in turn), ``speed`` times real
    time, each chunk one binary payload (QoS 1); returns the counts published. The sensors' clock starts on a whole
    second, so chunks of ``every_s`` seconds hold whole windows (what shared subscriptions need); with ``stagger_s`` sensor
    i's clock runs ``stagger_s * i / sensors`` behind, so the sensors' windows fall due at other instants. Options out of range, a
    broker that is missing, dies mid-stream or stops acknowledging: a ConfigError naming it."""
    if not files:
        raise ConfigError("replay needs at least one recording")
    check_replay_options(sensors, port, seconds, chunk_s, speed)
    signals = []
    for file in files:
        found = read_model_input(Path(file), [channel], fs, fs or 12000.0)
        signals.append((np.asarray(found.signal[0], dtype=np.float32), float(found.fs)))
    client, broker = connect(host, port, f"syndiag-replay-{time.time_ns()}"), f"{host}:{port}"
    try:
        names = [f"{site}/machine{i + 1}/accel" for i in range(sensors)]
        for i, name in enumerate(names):
            info = client.publish(f"{prefix}/{name}/config", json.dumps({"fs": signals[i % len(signals)][1], "kind": "vibration"}),
                                  qos=1, retain=True)
        confirm(info, broker, 0, client=client)
        started, sent, seq = float(int(time.time())), 0, 0
        duration = seconds if seconds is not None else min(len(x) / rate for x, rate in signals)
        while (elapsed := seq * chunk_s) < duration:
            for i, name in enumerate(names):
                x, rate = signals[i % len(signals)]
                n = int(round(chunk_s * rate))
                start = int(round(elapsed * rate)) % max(1, len(x) - n)
                behind = stagger_s * i / sensors
                info = client.publish(f"{prefix}/{name}/data", encode(seq, started + elapsed - behind, rate, x[start : start + n]), qos=1)
                sent += n
            confirm(info, broker, seq * sensors, client=client)
            seq += 1
            ahead = started + seq * chunk_s / speed - time.time()
            if ahead > 0:
                time.sleep(ahead)
    finally:
        close(client)
    return {"sensors": sensors, "chunks": seq * sensors, "samples": sent, "seconds": round(time.time() - started, 3)}
