"""How a recipe runs, not what it computes: device, dtype, threads, scaling and where it writes, shared by every recipe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from syndiag.config.base import StrictModel
from syndiag.config.data import DataConfig

DType = Literal["float32", "bfloat16", "float16"]
DEVICES = "auto, cpu, cuda, cuda:N, mps"


def check_device(value: str) -> str:
    """``value`` when it names a device syndiag runs on; a ValueError naming the accepted values otherwise."""
    kind, _, index = value.partition(":")
    if kind not in {"auto", "cpu", "cuda", "mps"} or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"unknown device {value!r}; use one of {DEVICES}")
    return value


Device = Annotated[str, AfterValidator(check_device)]


class ScalingConfig(StrictModel):
    """How a training stage scales: gradient accumulation, gradient checkpointing, the data-parallel strategy, resumable epochs.

    The number of processes is not a setting: it comes from the launcher (``torchrun`` / ``accelerate launch``).
    Mixed precision is ``dtype`` (autocast in the models' forward pass; float16 adds loss scaling).
    """

    grad_accumulation: int = Field(1, ge=1, description="micro-batches per optimizer step; the batch size stays the global batch")
    gradient_checkpointing: bool = Field(False, description="recompute the frozen language model's activations in the backward pass")
    strategy: Literal["ddp", "fsdp"] = Field("ddp", description="ddp: every rank holds the model; fsdp: the frozen language model's layers sharded across ranks")
    resumable: bool = Field(False, description="save the training state after every epoch under output_dir/train-state and resume from it")


class RuntimeConfig(StrictModel):
    """Where and in which precision models run, with how many threads, how training scales, and where results go."""

    device: Device = Field("auto", description="auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    dtype: DType = Field("float32", description="dtype of the frozen language model: float32 | bfloat16 | float16")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all cores)")
    scaling: ScalingConfig = ScalingConfig()
    output_dir: Path = Path("runs")
    results_file: Path = Path("runs/results.jsonl")


class RecipeConfig(RuntimeConfig):
    """What every training recipe holds besides its runtime: a profile label, the seed, the data; and one config hash."""

    profile: str = "custom"
    seed: int = Field(0, ge=0)
    data: DataConfig = DataConfig()

    # Settings that do not change the numbers: never hashed.
    HASH_IGNORES: ClassVar[frozenset[str]] = frozenset({"device", "threads", "scaling", "output_dir", "results_file"})
    # Settings added after results were recorded (dotted names reach into sections): hashed only away from the value
    # those results had, so their hashes stay.
    HASH_ADDED_LATER: ClassVar[dict[str, object]] = {}

    def config_hash(self) -> str:
        """Hash of what decides the numbers (every setting but ``HASH_IGNORES``; ``HASH_ADDED_LATER`` ones only when changed)."""
        material = without_later_defaults(self.model_dump(mode="json", exclude=set(self.HASH_IGNORES)), self.HASH_ADDED_LATER)
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]


def without_later_defaults(material: dict, added_later: dict[str, object]) -> dict:
    """``material`` (a dumped config, changed in place) less the settings of ``added_later`` (dotted names reach into
    sections) that hold the value results recorded before they existed had: hashes of those results stay."""
    for name, value in added_later.items():
        *sections, key = name.split(".")
        holder = material
        for section in sections:
            holder = holder.get(section) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and key in holder and holder[key] == value:
            del holder[key]
    return material
