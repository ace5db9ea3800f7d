"""The live service recipe (issue 18): the model, the MQTT broker and topics, the sensors' declared rates, the store,
the queue and what happens under overload; the health states and the alarms (issue 33)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel


class SensorDeclaration(StrictModel):
    """A sensor's sampling rate and channel kind, declared once (here, or in a retained config message)."""

    fs: float = Field(gt=0)
    kind: Literal["vibration"] = "vibration"
    bearing: str | None = Field(None, description="the bearing its live report reads the evidence for (a shipped name or a YAML file; "
                                "default cwru-drive-end)")
    rpm: float | None = Field(None, gt=0, description="shaft speed for its live report (default 1797)")
    unit: Literal["g", "m/s2"] = Field("g", description="the unit of its acceleration samples (for the ISO zone's RMS velocity)")
    machine_group: str | None = Field(None, description="its ISO 20816 machine group (physics/iso_zones.yaml; default health.machine_group)")


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
    raise_windows: int = Field(3, ge=1, description="windows in a row reading above the state before it rises (minimum duration)")
    clear_windows: int = Field(10, ge=1, description="windows in a row reading below the state (with the clearing thresholds) before it falls")
    clear_ratio: float = Field(0.8, gt=0, le=1, description="hysteresis: the clearing thresholds are the raising ones times this")


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
    store_retries: int = Field(3, ge=0, description="retries of a failing database write before its diagnoses are counted as dropped")
    buffer_s: float = Field(4.0, gt=0, description="seconds of signal kept per sensor")
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

    @model_validator(mode="after")
    def _rates_in_range(self) -> "ServeConfig":
        if self.min_fs >= self.max_fs:
            raise ValueError(f"min_fs {self.min_fs:g} must be below max_fs {self.max_fs:g}")
        for name, declared in self.sensors.items():
            if not self.min_fs <= declared.fs <= self.max_fs:
                raise ValueError(f"sensors.{name}.fs {declared.fs:g} Hz outside min_fs .. max_fs ({self.min_fs:g} .. {self.max_fs:g} Hz)")
        return self
