"""The typed, versioned description every saved artefact carries (like transformers' ``AutoConfig``): one ``model`` kind
key from :data:`KINDS`, ``format_version``, the class names and their hash where it has classes, the sha256 of its
weights or content and the commit that wrote it. A model folder's ``config.json`` (checkpoint or ONNX export) is read
once by :func:`read_meta` into :class:`CheckpointMeta`; the other artefacts (RUL checkpoints, open-set thresholds, head
packages) check their kind and version with :func:`check_kind` and their fields with :func:`validated`, each naming the
file and the field of anything that does not validate. Torch-free: the ONNX runtime path reads it too."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from syndiag.errors import ConfigError, SyndiagError
from syndiag.commit import current_commit

CONFIG = "config.json"
ONNX_MODEL = "model.onnx"
WEIGHTS = "model.safetensors"
KINDS = {
    "syndiag-cloud": "a Syn-Diag cloud checkpoint or its ONNX export (written by `syndiag finetune`, `syndiag export`)",
    "syndiag-edge": "a Syn-Diag edge checkpoint or its ONNX export (written by `syndiag distill`, `syndiag export`)",
    "syndiag-sensor": "a sensor-model checkpoint (written by `syndiag sensor finetune`)",
    "syndiag-rul": "a RUL checkpoint (written by `syndiag rul fit`, read by `syndiag rul predict`)",
    "syndiag-openset": "an open-set threshold file (written by `syndiag openset calibrate`, read beside its checkpoint)",
    "syndiag-head": "a classification-head package (written by `syndiag head export` and the online update)",
}
"""Every kind of saved artefact, by its ``model`` key: what it is and the command that writes it."""
MODEL_KINDS = ("syndiag-cloud", "syndiag-edge", "syndiag-sensor")
ModelKind = Literal["syndiag-cloud", "syndiag-edge", "syndiag-sensor"]
FORMAT_VERSION = 1
"""The layout of the descriptions this code reads; an artefact that records another is refused with the way to remake it."""


PROVENANCE = ("model", "format_version", "commit")
"""The keys :func:`provenance` writes."""


def provenance(kind: str) -> dict[str, Any]:
    """The fields every newly written description starts with: its kind, the format version and the commit writing it."""
    if kind not in KINDS:
        raise ValueError(f"{kind!r} is not a kind of artefact (known: {', '.join(KINDS)})")
    return {"model": kind, "format_version": FORMAT_VERSION, "commit": current_commit()}


def check_kind(path: Path, raw: Any, kinds: tuple[str, ...], remake: str, error: type[SyndiagError] = ConfigError) -> dict[str, Any]:
    """``raw`` (the parsed JSON of ``path``) as a description of one of ``kinds`` in this format version, else ``error``
    naming the file, the field and ``remake`` (the command that writes the artefact again)."""
    if not isinstance(raw, dict):
        raise error(f"{path}: not a syndiag description (a JSON object), found {type(raw).__name__}")
    kind = raw.get("model")
    if kind is None:
        raise error(f"{path}: records no 'model' kind: written by a syndiag older than versioned descriptions "
                    f"(format_version {FORMAT_VERSION}); make it again with `{remake}`")
    if kind not in kinds:
        found = KINDS.get(kind, "no kind syndiag knows") if isinstance(kind, str) else "not a kind name"
        raise error(f"{path}: model {str(kind)[:60]!r} ({found}) is not {' or '.join(map(repr, kinds))}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise error(f"{path}: format_version {repr(raw.get('format_version'))[:40]}: this syndiag reads version {FORMAT_VERSION}; "
                    f"make it again with `{remake}`")
    return raw


def field_name(loc: tuple[Any, ...]) -> str:
    """A validation error's location as ``a.b.c``, each part cut short and escaped (keys may come from untrusted JSON)."""
    return ".".join(str(part)[:40].encode("ascii", "backslashreplace").decode("ascii") for part in loc)


def validated(path: Path | str, raw: Any, schema: type[BaseModel], what: str, error: type[SyndiagError] = ConfigError, limit: int = 6):
    """``raw`` as ``schema``, or ``error`` naming ``path``, ``what`` it is and every field at fault (never echoing untrusted values)."""
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{field_name(e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:limit]]
        more = f" (and {exc.error_count() - limit} more)" if exc.error_count() > limit else ""
        raise error(f"{path}: invalid {what}: " + "; ".join(problems) + more) from None


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

    @model_validator(mode="before")
    @classmethod
    def _recorded_class_hash(cls, raw: Any) -> Any:
        """A recorded ``class_hash`` must be the hash of the class names it sits beside; it is derived, not kept."""
        if isinstance(raw, dict) and "class_hash" in raw:
            raw = dict(raw)
            recorded = raw.pop("class_hash")
            names = raw.get("class_names")
            if isinstance(names, list) and all(isinstance(n, str) for n in names) and recorded != class_hash(names):
                raise ValueError(f"class_hash {str(recorded)[:20]!r} is not the hash of its class_names ({class_hash(names)})")
        return raw

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
        return {**self.model_dump(mode="json", exclude_none=True), "class_hash": self.class_hash}


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
        found = KINDS.get(raw.get("model"), "no kind syndiag knows") if isinstance(raw.get("model"), str) else "no kind"
        raise ConfigError(f"{folder}: model {raw.get('model')!r} in {path} ({found}) is none of {', '.join(MODEL_KINDS)}")
    return validated(path, raw, CheckpointMeta, "model description", limit=20)
