"""Alarms delivered (issue 33): a real webhook receiver (a local HTTP server) that answers 500 and then times out
before it accepts, the outbox across a restart (delivered alarms never sent again, waiting ones sent), acknowledgement
and comments through the API with per-user tokens (twice, unknown token, unknown alarm: refused and counted), the
MQTT alarm topic through a real Mosquitto, a kill -9 of `syndiag serve` (every stored alarm delivered once), and the
dashboard's state colours and alarm list in headless Chromium."""

import hashlib
import json
import re
import threading
import time

import numpy as np
import pytest
from test_service import broker, chromium, dom, wait_for  # noqa: F401  (fixtures)
from tiny_checkpoint import onnx_folder
from webhook_receiver import Receiver

from syndiag.config.service import ServeConfig
from syndiag.service.payload import encode

FS = 12000.0
TOKENS = {"ann": "ann-token-0123456789", "bob": "bob-token-0123456789"}
USERS = {name: hashlib.sha256(token.encode()).hexdigest() for name, token in TOKENS.items()}


def signal(seconds: float, loud: bool, seed: int = 0) -> np.ndarray:
    """Quiet noise (zone A) or a 50 Hz vibration of 0.5 g (about 11 mm/s RMS velocity: zone D)."""
    t = np.arange(int(seconds * FS)) / FS
    x = 0.001 * np.random.default_rng(seed).standard_normal(t.size)
    return (x + (0.5 * np.sin(2 * np.pi * 50 * t) if loud else 0)).astype(np.float32)


def config_of(tmp_path, url, **settings):
    return ServeConfig(checkpoint=onnx_folder(tmp_path / "onnx"), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", every_s=0.1,
                       health={"window_s": 0.1, "baseline_windows": 10_000, "raise_windows": 2, "clear_windows": 2,
                               "healthy_labels": ["normal", "DE_IR007", "FE_B021"]},
                       alarms={"webhooks": {"ops": {"url": url, "timeout_s": 0.5}}, "backoff_s": 0.1, "backoff_max_s": 0.5, "users": USERS},
                       **settings)


class Stream:
    """Payloads of 0.1 s for a sensor, on its clock."""

    def __init__(self, pipeline, sensor: str) -> None:
        self.pipeline, self.sensor, self.seq = pipeline, sensor, 0

    def send(self, seconds: float, loud: bool) -> None:
        x = signal(seconds, loud, self.seq)
        for i in range(0, x.size, 1200):
            self.pipeline.ingest(self.sensor, encode(self.seq, 1700000000.0 + self.seq * 0.1, FS, x[i:i + 1200]))
            self.seq += 1


def alarms_of(client, **params):
    return client.get("/api/alarms", params=params).json()


def test_an_alarm_reaches_a_webhook_that_fails_then_times_out_and_is_acknowledged_once_by_a_known_user(tmp_path):
    from fastapi.testclient import TestClient

    from syndiag.service.app import create_app
    from syndiag.service.runner import start_service

    receiver = Receiver()
    receiver.plan = ["500", "slow"]
    service = start_service(config_of(tmp_path, receiver.url), mqtt=False)
    client = TestClient(create_app(service.pipeline, service.pipeline.config.checkpoint, deliveries=service.deliveries))
    try:
        pump = Stream(service.pipeline, "plant/pump/de")
        pump.send(0.5, loud=False)
        pump.send(0.1, loud=True)  # one loud window: no alarm
        pump.send(0.3, loud=False)
        assert wait_for(lambda: service.pipeline.snapshot()["diagnosed"] == 9)
        assert client.get("/api/states").json()["sensors"]["plant/pump/de"]["state"] == "ok" and alarms_of(client)["alarms"] == []
        pump.send(0.3, loud=True)
        assert wait_for(lambda: receiver.accepted(), 60), "delivered after a 500 and a timeout"
        [alarm] = alarms_of(client)["alarms"]
        assert alarm["level"] == "alarm" and alarm["previous"] == "ok" and alarm["reasons"]["zone"] == "alarm"
        assert alarm["evidence"]["zone"] == "D" and alarm["t_end"] == pytest.approx(1700000001.1)
        assert [got[:3] for got in receiver.got] == [(alarm["id"], code, alarm["id"]) for code in (500, 0, 200)]
        assert wait_for(lambda: alarms_of(client)["alarms"][0]["deliveries"]["webhook:ops"]["delivered_at"] is not None)
        found = alarms_of(client)
        sent = found["alarms"][0]["deliveries"]["webhook:ops"]
        assert sent["attempts"] == 3 and "Timeout" in sent["last_error"]
        assert found["counts"]["delivery_failures"] == 2 and found["counts"]["deliveries"] == 1 and found["counts"]["alarms"] == 1
        assert client.get("/api/states").json()["machines"] == {"plant/pump": "alarm"}
        assert client.get("/api/sensors").json()["sensors"][0]["state"] == "alarm"
        assert "syndiag_delivery_failures_total 2" in client.get("/metrics").text

        assert client.get("/api/alarms/open").json() == {"sensors": {"plant/pump/de": 1}}, "the plant page's count of open alarms"
        url = f"/api/alarms/{alarm['id']}/ack"
        assert client.post(url, json={"comment": "x"}).status_code == 401
        assert client.post(url, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        done = client.post(url, headers={"Authorization": f"Bearer {TOKENS['ann']}"}, json={"comment": "bearing ordered"})
        assert done.status_code == 200 and done.json()["acked_by"] == "ann" and done.json()["acked_at"] > 0
        again = client.post(url, headers={"Authorization": f"Bearer {TOKENS['bob']}"})
        assert again.status_code == 409 and again.json()["detail"]["acked_by"] == "ann"
        assert client.post("/api/alarms/nope/ack", headers={"Authorization": f"Bearer {TOKENS['bob']}"}).status_code == 404
        note = client.post(f"/api/alarms/{alarm['id']}/comments", headers={"Authorization": f"Bearer {TOKENS['bob']}"}, json={"text": "seen"})
        assert note.status_code == 201 and client.post(f"/api/alarms/{alarm['id']}/comments", json={"text": "x"}).status_code == 401
        stored = alarms_of(client)
        assert stored["alarms"][0]["acked_by"] == "ann" and [(n["kind"], n["who"], n["text"]) for n in stored["alarms"][0]["notes"]] == \
            [("ack", "ann", "bearing ordered"), ("comment", "bob", "seen")]
        assert {k: stored["counts"][k] for k in ("acks", "acks_repeated", "acks_unknown_alarm", "auth_refused", "comments")} == \
            {"acks": 1, "acks_repeated": 1, "acks_unknown_alarm": 1, "auth_refused": 3, "comments": 1}
        assert alarms_of(client, open=True)["alarms"] == []
        assert client.get("/api/alarms/open").json() == {"sensors": {}}, "acknowledged: no longer open"
        pump.send(0.3, loud=False)  # back to quiet: the state clears after two windows, and the clearing is delivered too
        assert wait_for(lambda: len(set(receiver.accepted())) == 2, 60)
        assert [a["level"] for a in alarms_of(client)["alarms"]] == ["ok", "alarm"]
    finally:
        service.stop()
    assert wait_for(lambda: service.pipeline.store.counters_of("syndiag-serve").get("auth_refused") == 3, 10), "counts are stored"


def test_an_undelivered_alarm_is_sent_after_a_restart_and_a_delivered_one_never_again(tmp_path):
    from syndiag.service.alarm_store import listed
    from syndiag.service.runner import start_service

    receiver = Receiver()
    config = config_of(tmp_path, receiver.url)
    service = start_service(config, mqtt=False)
    try:
        Stream(service.pipeline, "plant/pump/de").send(0.3, loud=True)
        assert wait_for(lambda: len(receiver.accepted()) == 1, 60)
        receiver.otherwise = "500"  # the endpoint goes down
        Stream(service.pipeline, "plant/fan/de").send(0.3, loud=True)
        assert wait_for(lambda: any(a["sensor"] == "plant/fan/de" and a["deliveries"]["webhook:ops"]["attempts"] >= 2
                                    for a in listed(service.pipeline.store.engine)), 60)
    finally:
        service.stop()
    receiver.otherwise = "200"
    first = receiver.accepted()[0]
    again = start_service(config, mqtt=False)
    try:
        assert wait_for(lambda: len(receiver.accepted()) == 2, 60)
        time.sleep(0.5)
        fan = [a for a in listed(again.pipeline.store.engine) if a["sensor"] == "plant/fan/de"][0]
        assert receiver.accepted() == [first, fan["id"]], "each alarm accepted once: the delivered one is remembered"
        assert fan["deliveries"]["webhook:ops"]["last_error"] == "RuntimeError: HTTP 500"
        assert again.pipeline.tracker.states["plant/fan/de"].level == 2, "the state is the stored one"
    finally:
        again.stop()


def test_alarms_are_published_on_the_mqtt_alarm_topic(tmp_path, broker):  # noqa: F811
    import paho.mqtt.client as mqtt

    from syndiag.service.runner import start_service

    got = []
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alarm-listener")
    listener.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    listener.connect("127.0.0.1", broker["port"])
    listener.subscribe("syndiag/+/+/+/alarm", qos=1)
    listener.loop_start()
    receiver = Receiver()
    service = start_service(config_of(tmp_path, receiver.url, broker_port=broker["port"]))
    try:
        assert wait_for(lambda: service.ingestion.connected)
        Stream(service.pipeline, "plant/pump/de").send(0.3, loud=True)
        assert wait_for(lambda: got, 60)
        topic, body = got[0]
        assert topic == "syndiag/plant/pump/de/alarm" and body["level"] == "alarm" and body["machine"] == "pump"
        assert wait_for(lambda: receiver.accepted() == [body["id"]], 60), "the same alarm to the webhook"
    finally:
        service.stop()
        listener.loop_stop()


def test_the_dashboard_colours_each_state_and_lists_the_alarms_with_acknowledge_in_a_real_browser(tmp_path, chromium):  # noqa: F811
    import uvicorn

    from syndiag.service.app import create_app
    from syndiag.service.net import free_port
    from syndiag.service.runner import start_service

    receiver = Receiver()
    service = start_service(config_of(tmp_path, receiver.url), mqtt=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service.pipeline, service.pipeline.config.checkpoint, deliveries=service.deliveries),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        Stream(service.pipeline, "plant/pump/de").send(0.3, loud=True)
        Stream(service.pipeline, "plant/fan/de").send(0.3, loud=False)
        assert wait_for(lambda: server.started, 20) and wait_for(lambda: receiver.accepted(), 60)
        page = dom(chromium, f"http://127.0.0.1:{port}/site/plant")
        assert page.count('class="state-alarm">alarm</td>') == 3, "the pump's machine and sensor state, and its alarm"
        assert page.count('class="state-ok">ok</td>') == 2, "the fan's machine and sensor state"
        assert "<button>acknowledge</button>" in page and "webhook:ops: yes (1)" in page and "alarms 1, deliveries 1" in page
        assert "machines: 1 ok, 0 watch, 1 alarm" in page and page.index('href="/machine/plant/pump"') < page.index('href="/machine/plant/fan"'), \
            "the machines counted by state, the worst first"
        assert re.search(r'<a href="/machine/plant/pump">pump</a></td><td class="state-alarm">alarm</td><td>de \(alarm\)</td><td>1</td>', page), \
            "its sensor's state and its one open alarm"
        # at a glance: each sensor's RMS velocity with its ISO zone in the table, its trend against the zone boundaries drawn
        assert len(re.findall(r"<td>\d+\.\d\d \([ABCD]\)</td>", page)) == 2, "each sensor's RMS velocity and zone"
        sensor = dom(chromium, f"http://127.0.0.1:{port}/sensor/plant/pump/de")
        assert sensor.count('class="chart health-chart"') == 1 and "plant/pump/de: RMS velocity (ISO zones), anomaly ratio" in sensor
        assert sensor.count('class="state-alarm">alarm</td>') == 2 and "plant/fan/de" not in sensor, "its state and its alarm, no other sensor"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.stop()


def test_kill_9_of_the_service_loses_and_repeats_no_alarm(tmp_path, broker):  # noqa: F811
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    import paho.mqtt.client as mqtt

    from syndiag.service.net import free_port, listening

    receiver, port, db = Receiver(), free_port(), tmp_path / "db.sqlite"
    config = config_of(tmp_path, receiver.url, broker_port=broker["port"], http_port=port).model_dump(mode="json")
    (tmp_path / "serve.json").write_text(json.dumps(config))
    args = [str(Path(sys.executable).with_name("syndiag")), "serve", "-c", str(tmp_path / "serve.json")]
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alarm-publisher")
    publisher.connect("127.0.0.1", broker["port"])
    publisher.loop_start()
    seq = {"n": 0}

    def send(sensor: str, seconds: float, loud: bool) -> None:
        x = signal(seconds, loud, seq["n"])
        for i in range(0, x.size, 1200):
            publisher.publish(f"syndiag/{sensor}/data", encode(seq["n"], 1700000000.0 + seq["n"] * 0.1, FS, x[i:i + 1200]), qos=1).wait_for_publish(10)
            seq["n"] += 1

    def stored() -> list[str]:
        with sqlite3.connect(db) as connection:
            return [row[0] for row in connection.execute("select id from alarms")]

    service = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: listening(port), 60)
        time.sleep(1.0)  # subscribed: the session keeps what arrives from now on
        send("plant/pump/de", 0.4, loud=False)
        send("plant/pump/de", 0.4, loud=True)
        assert wait_for(lambda: len(receiver.accepted()) >= 1, 60)
        send("plant/pump/de", 0.15, loud=False)
        service.kill()  # SIGKILL, payloads of the clearing in hand or on their way
        service.wait()
        send("plant/pump/de", 0.45, loud=False)  # while it is down: held by the broker for its session
        send("plant/pump/de", 0.5, loud=True)
        service = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_for(lambda: listening(port), 60)
        assert wait_for(lambda: len(stored()) >= 3 and set(stored()) <= set(receiver.accepted()), 60), (stored(), receiver.got)
        time.sleep(1.0)
        assert sorted(receiver.accepted()) == sorted(stored()), "every stored alarm delivered once, none twice"
    finally:
        service.kill()
        service.wait()
        publisher.loop_stop()
