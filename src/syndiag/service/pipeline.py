"""From payloads to stored diagnoses (issues 18 and 27): per-sensor buffers, one bounded queue of windows with explicit
back-pressure (a full queue drops the oldest or the newest window, as configured), a worker that classifies
micro-batches, and the counters behind ``/metrics`` and ``/health``.

Accounting: every window has one fate, recorded in the store with the service's counters in one transaction (a
diagnosis, or a drop with its reason: queue_full, store_failed, model_failed, incomplete, non_finite_output), so
windows_in = diagnosed + duplicate + drops + waiting + in flight, and the counts survive a restart. A payload holding
windows is acknowledged to the broker only once their fates are stored (at-least-once: a killed service gets it again,
and the store ignores windows already stored); a payload holding none, or refused, is acknowledged at once. Any payload
at all is taken or refused with a named reason: the ingestion never stops on one."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from syndiag.config.service import ServeConfig
from syndiag.errors import ConfigError
from syndiag.serving.predictor import Predictor, WindowBatch
from syndiag.service.assembly import Assembly, layout_batch, plan_sensors
from syndiag.service.buffers import Pending, SensorBuffer, Window, payload_windows
from syndiag.service.health_tracker import HealthTracker
from syndiag.service.payload import Limits, PayloadRefused, decode
from syndiag.service.raw_store import RawCapture
from syndiag.service.unknown import LiveUnknown
from syndiag.service.store import Store

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
Publish = Callable[[str, bytes], None]
FATES = ("diagnosed", "duplicate", "dropped_queue_full", "dropped_store_failed", "dropped_model_failed", "dropped_incomplete",
         "dropped_non_finite_output")
REFUSALS = ("malformed", "oversize", "out_of_range", "non_finite", "overlap", "rate_mismatch", "bad_name", "sensor_cap", "undeclared",
            "internal")
ALARM_COUNTERS = ("alarms", "deliveries", "delivery_failures", "acks", "acks_repeated", "acks_unknown_alarm", "comments", "auth_refused")
KEPT_COUNTERS = ("raw_clips", "raw_snapshots", "retention_passes", "retention_rolled_up", "retention_deleted", "retention_deleted_for_size")
COUNTERS = ("windows_in", *FATES, "store_errors", "store_recreated", "payloads", *(f"payloads_refused_{r}" for r in REFUSALS),
            "gaps", "rate_changes", "expired", *ALARM_COUNTERS, *KEPT_COUNTERS)


def check_sensor_name(sensor: str) -> None:
    """site/machine/sensor, each part letters, digits and ``_.:-`` (64 at most); PayloadRefused ('bad_name') otherwise."""
    parts = sensor.split("/")
    if len(parts) != 3 or not all(NAME.match(p) for p in parts):
        raise PayloadRefused("bad_name", f"sensor name {sensor[:200]!r}: three parts site/machine/sensor of letters, digits and _.:-")


class Pipeline:
    """Thread-safe: ``ingest`` from the MQTT thread, ``run`` in the worker thread, ``snapshot`` and ``health`` from HTTP."""

    def __init__(self, config: ServeConfig, predictor: Predictor, store: Store, publish: Publish | None = None) -> None:
        self.config, self.predictor = config, predictor
        self.class_names = list(predictor.meta.class_names)
        self.descriptions = dict(zip(predictor.meta.class_names, predictor.meta.prompts))
        need = predictor.needs.channels[0]
        self.length, self.model_fs = need.length, need.fs
        self.plan = getattr(predictor, "plan", None) if predictor.meta.layout is not None else None  # a sensor model's layout
        if self.plan is not None and config.share_group:
            raise ConfigError(f"share_group: {config.checkpoint} is a sensor model, whose windows join several streams; serve it "
                              "from one process (without share_group)")
        feeds = plan_sensors(config, self.plan, str(config.checkpoint))
        self.assemblies = {name: Assembly(name, f, config.every_s, config.sensor_wait_s, config.buffer_s, self.plan.dropout <= 0)
                           for name, f in feeds.items()}
        self.owners = {feed.stream: self.assemblies[name] for name, found in feeds.items() for feed in found}
        slowest = min([config.min_fs, *(feed.fs for found in feeds.values() for feed in found)])
        self.limits = Limits(config.max_payload_samples, slowest, config.max_fs, config.max_t0, config.max_abs_sample)
        self.store, self.publish = store, publish
        self.buffers: dict[str, SensorBuffer] = {}
        self.declared = {name: d.fs for name, d in config.sensors.items() if d.fs is not None}
        self.declared.update({feed.stream: feed.fs for found in feeds.values() for feed in found})
        self.mismatches: set[tuple[str, float]] = set()  # (stream, rate) refused and logged once
        self.queue: deque[Window] = deque()
        self.lock = threading.Condition()
        self.counts: Counter[str] = Counter(store.counters_of(config.client_id))
        self.counts["windows_in"] = sum(self.counts[f] for f in FATES)  # windows waiting at a kill come again: counted then
        self.unflushed: list[tuple[Window, str]] = []  # fates decided outside the worker, not yet stored
        self._persisted = Counter({k: v for k, v in self.counts.items() if k != "windows_in"})
        self.acks: list[Callable[[], None]] = []  # payloads whose windows all have a fate, acknowledged after the next flush
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.in_flight = 0
        self.stopping = False
        self.store_problem: str | None = None  # the store failing now
        self.store_warning: str | None = None  # the store lost its file while serving (until a restart)
        self.unknown = LiveUnknown(config.checkpoint, self.model_fs)  # the open-set verdict per window, when calibrated
        self.tracker = HealthTracker(config.health, config.sensors, store.engine) if config.health.enabled else None
        self.alarm_targets = [f"webhook:{name}" for name in config.alarms.webhooks]  # and mqtt, once a broker publishes
        self.on_alarms: Callable[[], None] = lambda: None  # wakes the alarm deliveries
        kept = config.retention.enabled and not config.share_group  # a shared subscription's process holds no ring buffer to cut
        self.capture = RawCapture(config.retention) if kept else None
        self.streams = {name: [feed.stream for feed in found] for name, found in feeds.items()}  # a sensor's streams (else itself)
        if self.capture is not None:
            self.capture.owner = {stream: name for name, streams in self.streams.items() for stream in streams}

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter from any thread (stored with the next flush)."""
        with self.lock:
            self.counts[name] += n
            self.lock.notify()

    def declare(self, sensor: str, fs: float) -> None:
        check_sensor_name(sensor)
        if not self.limits.min_fs <= fs <= self.limits.max_fs:
            raise PayloadRefused("out_of_range", f"{sensor}: declared rate {fs:g} Hz outside {self.limits.min_fs:g} .. {self.limits.max_fs:g} Hz")
        with self.lock:
            if sensor in self.owners:  # a channel of a sensor model: its rate is the config's, checked against the model at start
                self._mismatch(sensor, fs, self.declared[sensor], "a retained declaration")
            else:
                self.declared[sensor] = fs

    def _mismatch(self, stream: str, fs: float, declared: float, what: str) -> None:
        """Refuse (rate_mismatch) a rate other than the declared one, logged once per stream and rate."""
        if abs(declared - fs) <= 1e-6 * declared:
            return
        owner = self.owners.get(stream)
        where = "" if owner is None else f" (channel {next(f.channel for f in owner.feeds if f.stream == stream)} of sensor {owner.sensor})"
        message = f"{stream}{where}: {what} at {fs:g} Hz, declared {declared:g} Hz"
        if (stream, fs) not in self.mismatches:
            self.mismatches.add((stream, fs))
            log.warning("refused (counted under payloads_refused_rate_mismatch): %s", message)
        raise PayloadRefused("rate_mismatch", message)

    def refuse(self, reason: str) -> None:
        with self.lock:
            self.counts["payloads_refused_" + reason] += 1

    def ingest(self, sensor: str, payload: bytes, acknowledge: Callable[[], None] | None = None) -> None:
        """One payload of ``sensor`` (site/machine/sensor): refused ones are counted by reason; its windows are queued.

        ``acknowledge`` runs once every window of the payload has a stored fate (at once when it holds none)."""
        acknowledge = acknowledge or (lambda: None)
        try:
            windows = self._windows(sensor, payload)
        except PayloadRefused as exc:
            self.refuse(exc.reason)
            acknowledge()
            return
        except Exception:  # noqa: BLE001 - no payload may stop the ingestion
            log.exception("payload of %s refused by an internal error", sensor[:200])
            self.refuse("internal")
            acknowledge()
            return
        if not windows:
            acknowledge()
            return
        pending = Pending(len(windows), lambda: self.acks.append(acknowledge))
        with self.lock:
            for window in windows:
                window.done = pending
                self._submit(window)

    def _windows(self, sensor: str, payload: bytes) -> list[Window]:
        check_sensor_name(sensor)
        chunk = decode(payload, self.limits)
        arrived = time.monotonic()
        with self.lock:
            declared = self.declared.get(sensor)
            if declared is not None:
                self._mismatch(sensor, chunk.fs, declared, "payload")
            elif chunk.fs < self.config.min_fs:
                raise PayloadRefused("out_of_range", f"{sensor}: payload at {chunk.fs:g} Hz, below min_fs {self.config.min_fs:g} Hz")
            assembly = self.owners.get(sensor)
            if self.plan is not None and assembly is None:
                raise PayloadRefused("undeclared", f"{sensor}: no sensor in the config (sensors.<name>.channels) has a channel on this "
                                                   f"stream, and {self.config.checkpoint} is a sensor model")
            buffer = self.buffers.get(sensor) or self._new_buffer(sensor, chunk.fs)
            if assembly is not None:
                buffer.push(chunk)
                if self.capture is not None:
                    self.capture.pushed(sensor, buffer)
                windows = assembly.windows(self.buffers, arrived)
                timing = self.buffers.get(assembly.timing.stream)
                if timing is not None and self.tracker is not None:  # the health state reads its first vibration channel
                    self._health_signals(windows, timing.fs, timing.held_from(), timing.span)
                self.counts["payloads"] += 1
                return windows
            if self.config.share_group:
                windows, _ = payload_windows(sensor, chunk, self.length, self.model_fs, self.config.every_s, arrived)
                held = (round(chunk.t0 * chunk.fs), lambda a, b: chunk.samples[a - round(chunk.t0 * chunk.fs) : b - round(chunk.t0 * chunk.fs)])
            else:
                buffer.push(chunk)
                if self.capture is not None:
                    self.capture.pushed(sensor, buffer)
                windows = buffer.windows(buffer.end - chunk.samples.size, chunk.samples.size, self.length, self.model_fs,
                                         self.config.every_s, arrived)
                held = (buffer.held_from(), buffer.span)
            if self.tracker is not None:
                self._health_signals(windows, chunk.fs, *held)
            self.counts["payloads"] += 1
        return windows

    def _health_signals(self, windows: list[Window], fs: float, first: int, span: Callable[[int, int], np.ndarray]) -> None:
        """Each window's signal for its health state: up to ``health.window_s`` seconds held, ending at its end."""
        want = max(2, round(self.config.health.window_s * fs))
        for window in windows:
            end = round(window.t_end * fs)
            if window.samples is not None and end - first >= 2:
                window.signal, window.signal_fs = np.array(span(max(first, end - want), end), dtype=np.float32), fs

    def _new_buffer(self, sensor: str, fs: float) -> SensorBuffer:
        seconds = self.config.buffer_s if not self.config.share_group else 0.0
        capacity = max(1, round(seconds * fs))
        held = sum(b.capacity for b in self.buffers.values()) * 4
        if len(self.buffers) >= self.config.max_sensors or held + 4 * capacity > self.config.max_buffer_mb * 2**20:
            raise PayloadRefused("sensor_cap", f"{sensor}: a new sensor beyond the cap ({self.config.max_sensors} sensors, "
                                               f"{self.config.max_buffer_mb} MB of buffers)")
        self.buffers[sensor] = SensorBuffer(sensor, fs, capacity)
        return self.buffers[sensor]

    def _submit(self, window: Window) -> None:
        self.counts["windows_in"] += 1
        if window.samples is None:
            self._decided(window, "incomplete")
            return
        if len(self.queue) >= self.config.queue_size:
            dropped = window if self.config.overload == "drop-newest" else self.queue.popleft()
            self._decided(dropped, "queue_full")
            if dropped is window:
                return
        self.queue.append(window)
        self.lock.notify()

    def _decided(self, window: Window, reason: str) -> None:
        """A drop decided under the lock: counted now, stored with the next flush."""
        self.counts["dropped_" + reason] += 1
        self.unflushed.append((window, reason))

    def run(self) -> None:
        """The worker: micro-batches and flushes of the fates until :meth:`stop` (and the queue is empty)."""
        while True:
            with self.lock:
                if not self.queue and not self.stopping and not self.unflushed:
                    self.lock.wait(self.config.flush_s)
                if self.stopping and not self.queue:
                    break
                batch = [self.queue.popleft() for _ in range(min(self.config.micro_batch, len(self.queue)))]
                self.in_flight = len(batch)
            self._flush(self._diagnosed(batch), batch)
        self._flush([], [])

    def _diagnosed(self, batch: list[Window]) -> list[dict]:
        """One row per window the model answered; windows it failed on, or answered with non-finite numbers, are dropped."""
        if not batch:
            return []
        try:
            if self.plan is not None:
                inputs = layout_batch(self.plan, batch)
            else:
                inputs = WindowBatch.of_array(np.stack([w.samples for w in batch])[:, None, :], self.predictor.needs.names)
            prediction = self.predictor.predict(inputs)
            probs, severity = prediction.probabilities, prediction.severity_mean
            unknown = self.unknown.flags(inputs if self.plan is not None else np.stack([w.samples for w in batch])[:, None, :],
                                         np.max(np.nan_to_num(probs, nan=0.0), axis=1))
        except Exception:  # noqa: BLE001 - a batch the model fails on is counted, never lost
            log.exception("the model failed on a batch of %d windows", len(batch))
            with self.lock:
                for window in batch:
                    self._decided(window, "model_failed")
                self.in_flight = 0
            return []
        rows, now = [], time.monotonic()
        with self.lock:
            for i, (window, p) in enumerate(zip(batch, probs)):
                if not np.isfinite(p).all():
                    self._decided(window, "non_finite_output")
                    continue
                best = int(np.argmax(p))
                rows.append({"sensor": window.sensor, "t_end": window.t_end, "label": self.class_names[best], "probability": float(p[best]),
                             "rms": float(np.sqrt(np.mean(np.square(window.samples, dtype=np.float64)))), "unknown": unknown[i],
                             "latency_ms": round((now - window.arrived) * 1000.0, 3), "stored_at": time.time(), "_window": window,
                             "_severity": None if severity is None else float(severity[i])})
            self.in_flight = len(rows)
        return rows

    def _flush(self, rows: list[dict], batch: list[Window]) -> None:
        """Store the batch's diagnoses, the drops decided since the last flush and the counters, then acknowledge."""
        with self.lock:  # the drops and the counters that count them, taken together
            drops, self.unflushed = self.unflushed, []
            counts = Counter({k: v for k, v in self.counts.items() if k != "windows_in"})
            if not rows and not drops and not self.acks and counts == self._persisted:
                return
        windows = [row.pop("_window") for row in rows]
        severities = [row.pop("_severity") for row in rows]
        update = None
        if self.tracker is not None and rows:
            wall, clock = time.time(), time.monotonic()
            update = self.tracker.evaluate([{**row, "_severity": s} for row, s in zip(rows, severities)],
                                           [(w.signal, w.signal_fs) for w in windows], [wall - (clock - w.arrived) for w in windows])
            for row in rows:  # the evidence's scores stored with the diagnosis (kept, rolled up with age)
                row["velocity_mm_s"], row["anomaly_ratio"], row["rul_h"], row["rul_bound_h"] = update.scores.get((row["sensor"], row["t_end"]),
                                                                                                                  (None,) * 4)
        new = self._record(rows, drops, counts, update)
        with self.lock:
            if new is None:  # the store keeps failing: the rows are dropped, their fates stored with a later flush
                for window in windows:
                    self._decided(window, "store_failed")
                self.unflushed.extend(drops)
                self.in_flight = 0
                return
            self.counts["diagnosed"] += new
            self.counts["duplicate"] += len(rows) - new
            if update is not None:
                self.tracker.commit(update)
                self.counts["alarms"] += update.stored_alarms
                if self.capture is not None:  # the raw signal around each alarm, cut once the streams reach its end
                    for alarm in update.raised:
                        self.capture.alarm(alarm["id"], alarm["sensor"], alarm["t_end"], self.streams.get(alarm["sensor"], [alarm["sensor"]]),
                                           self.buffers)
            self.in_flight = 0
            stored = time.monotonic()
            for window in windows:
                seconds = stored - window.arrived
                self.latency_sum += seconds
                self.latency[next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))] += 1
            for window in [*windows, *(w for w, _ in drops)]:
                if window.done is not None:
                    window.done.finish()
            acks, self.acks = self.acks, []
        for acknowledge in acks:
            acknowledge()
        if update is not None and update.stored_alarms:
            self.on_alarms()
        if self.publish is not None:
            for row in rows:
                self.publish(f"{self.config.topic_prefix}/{row['sensor']}/diagnosis", json.dumps(row).encode())

    def _record(self, rows: list[dict], drops: list[tuple[Window, str]], counts: Counter[str], update=None) -> int | None:  # noqa: ANN001
        """Store rows, drops and ``counts`` in one transaction (the store adds the new and repeated diagnoses to the
        counts it writes), retrying a failing database with a growing pause; None when it keeps failing."""
        fates = [(w.sensor, w.t_end, reason) for w, reason in drops]
        for attempt in range(self.config.store_retries + 1):
            try:
                if problem := self.store.check_file():
                    counts["store_recreated"] += 1
                    with self.lock:
                        self.store_warning = problem
                        self.counts["store_recreated"] += 1
                new = self.store.record(rows, fates, self.config.client_id, dict(counts),
                                        None if update is None else (update, self.alarm_targets))
                with self.lock:
                    self.store_problem = None
                    self._persisted = counts + Counter({"diagnosed": new, "duplicate": len(rows) - new,
                                                        "alarms": 0 if update is None else update.stored_alarms})
                return new
            except (SQLAlchemyError, OSError) as exc:
                with self.lock:
                    self.counts["store_errors"] += 1
                    self.store_problem = f"storing failed: {str(exc).splitlines()[0][:200]}"
                log.warning("storing %d diagnoses failed (attempt %d): %s", len(rows), attempt + 1, exc)
                if attempt < self.config.store_retries:
                    time.sleep(min(0.1 * 2**attempt, 2.0))
        return None

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

    def accounted(self) -> bool:
        """windows_in = every fate + waiting + in flight."""
        c = self.snapshot()
        return c["windows_in"] == sum(c[f] for f in FATES) + c["queue_depth"] + c["in_flight"]

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
