"""Alarm delivery (issue 33): one thread per target (the MQTT alarm topic, each webhook) reads its outbox rows
(service/alarm_store.py), sends each due alarm, and marks it delivered, or counts the failure, names it in the log and
in the outbox row (``last_error``), and retries it after a pause that doubles per failure up to ``backoff_max_s``; an
alarm is never given up. The outbox lives in the store, so a restart (a kill -9 included) sends what was not yet
delivered and never what was. A receiver sees each alarm's id (in the body, and a webhook's ``Idempotency-Key``
header): a kill between a delivery and its mark is the one case that sends an alarm twice."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import httpx

from syndiag.config.service import AlarmConfig
from syndiag.service.alarm_store import due, mark, next_due

log = logging.getLogger(__name__)
MQTT_TIMEOUT_S = 5.0


def alarm_topic(prefix: str, sensor: str) -> str:
    return f"{prefix}/{sensor}/alarm"


def alarm_body(alarm: dict) -> dict:
    """What a receiver gets: the alarm as stored, with its site, machine and sensor apart."""
    site, machine, sensor = alarm["sensor"].split("/")
    return {**{k: v for k, v in alarm.items() if k not in ("acked_by", "acked_at")}, "site": site, "machine": machine, "sensor_name": sensor}


class Deliveries:
    """The delivery threads of every target; ``wake`` when alarms were stored, ``stop`` at the end."""

    def __init__(self, store, config: AlarmConfig, prefix: str, targets: list[str], count: Callable[[str], None],  # noqa: ANN001
                 publish: Callable[[str, bytes, float], None] | None = None) -> None:
        self.store, self.config, self.prefix, self.targets, self.count, self.publish = store, config, prefix, targets, count, publish
        self.events = {target: threading.Event() for target in targets}
        self.threads: list[threading.Thread] = []
        self.stopping = False
        self.problems: dict[str, str] = {}  # target -> its latest failure, while it fails

    def start(self) -> None:
        for target in self.targets:
            thread = threading.Thread(target=self._loop, args=(target,), name=f"syndiag-alarms-{target}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def wake(self) -> None:
        for event in self.events.values():
            event.set()

    def stop(self) -> None:
        self.stopping = True
        self.wake()
        for thread in self.threads:
            thread.join(timeout=10)

    def send(self, target: str, alarm: dict, client: httpx.Client | None) -> None:
        """Deliver one alarm to ``target``; raises on any failure (a timeout, an answer other than 2xx, no broker)."""
        body = json.dumps(alarm_body(alarm)).encode()
        if target == "mqtt":
            if self.publish is None:
                raise RuntimeError("no MQTT client")
            self.publish(alarm_topic(self.prefix, alarm["sensor"]), body, MQTT_TIMEOUT_S)
            return
        hook = self.config.webhooks[target.removeprefix("webhook:")]
        answer = client.post(hook.url, content=body, timeout=hook.timeout_s,
                             headers={"Content-Type": "application/json", "Idempotency-Key": alarm["id"]})
        if not answer.is_success:
            raise RuntimeError(f"HTTP {answer.status_code}")

    def pass_once(self, target: str, client: httpx.Client | None = None) -> int:
        """Send every due alarm of ``target`` once; returns how many were delivered."""
        delivered = 0
        for alarm, attempts in due(self.store.engine, target, time.time()):
            if self.stopping:
                break
            try:
                self.send(target, alarm, client)
            except Exception as exc:  # noqa: BLE001 - any failure of a delivery is counted and retried, never lost
                pause = min(self.config.backoff_s * 2**attempts, self.config.backoff_max_s)
                error = f"{type(exc).__name__}: {str(exc)[:300]}"
                self.problems[target] = f"alarm {alarm['id']}: {error}"
                self.count("delivery_failures")
                log.warning("alarm %s to %s failed (attempt %d): %s; retried in %.1f s", alarm["id"], target, attempts + 1, error, pause)
                mark(self.store.engine, alarm["id"], target, attempts + 1, None, time.time() + pause, error)
                continue
            mark(self.store.engine, alarm["id"], target, attempts + 1, time.time(), time.time(), None)
            self.problems.pop(target, None)
            self.count("deliveries")
            delivered += 1
        return delivered

    def _loop(self, target: str) -> None:
        client = None if target == "mqtt" else httpx.Client()
        event = self.events[target]
        try:
            while not self.stopping:
                try:
                    self.pass_once(target, client)
                    upcoming = next_due(self.store.engine, target)
                except Exception:  # noqa: BLE001 - the store failing now: the outbox is read again shortly
                    log.exception("reading the alarm outbox for %s failed", target)
                    upcoming = None
                wait = 1.0 if upcoming is None else min(max(upcoming - time.time(), 0.0), 1.0)
                if wait > 0:
                    event.wait(wait)
                event.clear()
        finally:
            if client is not None:
                client.close()
