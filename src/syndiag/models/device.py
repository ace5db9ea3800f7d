"""Where a model runs: a recipe's ``device`` and ``dtype`` resolved, applied to a model in one call, and checked."""

from __future__ import annotations

import contextlib
import os

import torch
from torch import nn

from syndiag.config.runtime import RuntimeConfig, check_device
from syndiag.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` is cuda (this rank's GPU under a launcher), then mps, then cpu; an unknown device, or one this machine lacks, is a ConfigError naming it."""
    try:
        check_device(name)
    except ValueError as exc:
        raise ConfigError(f"device: {exc}") from None
    if name == "auto":
        if torch.cuda.is_available():
            local = os.environ.get("LOCAL_RANK")
            return torch.device(f"cuda:{int(local) % torch.cuda.device_count()}" if local else "cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use device: cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: MPS is not available on this machine; use device: cpu or auto")
    return device


def place(model: nn.Module, runtime: RuntimeConfig | str | torch.device, dtype: str = "float32") -> nn.Module:
    """Move every parameter and buffer of ``model`` to the runtime's device; its dtype becomes the autocast dtype (weights stay float32).

    ``runtime`` is a recipe or its runtime settings; a bare device (with ``dtype``) remains for callers that hold no recipe.
    """
    if isinstance(runtime, RuntimeConfig):
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        runtime, dtype = runtime.device, runtime.dtype
    target = runtime if isinstance(runtime, torch.device) else resolve_device(runtime)
    if dtype not in DTYPES:
        raise ConfigError(f"dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    model.to(target)
    model.compute_dtype = dtype
    check_placement(model, target)
    return model


def model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def check_placement(model: nn.Module, device: torch.device) -> None:
    """Every parameter and buffer on ``device``; the first stray one is named."""
    for kind, items in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, tensor in items:
            if tensor.device.type != device.type or (device.index is not None and tensor.device.index != device.index):
                raise RuntimeError(f"{kind} {name} is on {tensor.device}, the model should be on {device}")


def autocast(model: nn.Module):
    """Mixed precision for the model's forward pass when its ``compute_dtype`` is not float32; a no-op otherwise."""
    dtype = getattr(model, "compute_dtype", "float32")
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(model_device(model).type, dtype=DTYPES[dtype])
