"""Where and in which precision models run: the device and dtype settings every stage honours."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from syndiag.config.base import StrictModel

DType = Literal["float32", "bfloat16", "float16"]
DEVICE_KINDS = ("auto", "cpu", "cuda", "mps", "meta")


class RuntimeConfig(StrictModel):
    """Device (auto | cpu | cuda | cuda:N | mps | meta), dtype of the frozen backbone, and CPU threads."""

    device: str = "auto"
    dtype: DType = "float32"
    threads: int | None = Field(None, ge=1)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        kind, _, index = value.partition(":")
        if kind not in DEVICE_KINDS or (index and (kind != "cuda" or not index.isdigit())):
            raise ValueError(f"unknown device {value!r}; use one of auto, cpu, cuda, cuda:N, mps")
        return value


class ScalingConfig(StrictModel):
    """How a training stage scales: gradient accumulation, gradient checkpointing, the data-parallel strategy, resumable epochs.

    The number of processes is not a setting: it comes from the launcher (``torchrun`` / ``accelerate launch``).
    Mixed precision is ``dtype`` (autocast in the models' forward pass; float16 adds loss scaling).
    """

    grad_accumulation: int = Field(1, ge=1, description="micro-batches per optimizer step; the batch size stays the global batch")
    gradient_checkpointing: bool = Field(False, description="recompute the frozen language model's activations in the backward pass")
    strategy: Literal["ddp", "fsdp"] = Field("ddp", description="ddp: every rank holds the model; fsdp: the frozen language model's layers sharded across ranks")
    resumable: bool = Field(False, description="save the training state after every epoch under output_dir/train-state and resume from it")
