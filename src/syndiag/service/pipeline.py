"""From chunks to stored diagnoses (issue 18): per-sensor buffers, one bounded queue of windows with explicit
back-pressure (a full queue drops the oldest or the newest window, as configured, and counts it), a worker that
classifies micro-batches, stores and publishes each diagnosis, and the counters behind ``/metrics``.

Accounting: windows_in = diagnosed + dropped (queue full) + dropped (store failed) + waiting + in flight (taken by the
worker, not yet stored); payloads refused and
windows expired in a buffer are counted too. A slow database slows only the worker (ingestion goes on and the bounded
queue drops, counted); a failing one is retried ``store_retries`` times, then its batch is counted as dropped and the
worker goes on. Nothing is lost silently."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import numpy as np

from syndiag.config.data import SpectrogramConfig
from syndiag.config.service import ServeConfig
from syndiag.data.spectrogram import spectrogram_images, to_rgb
from syndiag.errors import DataError
from syndiag.service.buffers import Pending, SensorBuffer, Window, payload_windows
from syndiag.service.payload import decode
from syndiag.service.store import Store

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Publish = Callable[[str, bytes], None]
COUNTERS = ("windows_in", "diagnosed", "dropped_queue_full", "dropped_store_failed", "dropped_model_failed", "store_errors", "payloads", "payloads_refused_malformed",
            "payloads_refused_oversize", "gaps", "rate_changes", "expired", "windows_longer_than_payload")


class Pipeline:
    """Thread-safe: ``ingest`` from the MQTT thread, ``run`` in the worker thread, ``metrics`` from HTTP."""

    def __init__(self, config: ServeConfig, classify: Callable[[np.ndarray], np.ndarray], class_names: list[str],
                 spectrogram: SpectrogramConfig, length: int, model_fs: float, store: Store, publish: Publish | None = None) -> None:
        self.config, self.classify, self.class_names = config, classify, list(class_names)
        self.descriptions: dict[str, str] = {}
        self.spectrogram, self.length, self.model_fs = spectrogram, length, model_fs
        self.store, self.publish = store, publish
        self.buffers: dict[str, SensorBuffer] = {}
        self.declared = {name: d.fs for name, d in config.sensors.items()}
        self.queue: deque[Window] = deque()
        self.lock = threading.Condition()
        self.counts: Counter[str] = Counter()
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.in_flight = 0
        self.stopping = False

    def declare(self, sensor: str, fs: float) -> None:
        with self.lock:
            self.declared[sensor] = fs

    def ingest(self, sensor: str, payload: bytes, acknowledge: Callable[[], None] | None = None) -> None:
        """One payload of ``sensor`` (site/machine/sensor): refused ones are counted by reason; due windows are queued.

        ``acknowledge`` (shared subscriptions) runs once every window of the payload is stored or counted as dropped."""
        arrived = time.monotonic()
        acknowledge = acknowledge or (lambda: None)
        try:
            chunk = decode(payload, self.config.max_payload_samples)
        except DataError as exc:
            with self.lock:
                self.counts["payloads_refused_" + ("oversize" if "exceeds" in str(exc) else "malformed")] += 1
            acknowledge()
            return
        with self.lock:
            self.counts["payloads"] += 1
            if self.declared.get(sensor, chunk.fs) != chunk.fs and sensor not in self.buffers:
                self.counts["rate_mismatch_with_declaration"] += 1
            if self.config.share_group:
                windows, missed = payload_windows(sensor, chunk, self.length, self.model_fs, self.config.every_s, arrived)
                self.counts["windows_longer_than_payload"] += missed
                self.buffers.setdefault(sensor, SensorBuffer(sensor, chunk.fs, 1))
                pending = Pending(len(windows), acknowledge)
                for window in windows:
                    window.done = pending
            else:
                buffer = self.buffers.get(sensor)
                if buffer is None:
                    buffer = self.buffers[sensor] = SensorBuffer(sensor, chunk.fs, max(1, round(self.config.buffer_s * chunk.fs)))
                buffer.push(chunk)
                windows = buffer.windows(self.length, self.model_fs, self.config.every_s, arrived)
            for window in windows:
                self._submit(window)
        if not windows or not self.config.share_group:
            acknowledge()

    def _submit(self, window: Window) -> None:
        self.counts["windows_in"] += 1
        if len(self.queue) >= self.config.queue_size:
            dropped = window if self.config.overload == "drop-newest" else self.queue.popleft()
            self.counts["dropped_queue_full"] += 1
            if dropped.done is not None:
                dropped.done.finish()
            if dropped is window:
                return
        self.queue.append(window)
        self.lock.notify()

    def run(self) -> None:
        """The worker: micro-batches until :meth:`stop`."""
        while True:
            with self.lock:
                while not self.queue and not self.stopping:
                    self.lock.wait(0.5)
                if self.stopping and not self.queue:
                    return
                batch = [self.queue.popleft() for _ in range(min(self.config.micro_batch, len(self.queue)))]
                self.in_flight = len(batch)
            try:
                self.diagnose(batch)
            finally:
                with self.lock:  # a batch the model failed on is counted, never lost silently
                    self.counts["dropped_model_failed"] += self.in_flight
                    self.in_flight = 0

    def diagnose(self, batch: list[Window]) -> None:
        images = to_rgb(spectrogram_images(np.stack([w.samples for w in batch])[:, None, :], self.spectrogram), self.spectrogram.colormap)
        probs = np.asarray(self.classify(images))
        rows = []
        for window, p in zip(batch, probs):
            best = int(np.argmax(p))
            rows.append({"sensor": window.sensor, "t_end": window.t_end, "label": self.class_names[best], "probability": float(p[best]),
                         "rms": float(np.sqrt(np.mean(np.square(window.samples, dtype=np.float64)))), "unknown": None,
                         "latency_ms": 0.0, "stored_at": time.time()})
        now = time.monotonic()
        for row, window in zip(rows, batch):
            row["latency_ms"] = round((now - window.arrived) * 1000.0, 3)
        stored_ok = self._store(rows)
        with self.lock:
            for window in batch:
                if window.done is not None:
                    window.done.finish()
        if not stored_ok:
            return
        stored = time.monotonic()
        with self.lock:
            self.counts["diagnosed"] += len(batch)
            self.in_flight -= len(batch)
            for window in batch:
                seconds = stored - window.arrived
                self.latency_sum += seconds
                self.latency[next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))] += 1
        if self.publish is not None:
            for row in rows:
                self.publish(f"{self.config.topic_prefix}/{row['sensor']}/diagnosis", json.dumps(row).encode())

    def _store(self, rows: list[dict]) -> bool:
        """Store ``rows``, retrying a failing database with a growing pause; False (rows counted as dropped) when it keeps failing."""
        from sqlalchemy.exc import SQLAlchemyError

        for attempt in range(self.config.store_retries + 1):
            try:
                self.store.add(rows)
                return True
            except SQLAlchemyError as exc:
                with self.lock:
                    self.counts["store_errors"] += 1
                log.warning("storing %d diagnoses failed (attempt %d): %s", len(rows), attempt + 1, exc)
                if attempt < self.config.store_retries:
                    time.sleep(min(0.1 * 2**attempt, 2.0))
        with self.lock:
            self.counts["dropped_store_failed"] += len(rows)
            self.in_flight -= len(rows)
        return False

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.lock.notify_all()

    def snapshot(self) -> dict:
        with self.lock:
            found = {name: 0 for name in COUNTERS}
            found.update(self.counts)
            found.update(queue_depth=len(self.queue), in_flight=self.in_flight, sensors=len(self.buffers),
                         gaps=sum(b.gaps for b in self.buffers.values()), rate_changes=sum(b.rate_changes for b in self.buffers.values()),
                         expired=sum(b.expired for b in self.buffers.values()))
            return found

    def metrics(self) -> str:
        """Prometheus text format."""
        counts = self.snapshot()
        lines = []
        for name in COUNTERS:
            lines += [f"# TYPE syndiag_{name}_total counter", f"syndiag_{name}_total {counts[name]}"]
        lines += ["# TYPE syndiag_queue_depth gauge", f"syndiag_queue_depth {counts['queue_depth']}",
                  "# TYPE syndiag_in_flight gauge", f"syndiag_in_flight {counts['in_flight']}",
                  "# TYPE syndiag_sensors gauge", f"syndiag_sensors {counts['sensors']}",
                  "# TYPE syndiag_latency_seconds histogram"]
        with self.lock:
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), self.latency):
                cumulative += n
                lines.append(f'syndiag_latency_seconds_bucket{{le="{bound}"}} {cumulative}')
            lines += [f"syndiag_latency_seconds_sum {self.latency_sum:.6f}", f"syndiag_latency_seconds_count {cumulative}"]
        return "\n".join(lines) + "\n"
