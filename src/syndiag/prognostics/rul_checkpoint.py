"""A fitted RUL model as a ``save_pretrained`` folder: ``config.json`` (family, settings, interval residuals, how it was
chosen) and ``model.safetensors`` (its fitted numbers). Written atomically; a folder of anything else is refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from syndiag.atomic import atomic_folder
from syndiag.errors import DataError
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_models import RulModel, build_model

CONFIG, WEIGHTS = "config.json", "model.safetensors"
KIND = "syndiag-rul"


@dataclass
class RulCheckpoint:
    family: str
    model: RulModel
    intervals: ConformalIntervals
    levels: list[float]
    meta: dict[str, Any]


def save_rul(folder: Path | str, family: str, model: RulModel, intervals: ConformalIntervals, levels: list[float],
             meta: dict[str, Any] | None = None) -> Path:
    config = {"kind": KIND, "family": family, "settings": model.settings(), "levels": list(levels),
              "residuals": list(intervals.residuals), "min_history": model.min_history, **(meta or {})}
    with atomic_folder(Path(folder)) as staging:
        save_file({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in model.state().items()}, str(staging / WEIGHTS))
        (staging / CONFIG).write_text(json.dumps(config, indent=2, default=str), encoding="utf-8")
    return Path(folder)


def load_rul(folder: Path | str) -> RulCheckpoint:
    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise DataError(f"{folder}: not a RUL checkpoint (needs {CONFIG} and {WEIGHTS}; make one with `syndiag rul fit`)")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{folder / CONFIG}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("kind") != KIND:
        raise DataError(f"{folder / CONFIG}: not a RUL checkpoint (kind {config.get('kind') if isinstance(config, dict) else None!r})")
    try:
        tensors = load_file(str(folder / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error types for a corrupt header
        raise DataError(f"{folder / WEIGHTS}: unreadable safetensors file ({exc})") from None
    model = build_model(config["family"], config["settings"])
    try:
        model.load_state(tensors)
    except KeyError as exc:
        raise DataError(f"{folder / WEIGHTS}: lacks tensor {exc} of a {config['family']} model") from None
    residuals = config.get("residuals") or []
    if not residuals:
        raise DataError(f"{folder / CONFIG}: no calibration residuals for the intervals")
    meta = {k: v for k, v in config.items() if k not in ("kind", "family", "settings", "levels", "residuals")}
    return RulCheckpoint(config["family"], model, ConformalIntervals(tuple(residuals)), list(config["levels"]), meta)
