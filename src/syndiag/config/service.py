"""The live service recipe (issue 18): the model, the MQTT broker and topics, the sensors' declared rates, the store,
the queue and what happens under overload."""

from __future__ import annotations

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

    @model_validator(mode="after")
    def _rates_in_range(self) -> "ServeConfig":
        if self.min_fs >= self.max_fs:
            raise ValueError(f"min_fs {self.min_fs:g} must be below max_fs {self.max_fs:g}")
        for name, declared in self.sensors.items():
            if not self.min_fs <= declared.fs <= self.max_fs:
                raise ValueError(f"sensors.{name}.fs {declared.fs:g} Hz outside min_fs .. max_fs ({self.min_fs:g} .. {self.max_fs:g} Hz)")
        return self
