"""The MQTT side of ``syndiag replay`` (issue 27): its options checked before anything is read, the broker connected to,
and every chunk confirmed by the broker, so a missing broker, one that dies mid-stream or never acknowledges is one
named error (ConfigError), not a traceback or a silent stall."""

from __future__ import annotations

import math
import time

from syndiag.errors import ConfigError

ACK_TIMEOUT_S = 10.0


def check_replay_options(sensors: int, port: int, seconds: float | None, chunk_s: float, speed: float) -> None:
    """A ConfigError naming the first option out of range."""
    if sensors < 1:
        raise ConfigError(f"--sensors must be 1 or more, got {sensors}")
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be 1 to 65535, got {port}")
    for name, value in (("--seconds", seconds), ("--chunk-s", chunk_s), ("--speed", speed)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {value}")


def connect(host: str, port: int, client_id: str, timeout_s: float = ACK_TIMEOUT_S):
    """A paho client connected to the broker at ``host:port``, its network loop running."""
    import paho.mqtt.client as mqtt  # defers paho: the replay options are checked before the client library is loaded

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    try:
        client.connect(host, port)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"MQTT broker {host}:{port}: cannot connect ({exc}); is it running? (--host, --port)") from None
    client.loop_start()
    deadline = time.monotonic() + timeout_s
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not client.is_connected():
        close(client)
        raise ConfigError(f"MQTT broker {host}:{port}: no MQTT answer within {timeout_s:g} s (is an MQTT broker listening there?)")
    return client


def confirm(info, broker: str, done: int, timeout_s: float = ACK_TIMEOUT_S, client=None) -> None:
    """Wait for the broker to acknowledge a QoS 1 publish; a ConfigError when it is gone or silent. With ``client``, a
    connection closed while waiting is named as lost at once rather than after the timeout."""
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            info.wait_for_publish(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
            if info.is_published() or time.monotonic() >= deadline:
                break
            if client is not None and not client.is_connected():
                raise ConfigError(f"MQTT broker {broker}: lost after {done} chunk(s) (connection closed)")
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"MQTT broker {broker}: lost after {done} chunk(s) ({exc})") from None
    if not info.is_published():
        if client is not None and not client.is_connected():
            raise ConfigError(f"MQTT broker {broker}: lost after {done} chunk(s) (connection closed)")
        raise ConfigError(f"MQTT broker {broker}: no acknowledgement within {timeout_s:g} s after {done} chunk(s)")


def close(client) -> None:
    client.loop_stop()
    client.disconnect()
