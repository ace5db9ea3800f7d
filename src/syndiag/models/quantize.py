"""Dynamic int8 quantisation of the frozen language model (issue 19): its linear layers that no adapter wraps hold int8
weights and quantise their inputs on the fly (CPU inference and feature caching); LoRA's layers and everything trained
stay float32."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from syndiag.errors import ConfigError


def frozen_linear_names(lm: nn.Module) -> set[str]:
    """Qualified names of the plain, frozen ``nn.Linear`` layers of ``lm`` outside any LoRA wrapper."""
    wrapped = {name for name, module in lm.named_modules() if hasattr(module, "base_layer")}
    return {name for name, module in lm.named_modules()
            if type(module) is nn.Linear and not any(p.requires_grad for p in module.parameters())
            and "lora_" not in name and not any(name == f"{w}.base_layer" or name.startswith(f"{w}.") for w in wrapped)}


def int8_language_model(model: nn.Module, per_channel: bool = True) -> int:
    """Quantise ``model.lm``'s frozen linear layers in place (dynamic int8, one scale per output channel or, with
    ``per_channel=False``, per tensor; CPU only); returns how many."""
    lm = getattr(model, "lm", None)
    if lm is None:
        raise ConfigError(f"{type(model).__name__} has no language model to quantise")
    if any(p.device.type != "cpu" for p in lm.parameters()):
        raise ConfigError("int8 quantisation of the language model runs on the CPU only (device: cpu)")
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    names = frozen_linear_names(base)
    if names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notice (torchao is its successor)
            from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

            qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
            quantize_dynamic(base, qconfig_spec={name: qconfig for name in names}, dtype=torch.qint8, inplace=True)
    return len(names)
