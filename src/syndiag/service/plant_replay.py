"""A plant replayed over MQTT (issue 33, the quick start): real CWRU recordings as machines whose sensor of several
channels (drive-end and fan-end vibration at 12 kHz, shaft speed at 1 Hz) publishes each channel on its own stream in
real time; only each recording's test half (the samples no training window came from), looped in whole windows."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from syndiag.config.data import DataConfig
from syndiag.data.cwru import cwru_sensor_set
from syndiag.data.cwru_classes import condition_name
from syndiag.data.windowing import split_boundary
from syndiag.errors import ConfigError, DataError
from syndiag.service.payload import encode
from syndiag.service.publisher import close, confirm, connect

SITE = "plant"
LOAD_HP = 3
"""The condition the quick start's model is fine-tuned on (1730 rpm, the recipe's finetune.source)."""
MACHINES = {"pump1": "normal", "pump2": "DE_IR007", "fan1": "DE_B014", "fan2": "DE_OR021", "press1": "FE_IR021"}
"""machine -> the CWRU class its recording holds at LOAD_HP: normal, drive-end inner race, ball and outer race faults, a fan-end fault."""
SENSOR = "bearing"
EVERY_S = 0.25
"""Seconds between diagnoses of a sensor: 4 windows a second, so a 5 s test range gives 20 different windows."""
STREAMS = {"DE": ("de", "vibration"), "FE": ("fe", "vibration"), "speed": ("speed", "speed")}
"""layout channel -> (the last part of its stream's name, its kind)."""


@dataclass
class Machine:
    """One replayed machine: its sensor's name, the class its recording holds, and each channel's looped test-half samples."""

    name: str
    label: str
    source: str
    channels: dict[str, tuple[np.ndarray, float]]

    @property
    def sensor(self) -> str:
        return f"{SITE}/{self.name}/{SENSOR}"

    def topic(self, channel: str) -> str:
        return f"{SITE}/{self.name}/{STREAMS[channel][0]}"

    def declaration(self) -> dict:
        """The service's ``sensors:`` entry: each channel's stream, rate and kind; the report's bearing and speed."""
        rpm = float(self.channels["speed"][0][0])
        return {"channels": {ch: {"topic": self.topic(ch), "fs": fs, "kind": STREAMS[ch][1]} for ch, (_, fs) in self.channels.items()},
                "bearing": "cwru-drive-end", "rpm": rpm, "machine_group": "iso-10816-1:class1"}


def test_range(rec, data: DataConfig, window: int) -> tuple[slice, np.ndarray]:
    """A recording's test range (split_boundary, as the test windows are cut) trimmed to whole windows of ``window`` samples."""
    n = rec.channels["DE"].size
    first = split_boundary(n, data.window.test_fraction)
    return slice(first, first + (n - first) // window * window), np.asarray(rec.channels["speed"], dtype=np.float32)


def plant_machines(data: DataConfig, machines: dict[str, str] | None = None, every_s: float = EVERY_S, min_s: float = 2.0) -> list[Machine]:
    """The machines' recordings at LOAD_HP as the sensor model's data config reads them (cwru_sensor_set), each cut to its
    test range and to whole windows of ``every_s``, so a loop never splits a window. A class whose test range at LOAD_HP
    is shorter than ``min_s`` (normal: its quarter of 97.mat, 0.6 s) adds its test ranges at the other loads."""
    wanted = machines or MACHINES
    by_class: dict[str, list] = {}
    for rec in cwru_sensor_set(data, channels=("DE", "FE")).recordings:  # the condition at LOAD_HP first
        by_class.setdefault(rec.label, []).append(rec)
    for recs in by_class.values():
        recs.sort(key=lambda r: r.condition != condition_name(LOAD_HP))
    found = []
    for name, label in wanted.items():
        recs = by_class.get(label, [])
        if not recs or recs[0].condition != condition_name(LOAD_HP):
            raise DataError(f"{data.data_root}: no CWRU recording of {label} at {LOAD_HP} HP for the quick start's machine {name}")
        fs = float(recs[0].specs["DE"].fs)
        window = int(round(every_s * fs))
        parts, sources, rpm = {"DE": [], "FE": []}, [], None
        for rec in recs:
            cut, speed = test_range(rec, data, window)
            for ch in parts:
                parts[ch].append(np.asarray(rec.channels[ch][cut], dtype=np.float32))
            sources.append(f"{rec.source} [{cut.start}:{cut.stop}]")
            rpm = float(np.median(speed)) if rpm is None else rpm
            if sum(x.size for x in parts["DE"]) >= min_s * fs:
                break
        channels = {ch: (np.concatenate(xs), fs) for ch, xs in parts.items()}
        if channels["DE"][0].size < window:
            raise DataError(f"{'; '.join(sources)}: the test ranges hold less than one window of {every_s:g} s")
        channels["speed"] = (np.full(max(1, int(channels["DE"][0].size // fs)), rpm, dtype=np.float32), 1.0)
        found.append(Machine(name, label, "; ".join(sources), channels))
    return found


def replay_plant(machines: list[Machine], host: str, port: int, prefix: str = "syndiag", seconds: float | None = None,
                 chunk_s: float = 0.1, stop: threading.Event | None = None, stagger_s: float = 0.0) -> dict:
    """Publish every machine's channels in real time (QoS 1, binary payloads) until ``seconds`` of signal or ``stop``: the
    fast channels one chunk of ``chunk_s`` each, the speed one sample per second at the second's start. The clock starts on
    a whole second; each channel loops its samples, whose length is whole seconds. With ``stagger_s``, machine i's clock
    runs ``stagger_s * i / len(machines)`` behind the others', so its windows fall due at other instants (machines that
    started at different times), not all at once. Returns what was published."""
    if chunk_s <= 0 or (1.0 / chunk_s) % 1 > 1e-9:
        raise ConfigError(f"chunk_s must divide one second, got {chunk_s}")
    client, broker = connect(host, port, f"syndiag-plant-{time.time_ns()}"), f"{host}:{port}"
    stop = stop or threading.Event()
    started, step, sent, info = float(math.ceil(time.time())), 0, 0, None
    per_second = int(round(1.0 / chunk_s))
    try:
        while not stop.is_set() and (seconds is None or step * chunk_s < seconds):
            wait = started + step * chunk_s - time.time()
            if wait > 0:
                stop.wait(wait)
            elapsed = step * chunk_s
            for i, machine in enumerate(machines):
                behind = stagger_s * i / len(machines)
                for channel, (x, fs) in machine.channels.items():
                    if fs < 1.0 / chunk_s:  # a slow channel: its one sample of this second, at the second's start
                        if step % per_second:
                            continue
                        n, start, seq = int(round(fs)), (step // per_second) * int(round(fs)), step // per_second
                    else:
                        n, seq = int(round(chunk_s * fs)), step
                        start = step * n
                    samples = np.take(x, np.arange(start, start + n), mode="wrap")  # looped: its length is whole windows
                    info = client.publish(f"{prefix}/{machine.topic(channel)}/data", encode(seq, started + elapsed - behind, fs, samples),
                                          qos=1)
                    sent += n
            if info is not None:
                confirm(info, broker, step, client=client)
            step += 1
    finally:
        close(client)
    return {"machines": len(machines), "steps": step, "samples": sent, "started": started, "seconds": round(time.time() - started, 3)}
