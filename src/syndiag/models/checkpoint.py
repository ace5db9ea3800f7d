"""Checkpoint folders: ``config.json`` + ``model.safetensors`` of the trained parts only, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from syndiag.atomic import atomic_folder
from syndiag.errors import ConfigError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def write_checkpoint(folder: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """``config.json`` + ``model.safetensors`` in ``folder``, written atomically."""
    with atomic_folder(folder) as staging:
        save_file(tensors, str(staging / WEIGHTS))
        (staging / CONFIG).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return Path(folder)


def read_checkpoint_meta(folder: Path, kind: str) -> dict:
    path = folder / CONFIG
    if not path.is_file() or not (folder / WEIGHTS).is_file():
        raise ConfigError(f"{folder}: not a syndiag checkpoint (needs {CONFIG} and {WEIGHTS})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: corrupt checkpoint config ({exc})") from None
    if meta.get("model") != kind:
        raise ConfigError(f"{folder}: a {meta.get('model')!r} checkpoint, expected {kind!r}")
    return meta


def load_trained(model: nn.Module, folder: Path) -> None:
    """Load the trained tensors of ``folder`` into ``model``; every tensor must match in name and shape."""
    try:
        state = load_file(str(folder / WEIGHTS))
    except Exception as exc:
        raise ConfigError(f"{folder / WEIGHTS}: unreadable weights ({exc})") from None
    expected = model.trainable_state()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ConfigError(f"{folder}: weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    model.load_state_dict(state, strict=False)
