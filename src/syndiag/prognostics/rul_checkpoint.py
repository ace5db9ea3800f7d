"""A fitted RUL model as a ``save_pretrained`` folder: ``config.json`` (family, settings, interval residuals, how it was
chosen) and ``model.safetensors`` (its fitted numbers). A family on learned indicators adds the model that computes them: its
checkpoint folder ``indicator/`` and its fitted numbers (``indicator.*`` tensors of ``model.safetensors``, e.g. the PCA of
the sensor model's fused vectors). Written atomically; a folder of anything else is refused.

``config.json`` is a versioned description of kind ``syndiag-rul`` (:mod:`syndiag.models.meta`: kind, format version,
the commit that fitted it) and records the sha256 of ``model.safetensors`` (``weights_sha256``) and of its own content
(``content_sha256``, see :mod:`syndiag.digests`); loading refuses a checkpoint whose files changed after `syndiag rul fit`,
one written before the digests were kept, and values out of range (each error names the file and the field)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load, save_file

from syndiag.atomic import atomic_folder
from syndiag.digests import as_read, check_digest, with_digest
from syndiag.errors import DataError
from syndiag.models.meta import PROVENANCE, check_kind, provenance
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_families import MODELS, build_model
from syndiag.prognostics.rul_models import RulModel

CONFIG, WEIGHTS = "config.json", "model.safetensors"
INDICATOR, INDICATOR_PREFIX = "indicator", "indicator."
KIND = "syndiag-rul"
WEIGHTS_DIGEST, CONTENT_DIGEST = "weights_sha256", "content_sha256"
REFIT = "syndiag rul fit"
NOT_META = (*PROVENANCE, "family", "settings", "levels", "residuals", "residual_degrading", WEIGHTS_DIGEST, CONTENT_DIGEST, INDICATOR)


@dataclass
class IndicatorParts:
    """A learned indicator saved beside the RUL model: the checkpoint folder of the model that computes it, its fitted numbers."""

    folder: Path
    tensors: dict[str, np.ndarray]


@dataclass
class RulCheckpoint:
    family: str
    model: RulModel
    intervals: ConformalIntervals
    levels: list[float]
    meta: dict[str, Any]
    indicator: IndicatorParts | None = field(default=None)


def save_rul(folder: Path | str, family: str, model: RulModel, intervals: ConformalIntervals, levels: list[float],
             meta: dict[str, Any] | None = None, indicator: IndicatorParts | None = None) -> Path:
    """Write the checkpoint atomically, with the digests of its weights and of its config; values out of range are refused.
    ``indicator``: the learned indicator a family reads (copied in as ``indicator/``, its numbers as ``indicator.*`` tensors)."""
    config = as_read({**provenance(KIND), "family": family, "settings": model.settings(), "levels": list(levels),
                      "residuals": list(intervals.residuals), "residual_degrading": list(intervals.degrading), "min_history": model.min_history,
                      **(meta or {}), **({INDICATOR: INDICATOR} if indicator is not None else {})})
    check_config(Path(folder) / CONFIG, config)
    with atomic_folder(Path(folder)) as staging:
        tensors = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in model.state().items()}
        if indicator is not None:
            tensors.update({INDICATOR_PREFIX + k: np.ascontiguousarray(v, dtype=np.float64) for k, v in indicator.tensors.items()})
            shutil.copytree(indicator.folder, staging / INDICATOR)
        save_file(tensors, str(staging / WEIGHTS))
        config = with_digest({**config, WEIGHTS_DIGEST: hashlib.sha256((staging / WEIGHTS).read_bytes()).hexdigest()}, CONTENT_DIGEST)
        (staging / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return Path(folder)


def load_rul(folder: Path | str) -> RulCheckpoint:
    """The checkpoint in ``folder``, refused unless both files are as `syndiag rul fit` wrote them and every value is in range."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise DataError(f"{folder}: not a RUL checkpoint (needs {CONFIG} and {WEIGHTS}; make one with `{REFIT}`)")
    config = read_config(folder / CONFIG)
    check_digest(folder / CONFIG, config, CONTENT_DIGEST, REFIT)
    tensors = read_weights(folder / WEIGHTS, config.get(WEIGHTS_DIGEST))
    check_config(folder / CONFIG, config)
    model = build_model(config["family"], config["settings"])
    indicator = None
    if config.get(INDICATOR) is not None:
        if config[INDICATOR] != INDICATOR or not (folder / INDICATOR).is_dir():
            raise DataError(f"{folder}: its {CONFIG} names the indicator folder {config[INDICATOR]!r}, but {folder / INDICATOR} is not there")
        indicator = IndicatorParts(folder / INDICATOR, {k[len(INDICATOR_PREFIX):]: v for k, v in tensors.items() if k.startswith(INDICATOR_PREFIX)})
        tensors = {k: v for k, v in tensors.items() if not k.startswith(INDICATOR_PREFIX)}
    try:
        model.load_state(tensors)
    except KeyError as exc:
        raise DataError(f"{folder / WEIGHTS}: lacks tensor {exc} of a {config['family']} model") from None
    if model.min_history != config["min_history"]:
        raise DataError(f"{folder / CONFIG}: min_history {config['min_history']} is not the {model.min_history} of its settings")
    meta = {k: v for k, v in config.items() if k not in NOT_META}
    intervals = ConformalIntervals(tuple(config["residuals"]), tuple(config.get("residual_degrading", [])))
    return RulCheckpoint(config["family"], model, intervals, list(config["levels"]), meta, indicator)


def read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    return check_kind(path, config, (KIND,), REFIT, DataError)


def read_weights(path: Path, recorded: Any) -> dict[str, np.ndarray]:
    """The fitted tensors, refused unless the file's sha256 is the one ``config.json`` records and every number is finite."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded:
        raise DataError(f"{path}: its sha256 does not match the {WEIGHTS_DIGEST} recorded in {CONFIG}: the file was changed "
                        f"after `{REFIT}` wrote it; run `{REFIT}` again")
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types for a corrupt header
        raise DataError(f"{path}: unreadable safetensors file ({exc})") from None
    for name, values in tensors.items():
        if not np.isfinite(values).all():
            raise DataError(f"{path}: tensor {name} holds a value that is not finite")
    return tensors


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_config(path: Path, config: dict[str, Any]) -> None:
    """Refuse a RUL config with an unknown family or levels, residuals, min_history or bands out of range, naming the field."""
    if config.get("family") not in MODELS:
        raise DataError(f"{path}: family {config.get('family')!r} is not a RUL model (known: {', '.join(MODELS)})")
    if not isinstance(config.get("settings"), dict):
        raise DataError(f"{path}: settings must be a mapping of the model's settings, got {config.get('settings')!r}")
    levels, residuals = config.get("levels"), config.get("residuals")
    if not isinstance(levels, list) or not levels or not all(_number(v) and 0 < v < 1 for v in levels):
        raise DataError(f"{path}: levels must be a non-empty list of interval levels in (0, 1), got {levels!r}")
    if not isinstance(residuals, list) or not residuals:
        raise DataError(f"{path}: residuals must be a non-empty list of calibration residuals, got {residuals!r}")
    bad = next((i for i, v in enumerate(residuals) if not _number(v)), None)
    if bad is not None:
        raise DataError(f"{path}: residuals[{bad}] is {residuals[bad]!r}, not a finite number")
    flags = config.get("residual_degrading", [])
    if not isinstance(flags, list) or (flags and (len(flags) != len(residuals) or not all(isinstance(f, bool) for f in flags))):
        raise DataError(f"{path}: residual_degrading must be empty or one true/false per residual ({len(residuals)}), got {flags!r}")
    for field in ("min_history", "bands"):
        if (field == "min_history" or field in config) and not _count(config.get(field)):
            raise DataError(f"{path}: {field} must be a positive whole number, got {config.get(field)!r}")
