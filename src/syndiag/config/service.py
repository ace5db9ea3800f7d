"""The live service recipe (issue 18): the model, the MQTT broker and topics, the sensors' declared rates, the store,
the queue and what happens under overload; the health states, the alarms, the sensors of several channels and the
retention of what is stored (issue 33)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel
from syndiag.config.sensor import ChannelKind

STREAM_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""site/machine/sensor: each part 1 to 64 letters, digits or _.:- (as service/pipeline.py checks a topic's)."""


class ChannelDeclaration(StrictModel):
    """One channel of a sensor of several channels (a sensor model's layout channel): the stream carrying it, its rate, its kind."""

    topic: str = Field(pattern=STREAM_NAME, description="site/machine/name of its stream: its samples on <prefix>/<topic>/data")
    fs: float = Field(gt=0, description="its sampling rate (Hz); the model must be able to read it (checked at start)")
    kind: ChannelKind = Field("vibration", description="what it measures (the layout channel's kind)")


class SensorDeclaration(StrictModel):
    """A sensor's sampling rate and channel kind, declared once (here, or in a retained config message); or, for a sensor
    model (several sensors at their own rates), its channels, each carried by its own stream."""

    fs: float | None = Field(None, gt=0, description="its rate (Hz); a sensor of several channels declares channels instead")
    kind: Literal["vibration"] = "vibration"
    channels: dict[str, ChannelDeclaration] = Field(default_factory=dict, description="layout channel name -> its stream, rate "
                                                    "and kind (a sensor model's windows end at one instant on every channel)")
    bearing: str | None = Field(None, description="the bearing its live report reads the evidence for (a shipped name or a YAML file; "
                                "default cwru-drive-end)")
    rpm: float | None = Field(None, gt=0, description="shaft speed for its live report (default 1797)")
    unit: Literal["g", "m/s2"] = Field("g", description="the unit of its acceleration samples (for the ISO zone's RMS velocity)")
    machine_group: str | None = Field(None, description="its ISO 20816 machine group (physics/iso_zones.yaml; default health.machine_group)")
    rul: str | None = Field(None, description="a `syndiag rul fit` checkpoint folder (a family on health features): its remaining useful "
                            "life from a snapshot every health.rul_snapshot_s, once it degrades (docs/service.md \"Remaining useful life\")")

    @model_validator(mode="after")
    def _rate_or_channels(self) -> "SensorDeclaration":
        if (self.fs is None) == (not self.channels):
            raise ValueError("declare the sensor's rate (fs) or its channels (a sensor model's layout), one of the two")
        return self


class HealthConfig(StrictModel):
    """Machine health state (docs/service.md "Health states"): the evidence of each window, its thresholds, and how many
    windows in a row change a sensor's state (so one noisy window never flips it)."""

    enabled: bool = Field(True, description="evaluate a health state per sensor and raise alarms on its changes")
    window_s: float = Field(1.0, gt=0, le=60, description="seconds of signal ending at each window's end read for the ISO zone "
                            "and the anomaly features (at most the buffer; a shared-subscription payload's own samples)")
    machine_group: str = Field("iso-20816-3:group2-rigid", description="ISO 20816 machine group of the zone limits (physics/iso_zones.yaml)")
    baseline_windows: int = Field(300, ge=8, description="a sensor's first windows taken as healthy: its anomaly baseline "
                                  "(fitted on half, the threshold set on the other half); stored, so a restart keeps it")
    false_alarm: float = Field(0.01, gt=0, lt=1, description="share of baseline windows allowed above the anomaly threshold")
    anomaly_alarm_ratio: float = Field(10.0, gt=1, description="an anomaly score this many times its threshold reads alarm (above 1: watch)")
    fault_probability: float = Field(0.9, gt=0, le=1, description="a diagnosed fault at least this sure reads fault_level")
    fault_level: Literal["watch", "alarm"] = Field("watch", description="what a sure diagnosed fault reads")
    unknown_level: Literal["ok", "watch", "alarm"] = Field("watch", description="what the unknown-fault verdict reads")
    severity_alarm: float | None = Field(None, gt=0, description="a diagnosed fault with at least this severity reads alarm (a model with a severity head)")
    healthy_labels: list[str] = Field(default_factory=lambda: ["normal"], min_length=1, description="labels that are no fault")
    rul_snapshot_s: float = Field(10.0, gt=0, description="seconds of a sensor's clock between its RUL snapshots (the cadence of the "
                                  "units its checkpoint was fitted on: FEMTO's is 10 s)")
    rul_max_snapshots: int = Field(5000, ge=100, description="a sensor's RUL history past this many snapshots: its older half thinned "
                                   "to every second snapshot")
    rul_watch_h: float | None = Field(None, gt=0, description="a degrading sensor whose RUL interval's low end is below this many hours reads watch")
    rul_alarm_h: float | None = Field(None, gt=0, description="a degrading sensor whose RUL interval's low end is below this many hours reads alarm")
    raise_windows: int = Field(3, ge=1, description="windows in a row reading above the state before it rises (minimum duration)")
    clear_windows: int = Field(10, ge=1, description="windows in a row reading below the state (with the clearing thresholds) before it falls")
    clear_ratio: float = Field(0.8, gt=0, le=1, description="hysteresis: the clearing thresholds are the raising ones times this")

    @model_validator(mode="after")
    def _rul_levels(self) -> "HealthConfig":
        if self.rul_watch_h is not None and self.rul_alarm_h is not None and self.rul_alarm_h >= self.rul_watch_h:
            raise ValueError(f"rul_alarm_h ({self.rul_alarm_h:g}) must be below rul_watch_h ({self.rul_watch_h:g})")
        return self


class WebhookConfig(StrictModel):
    """An HTTP endpoint that receives every alarm as JSON (POST), retried with a growing pause until it answers 2xx."""

    url: str = Field(pattern=r"^https?://[^\s]{1,2000}$", description="http:// or https:// URL")
    timeout_s: float = Field(2.0, gt=0, le=60, description="an answer later than this is a failure (retried)")


class AlarmConfig(StrictModel):
    """Where alarms go and who may acknowledge them (docs/service.md "Alarms")."""

    mqtt: bool = Field(True, description="publish each alarm (QoS 1) on <prefix>/<site>/<machine>/<sensor>/alarm")
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict, description="name -> endpoint; each alarm is POSTed to each")
    backoff_s: float = Field(0.5, gt=0, description="the first pause before a failed delivery is retried; doubled per failure")
    backoff_max_s: float = Field(60.0, gt=0, description="the longest pause between retries (a delivery is retried until it succeeds)")
    users: dict[str, str] = Field(default_factory=dict, description="user or client name -> sha256 hex digest of its API token "
                                  "(acknowledgements and comments need one: Authorization: Bearer <token>)")

    @model_validator(mode="after")
    def _names(self) -> "AlarmConfig":
        for name, digest in self.users.items():
            if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
                raise ValueError(f"alarms.users: name {name[:80]!r}: 1 to 64 letters, digits or _.@-")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"alarms.users.{name}: give the sha256 hex digest of the token (64 hex digits), never the token")
        for name in self.webhooks:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
                raise ValueError(f"alarms.webhooks: name {name[:80]!r}: 1 to 64 letters, digits or _-")
        return self


class RollupTier(StrictModel):
    """Diagnoses older than ``after_s`` kept as one row per ``every_s`` seconds per sensor (count, min/mean/max of the scores)."""

    after_s: float = Field(gt=0, description="age (s, on the sensors' clock) from which rows are rolled up into this tier")
    every_s: float = Field(gt=0, description="seconds per rolled-up row")


class RetentionConfig(StrictModel):
    """Bounded storage (docs/service.md "Retention"): the raw signal around every alarm and a periodic raw snapshot per
    stream kept compressed; diagnoses downsampled with age; everything bounded by age and by total size. Every duration
    and size must be positive (0 would keep nothing, or never run)."""

    enabled: bool = Field(True, description="keep raw clips and snapshots and run the retention passes")
    every_s: float = Field(60.0, gt=0, description="seconds between retention passes (run beside ingestion, in short transactions)")
    raw_before_s: float = Field(2.5, gt=0, description="seconds of raw signal kept before each alarm's window end")
    raw_after_s: float = Field(1.0, gt=0, description="seconds of raw signal kept after it (raw_before_s + raw_after_s <= buffer_s)")
    snapshot_every_s: float = Field(3600.0, gt=0, description="a raw snapshot of every stream every this many seconds of its clock")
    snapshot_s: float = Field(1.0, gt=0, description="seconds per raw snapshot (at most buffer_s)")
    raw_encoding: Literal["int16", "float16"] = Field("int16", description="raw samples kept as int16 scaled to the clip's peak "
                                                       "(error <= peak / 65534) or float16, in a deflated .npz")
    tiers: list[RollupTier] = Field(default_factory=lambda: [RollupTier(after_s=3600.0, every_s=60.0), RollupTier(after_s=86400.0, every_s=600.0)],
                                    description="downsampling with age, finer first")
    max_age_s: float = Field(90 * 86400.0, gt=0, description="diagnoses, roll-ups, dropped-window rows and snapshots older than this go")
    alarm_raw_max_age_s: float = Field(365 * 86400.0, gt=0, description="alarm clips older than this go")
    max_bytes: float = Field(4 * 2**30, gt=0, description="the store's size at most: beyond it the oldest snapshots go first, then "
                             "dropped-window rows, roll-ups, diagnoses, and alarm clips last")
    batch_rows: int = Field(5000, gt=0, description="rows per retention transaction at most (short: ingestion never waits long)")

    @model_validator(mode="after")
    def _tiers(self) -> "RetentionConfig":
        for i, (a, b) in enumerate(zip(self.tiers, self.tiers[1:])):
            if not (b.after_s > a.after_s and b.every_s > a.every_s and (b.every_s / a.every_s) % 1 == 0):
                raise ValueError(f"retention.tiers.{i + 1}: after_s and every_s must grow from tier {i}, every_s by a whole multiple")
        if self.tiers and self.tiers[-1].after_s >= self.max_age_s:
            raise ValueError(f"retention.max_age_s {self.max_age_s:g} must exceed the last tier's after_s {self.tiers[-1].after_s:g}")
        return self


class ServeConfig(StrictModel):
    """Defaults: an ONNX export (no PyTorch in the process), a broker on localhost, SQLite in WAL mode, one diagnosis
    per sensor per second, a queue of 256 windows that drops the oldest under overload (every drop counted)."""

    profile: str = "custom"
    role: Literal["edge", "cloud"] = Field("edge", description="edge: diagnose the sensors; cloud: receive head packages over HTTP")
    run_recipe: Path | None = Field(None, description="cloud role: the cloud model's run recipe (its OUTPUT_DIR holds the head registry)")
    checkpoint: Path = Field(Path("runs/cloud-cpu/edge-onnx"), description="ONNX export (default) or a PyTorch cloud/edge checkpoint")
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field("syndiag", pattern=r"^[A-Za-z0-9_-]+$")
    client_id: str = Field("syndiag-serve", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                           description="the MQTT session (persistent): unique per serve process; a restart with the same id gets what it missed")
    share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="MQTT 5 shared subscription $share/<group>/...: several serve processes split the "
                                                "payloads; each payload must then hold whole windows (every_s of signal and more)")
    sensors: dict[str, SensorDeclaration] = Field(default_factory=dict, description="site/machine/sensor -> rate and kind "
                                                  "(else from the retained message on <prefix>/<site>/<machine>/<sensor>/config)")
    database_url: str = Field("sqlite:///runs/service/diagnoses.db", description="SQLAlchemy URL (sqlite:///... or postgresql://...)")
    every_s: float = Field(1.0, gt=0, description="one diagnosis per sensor every this many seconds of signal")
    queue_size: int = Field(256, ge=1, description="windows waiting for the model at most")
    overload: Literal["drop-oldest", "drop-newest"] = Field("drop-oldest", description="which window a full queue drops (counted)")
    micro_batch: int = Field(16, ge=1, description="windows classified together")
    model_threads: int | None = Field(1, ge=1, description="CPU threads of the model (None: all cores); one, since the service shares "
                                      "the cores with the broker and ingestion and mostly classifies a few windows at a time "
                                      "(docs/service.md \"Load\")")
    store_retries: int = Field(3, ge=0, description="retries of a failing database write before its diagnoses are counted as dropped")
    buffer_s: float = Field(4.0, gt=0, description="seconds of signal kept per sensor")
    sensor_wait_s: float = Field(1.0, ge=0, description="a sensor of several channels: how long (signal seconds of its furthest "
                                 "channel) a window waits for a late channel before it is cut without it")
    max_payload_samples: int = Field(65536, ge=1, description="larger payloads are refused (counted); their byte size is checked first")
    min_fs: float = Field(100.0, gt=0, description="payloads and declarations at a lower sampling rate are refused (counted)")
    max_fs: float = Field(100_000.0, gt=0, description="payloads and declarations at a higher sampling rate are refused (counted)")
    max_t0: float = Field(7.3e9, gt=0, description="payloads starting later than this (Unix seconds; default: the year 2201) are refused")
    max_abs_sample: float = Field(1e6, gt=0, description="payloads with a larger sample magnitude are refused (counted)")
    max_sensors: int = Field(1000, ge=1, description="payloads of a new sensor beyond this many are refused (counted)")
    max_buffer_mb: float = Field(512.0, gt=0, description="the sensors' ring buffers together at most (MiB); a new sensor beyond it is refused")
    flush_s: float = Field(0.1, gt=0, le=5, description="the fates of dropped windows and the counters are stored at least this often")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    health: HealthConfig = Field(default_factory=HealthConfig, description="machine health states")
    alarms: AlarmConfig = Field(default_factory=AlarmConfig, description="alarm delivery and acknowledgement")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="what is kept, how long, how much")

    @model_validator(mode="after")
    def _rates_in_range(self) -> "ServeConfig":
        if self.min_fs >= self.max_fs:
            raise ValueError(f"min_fs {self.min_fs:g} must be below max_fs {self.max_fs:g}")
        topics: dict[str, str] = {}
        for name, declared in self.sensors.items():
            if declared.fs is not None and not self.min_fs <= declared.fs <= self.max_fs:
                raise ValueError(f"sensors.{name}.fs {declared.fs:g} Hz outside min_fs .. max_fs ({self.min_fs:g} .. {self.max_fs:g} Hz)")
            for channel, feed in declared.channels.items():
                where = f"sensors.{name}.channels.{channel}"
                low = self.min_fs if feed.kind == "vibration" else 0.0  # a slow quantity (speed, temperature) may be sampled slowly
                if not low <= feed.fs <= self.max_fs:
                    raise ValueError(f"{where}.fs {feed.fs:g} Hz outside {low:g} .. max_fs ({self.max_fs:g} Hz) for a {feed.kind} channel")
                if feed.topic in topics or feed.topic in self.sensors:
                    raise ValueError(f"{where}.topic {feed.topic!r} already carries {topics.get(feed.topic, 'a sensor of its own')}")
                topics[feed.topic] = where
        kept = self.retention
        if kept.enabled and (kept.raw_before_s + kept.raw_after_s > self.buffer_s or kept.snapshot_s > self.buffer_s):
            raise ValueError(f"retention.raw_before_s + raw_after_s ({kept.raw_before_s + kept.raw_after_s:g} s) and retention.snapshot_s "
                             f"({kept.snapshot_s:g} s) must fit in buffer_s {self.buffer_s:g} s, the ring buffer they are cut from")
        if self.sensor_wait_s + self.every_s > self.buffer_s:
            raise ValueError(f"sensor_wait_s {self.sensor_wait_s:g} + every_s {self.every_s:g} must fit in buffer_s {self.buffer_s:g}")
        return self
