"""MQTT ingestion (issues 18 and 27): one paho client subscribed (QoS 1) to ``<prefix>/+/+/+/data`` (samples,
service/payload.py) and ``<prefix>/+/+/+/config`` (a retained JSON declaration ``{"fs": 12000, "kind": "vibration"}``);
it reconnects by itself after a broker restart and publishes each diagnosis on ``<prefix>/<site>/<machine>/<sensor>/diagnosis``
and each alarm on ``.../alarm`` (QoS 1, confirmed: service/alarms.py).

Delivery is at-least-once in both modes: a persistent session (``client_id``) and manual acknowledgements, a payload
acknowledged only once its windows' fates are stored (service/pipeline.py), so a process killed with payloads in hand
gets them again when it restarts with its id (the store ignores windows already stored). With a ``share_group``,
several serve processes share the data topics through an MQTT 5 shared subscription (``$share/<group>/...``; the
config topics stay unshared). No message can stop the client's thread: anything a handler raises is counted."""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from syndiag.service.payload import PayloadRefused
from syndiag.service.pipeline import Pipeline

log = logging.getLogger(__name__)


def sensor_of(topic: str, prefix: str) -> tuple[str, str] | None:
    """(site/machine/sensor, kind of message) of a topic ``prefix/site/machine/sensor/{data,config}``; None otherwise."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != prefix or parts[4] not in ("data", "config"):
        return None
    return "/".join(parts[1:4]), parts[4]


class Ingestion:
    def __init__(self, pipeline: Pipeline, host: str, port: int, prefix: str, client_id: str = "syndiag-serve",
                 share_group: str | None = None) -> None:
        self.pipeline, self.prefix, self.share_group = pipeline, prefix, share_group
        if share_group:
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        else:
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_message = self._message
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.host, self.port = host, port
        self.connected = False

    def start(self) -> None:
        if self.share_group:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
            self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
        else:
            self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0)

    def publish_confirmed(self, topic: str, payload: bytes, timeout: float) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement; raises when there is none within ``timeout``."""
        if not self.connected:
            raise ConnectionError("not connected to the broker")
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish refused: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TimeoutError(f"the broker did not acknowledge within {timeout:g} s")

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected = not reason_code.is_failure
        if self.connected:
            data = f"$share/{self.share_group}/{self.prefix}/+/+/+/data" if self.share_group else f"{self.prefix}/+/+/+/data"
            client.subscribe([(data, 1), (f"{self.prefix}/+/+/+/config", 1)])
            log.info("connected to the broker at %s:%d", self.host, self.port)

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected = False

    def alive(self) -> bool:
        """The client's network thread runs (paho's loop_start thread)."""
        thread = getattr(self.client, "_thread", None)
        return thread is not None and thread.is_alive()

    def _message(self, client, userdata, message) -> None:  # noqa: ANN001
        try:
            self._take(message)
        except Exception:  # noqa: BLE001 - the client's thread must outlive any message
            log.exception("message on %.200s refused by an internal error", message.topic)
            self.pipeline.refuse("internal")
            self._acknowledge(message)

    def _take(self, message) -> None:  # noqa: ANN001
        found = sensor_of(message.topic, self.prefix)
        if found is None:
            self._acknowledge(message)
            return
        sensor, kind = found
        if kind == "data":
            self.pipeline.ingest(sensor, message.payload, lambda: self._acknowledge(message))
            return
        try:
            if len(message.payload) > 4096:
                raise PayloadRefused("oversize", "a sensor declaration is at most 4096 bytes")
            fs = json.loads(message.payload)["fs"]
            if isinstance(fs, bool) or not isinstance(fs, (int, float)):
                raise PayloadRefused("malformed", "a sensor declaration's fs must be a number")
            self.pipeline.declare(sensor, float(fs))
        except PayloadRefused as exc:
            self.pipeline.refuse(exc.reason)
        except (ValueError, KeyError, TypeError, RecursionError):
            self.pipeline.refuse("malformed")
        self._acknowledge(message)

    def _acknowledge(self, message) -> None:  # noqa: ANN001
        if message.qos > 0:
            self.client.ack(message.mid, message.qos)
