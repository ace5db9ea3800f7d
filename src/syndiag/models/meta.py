"""The typed description every model folder carries in ``config.json`` (like transformers' ``AutoConfig``): one
``model`` kind key, the class names and their hash, what the model needs as input (channels, their rates, the window
length), the data settings, the weights' sha256 and how it was made. Read once by :func:`read_meta`, which names the
folder and the field of anything that does not validate. Torch-free: the ONNX runtime path reads it too."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from syndiag.errors import ConfigError

CONFIG = "config.json"
ONNX_MODEL = "model.onnx"
WEIGHTS = "model.safetensors"
MODEL_KINDS = ("syndiag-cloud", "syndiag-edge", "syndiag-sensor")
ModelKind = Literal["syndiag-cloud", "syndiag-edge", "syndiag-sensor"]
FORMAT_VERSION = 1
"""The layout of ``config.json`` this code reads; a folder that records another is refused with the way to convert it."""


def class_hash(class_names: list[str]) -> str:
    """A short digest of the class names in their order: two models answer in the same terms when these agree."""
    return hashlib.sha256("\n".join(class_names).encode()).hexdigest()[:16]


class ChannelNeed(BaseModel):
    """One input channel: its name, kind, sampling rate and the samples of one window."""

    model_config = ConfigDict(frozen=True)
    name: str
    kind: str = "vibration"
    fs: float = Field(gt=0)
    length: int = Field(gt=0)


class Needs(BaseModel):
    """What a predictor reads: its channels in order (each with its rate and window length)."""

    model_config = ConfigDict(frozen=True)
    channels: list[ChannelNeed]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.channels]

    def describe(self) -> str:
        return ", ".join(f"{c.name} ({c.kind}, {c.fs:g} Hz)" for c in self.channels)


class CheckpointMeta(BaseModel):
    """A model folder's ``config.json``; fields this type does not name are kept as they are (``extra``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    format_version: int = FORMAT_VERSION
    model: ModelKind
    class_names: list[str] = Field(min_length=2)
    prompts: list[str]
    fs: float = Field(gt=0)
    data: dict[str, Any]
    channels: list[str] = Field(default_factory=list)
    layout: list[dict[str, Any]] | None = None
    sha256: dict[str, str] | None = None
    image_size: int | None = Field(None, gt=0)
    teacher_checkpoint: str | None = None
    commit: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CheckpointMeta:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version}: this syndiag reads version {FORMAT_VERSION}")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names repeat a name: {self.class_names}")
        if len(self.prompts) != len(self.class_names):
            raise ValueError(f"{len(self.class_names)} class_names but {len(self.prompts)} prompts")
        if not math.isfinite(self.fs):
            raise ValueError(f"fs {self.fs} is not finite")
        if self.model == "syndiag-sensor" and not self.layout:
            raise ValueError("a syndiag-sensor model needs its layout")
        if self.model != "syndiag-sensor" and not self.channels:
            raise ValueError(f"a {self.model} model needs its channels")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels repeat a name: {self.channels}")
        return self

    @property
    def class_hash(self) -> str:
        return class_hash(self.class_names)

    @property
    def window_length(self) -> int:
        return int(self.data.get("window", {}).get("length", 0))

    @property
    def needs(self) -> Needs:
        if self.layout:
            return Needs(channels=[ChannelNeed(name=c["name"], kind=c.get("kind", "vibration"), fs=c["fs"], length=c["length"])
                                   for c in self.layout])
        return Needs(channels=[ChannelNeed(name=name, fs=self.fs, length=self.window_length) for name in self.channels])

    def extra(self, key: str, default: Any = None) -> Any:
        """A field this type does not name (``task``, ``metrics``, ``config`` ...)."""
        return (self.model_extra or {}).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def is_onnx(folder: str | Path) -> bool:
    return (Path(folder) / ONNX_MODEL).is_file()


def read_meta(folder: str | Path) -> CheckpointMeta:
    """The checked description of a model folder (checkpoint or ONNX export); a ConfigError names the folder and field."""
    folder = Path(folder)
    path = folder / CONFIG
    weights = ONNX_MODEL if is_onnx(folder) else WEIGHTS
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such model folder")
    if not path.is_file() or not (folder / weights).is_file():
        raise ConfigError(f"{folder}: not a syndiag model folder (needs {CONFIG} and {WEIGHTS} or {ONNX_MODEL})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable model config ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: corrupt model config (not a JSON object)")
    if raw.get("model") not in MODEL_KINDS:
        raise ConfigError(f"{folder}: model {raw.get('model')!r} in {path} is none of {', '.join(MODEL_KINDS)} "
                          "(a RUL checkpoint is read by `syndiag rul predict`)")
    try:
        return CheckpointMeta.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: invalid model description: {problems}") from None
