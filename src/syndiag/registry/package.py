"""Head packages on disk, read as untrusted input: bounded reads, a typed ``head.json``, a checked safetensors header.

A package is a folder of ``head.safetensors`` (float32 ``weight`` and ``bias``), ``head.json`` (:class:`HeadMeta`, a
versioned description of kind ``syndiag-head`` with the sha256 of the weights, see :mod:`syndiag.models.meta`) and, when
signed, ``signature.json`` (:mod:`syndiag.registry.signing`). Every read is size-bounded before anything
is parsed, every field is validated, and every problem is a :class:`~syndiag.errors.DataError` naming the file and
the field: a loader fed arbitrary bytes raises nothing else (``tests/test_registry_fuzz.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from syndiag.atomic import atomic_folder
from syndiag.errors import DataError
from syndiag.models.meta import check_kind, provenance, validated

HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"
SIGNATURE = "signature.json"
KIND = "syndiag-head"
REMAKE = "syndiag head export"

VERSION_PATTERN = r"^v\d{4,15}$"
MAX_META_BYTES = 64 * 1024
MAX_SIGNATURE_BYTES = 4 * 1024
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024
MAX_METRICS = 32

Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
ShortKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def class_list_hash(class_names: list[str], prompts: list[str]) -> str:
    """Identity of a label space: class order and descriptions."""
    return hashlib.sha256(json.dumps([class_names, prompts]).encode()).hexdigest()[:16]


class HeadMeta(BaseModel):
    """``head.json``: what the cloud needs to judge a head. Strict types, unknown keys refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    model: Literal["syndiag-head"]
    format_version: Literal[1]
    commit: Annotated[str, StringConstraints(max_length=80)]
    weights_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    version: Version
    parent_version: Version | None
    class_names: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(min_length=1, max_length=1000)
    class_list_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
    backbones: dict[ShortKey, Annotated[str, StringConstraints(max_length=512)]] = Field(max_length=8)
    in_features: int = Field(ge=1, le=1 << 20)
    n_classes: int = Field(ge=1, le=1000)
    metrics: dict[ShortKey, Finite] = Field(max_length=MAX_METRICS)
    utc: Annotated[str, StringConstraints(max_length=40)]

    @field_validator("utc")
    @classmethod
    def _aware_iso_time(cls, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not an ISO-8601 time") from None
        if moment.tzinfo is None:
            raise ValueError("an ISO-8601 time with its UTC offset")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "HeadMeta":
        if len(self.class_names) != self.n_classes:
            raise ValueError(f"n_classes is {self.n_classes} but class_names has {len(self.class_names)} names")
        if self.parent_version == self.version:
            raise ValueError("a head cannot be its own parent")
        return self


def validated_meta(raw: Any, where: str) -> HeadMeta:
    """``raw`` (parsed JSON) as :class:`HeadMeta`, or a DataError naming the fields at fault (never echoing their values);
    a head.json of no kind or of another format version is refused with the command that writes one."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: head.json must hold a JSON object, found {type(raw).__name__}")
    check_kind(Path(where), raw, (KIND,), REMAKE, DataError)
    return validated(where, raw, HeadMeta, "head.json", DataError)


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, where: str) -> Any:
    """Strict JSON from bytes (UTF-8, no NaN/Infinity, bounded nesting), or a DataError."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{where}: not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None


def read_bounded(path: Path, limit: int, *, required: bool = True) -> bytes | None:
    """The bytes of the regular file ``path`` (no symlink), refused before reading when larger than ``limit``."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if required:
            raise DataError(f"{path.parent}: not a head package ({path.name} missing)") from None
        return None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: not a regular file (symlinks and devices are refused)")
    if info.st_size > limit:
        raise DataError(f"{path}: {info.st_size} bytes, more than the {limit} a head package allows")
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > limit:
        raise DataError(f"{path}: more than the {limit} bytes a head package allows")
    return data


def decode_weights(data: bytes, where: str) -> dict[str, torch.Tensor]:
    """``weight`` and ``bias`` from safetensors bytes, after checking the header: names, dtype float32 exactly, shapes, offsets."""
    if len(data) < 8:
        raise DataError(f"{where}: corrupt head package (head.safetensors is {len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(len(data) - 8, MAX_META_BYTES):
        raise DataError(f"{where}: corrupt head package (safetensors header of {size} bytes in a {len(data)}-byte file)")
    try:
        header = parse_json(data[8 : 8 + size], "header")
    except DataError as exc:
        raise DataError(f"{where}: corrupt head package (safetensors {exc})") from None
    if not isinstance(header, dict):
        raise DataError(f"{where}: corrupt head package (safetensors header is not an object)")
    names = sorted(k for k in header if k != "__metadata__")
    if names != ["bias", "weight"]:
        raise DataError(f"{where}: a head package holds exactly 'weight' and 'bias', found {names[:8]}")
    payload = len(data) - 8 - size
    for name, rank in (("weight", 2), ("bias", 1)):
        entry = header[name]
        if not isinstance(entry, dict):
            raise DataError(f"{where}: corrupt head package ({name!r} header is not an object)")
        if entry.get("dtype") != "F32":
            raise DataError(f"{where}: dtype check failed: {name!r} is {str(entry.get('dtype'))[:16]!r}, a head's weights are float32 ('F32') exactly")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and len(shape) == rank and all(type(n) is int and 1 <= n <= 1 << 20 for n in shape)):
            raise DataError(f"{where}: shape check failed: {name!r} must have {rank} positive dimension(s), found {str(shape)[:60]}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
                and 0 <= offsets[0] <= offsets[1] <= payload and offsets[1] - offsets[0] == 4 * math.prod(shape)):
            raise DataError(f"{where}: corrupt head package ({name!r} data offsets do not match its shape and the file)")
    try:
        tensors = load_tensors(data)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 -- untrusted bytes; a Rust panic surfaces as a BaseException
        raise DataError(f"{where}: corrupt head package ({type(exc).__name__}: {str(exc)[:200]})") from None
    return {name: tensors[name] for name in ("weight", "bias")}


def head_bytes(weight: torch.Tensor, bias: torch.Tensor) -> bytes:
    """``head.safetensors`` of a head (the same bytes for the same tensors, so its digest is known before writing)."""
    return save_tensors({"weight": weight.detach().contiguous(), "bias": bias.detach().contiguous()})


@dataclass(frozen=True)
class PackageFiles:
    """The raw bytes of a package: what is signed, verified, parsed and kept by the registry, read once."""

    meta: bytes
    weights: bytes
    signature: bytes | None = None

    @classmethod
    def read(cls, folder: Path) -> "PackageFiles":
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"{folder}: not a head package (no such folder)")
        meta = read_bounded(folder / HEAD_META, MAX_META_BYTES)
        weights = read_bounded(folder / HEAD_WEIGHTS, MAX_WEIGHTS_BYTES)
        signature = read_bounded(folder / SIGNATURE, MAX_SIGNATURE_BYTES, required=False)
        return cls(meta, weights, signature)  # type: ignore[arg-type]

    def write(self, folder: Path, *, replace: bool = False) -> Path:
        """Write the files as one atomic folder; without ``replace`` an existing folder is never overwritten."""
        folder = Path(folder)
        if not replace and folder.exists():
            raise DataError(f"{folder} exists already; head packages are never overwritten")
        try:
            with atomic_folder(folder, replace=replace) as staging:
                (staging / HEAD_META).write_bytes(self.meta)
                (staging / HEAD_WEIGHTS).write_bytes(self.weights)
                if self.signature is not None:
                    (staging / SIGNATURE).write_bytes(self.signature)
        except FileExistsError:
            raise DataError(f"{folder} exists already; head packages are never overwritten") from None
        return folder


@dataclass
class HeadPackage:
    """A classification head and what the cloud needs to judge it; ``files`` are the bytes it was read from (or will be written as)."""

    weight: torch.Tensor
    bias: torch.Tensor
    meta: dict[str, Any]
    files: PackageFiles | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_head(cls, head: torch.nn.Linear, *, version: str, parent: str | None, class_names: list[str], prompts: list[str],
                  backbones: dict[str, str], metrics: dict[str, float]) -> "HeadPackage":
        weights = head_bytes(head.weight, head.bias)
        meta = {
            **provenance(KIND),
            "weights_sha256": hashlib.sha256(weights).hexdigest(),
            "version": version,
            "parent_version": parent,
            "class_names": list(class_names),
            "class_list_hash": class_list_hash(class_names, prompts),
            "backbones": dict(backbones),
            "in_features": head.in_features,
            "n_classes": head.out_features,
            "metrics": dict(metrics),
            "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return cls(head.weight.detach().clone(), head.bias.detach().clone(), meta)

    def to_files(self) -> PackageFiles:
        """The bytes this package is (or was read from): head.json, head.safetensors and, when signed, signature.json."""
        if self.files is not None:
            return self.files
        weights = head_bytes(self.weight, self.bias)
        return PackageFiles(json.dumps(self.meta, indent=1).encode("utf-8"), weights)

    def save(self, folder: Path, *, replace: bool = False) -> Path:
        return self.to_files().write(Path(folder), replace=replace)

    @classmethod
    def from_files(cls, files: PackageFiles, where: str = "head package") -> "HeadPackage":
        """Parse and validate bytes already read (and, for a signed package, already verified)."""
        meta = validated_meta(parse_json(files.meta, f"{where}/{HEAD_META}"), f"{where}/{HEAD_META}")
        tensors = decode_weights(files.weights, where)
        expected = {"weight": (meta.n_classes, meta.in_features), "bias": (meta.n_classes,)}
        for name, shape in expected.items():
            if tuple(tensors[name].shape) != shape:
                raise DataError(f"{where}: shape check failed: {name!r} is {tuple(tensors[name].shape)}, head.json says {shape}")
        if hashlib.sha256(files.weights).hexdigest() != meta.weights_sha256:
            raise DataError(f"{where}/{HEAD_WEIGHTS}: its sha256 does not match the weights_sha256 recorded in {HEAD_META}: "
                            "the weights were changed after the package was made")
        return cls(tensors["weight"], tensors["bias"], meta.model_dump(mode="json"), files)

    @classmethod
    def load(cls, folder: Path) -> "HeadPackage":
        """Read a package without checking any signature (the registry's own versions, or a trusted caller)."""
        return cls.from_files(PackageFiles.read(folder), str(folder))
