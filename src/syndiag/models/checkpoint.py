"""Checkpoint folders: ``config.json`` + ``model.safetensors`` of the trained parts only, written atomically.

``config.json`` records a sha256 of every weight file (``"sha256": {"model.safetensors": "<64 hex digits>"}``,
computed at save time); loading checks it, so a damaged or altered weight file is refused instead of silently
changing what the model predicts. A checkpoint written before digests were recorded loads with a warning.
The digest helpers import no torch: the ONNX runtime path (``serving/onnx_runtime.py``) uses them too.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from syndiag.atomic import atomic_folder
from syndiag.errors import ConfigError, DataError
from syndiag.models.meta import PROVENANCE, class_hash, provenance

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
DIGESTS = "sha256"
"""The ``config.json`` key of the weight-file digests: ``{file name: sha256 hex digest}``."""


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def record_digests(meta: dict, folder: Path, files: Iterable[str]) -> dict:
    """``meta`` with the sha256 of each of ``files`` (in ``folder``) under :data:`DIGESTS`; any older digests replaced."""
    return {**{k: v for k, v in meta.items() if k != DIGESTS}, DIGESTS: {name: file_sha256(folder / name) for name in files}}


def verify_digests(folder: Path, meta: dict, files: Iterable[str], actual: dict[str, str] | None = None) -> None:
    """Check each of ``files`` in ``folder`` against the sha256 ``meta`` records for it (``actual``: digests already
    computed, by file name). A mismatch is a :class:`DataError` naming the file and both digests; a config without
    digests (written before they were recorded) only logs a warning."""
    folder, files = Path(folder), list(files)
    recorded = meta.get(DIGESTS)
    if recorded is None:
        log.warning("%s: %s records no sha256 of %s (written before checksums were kept), so it is not verified; "
                    "save or export the model again to record it", folder, CONFIG, ", ".join(files))
        return
    if not isinstance(recorded, dict):
        raise ConfigError(f"{folder / CONFIG}: '{DIGESTS}' must map file names to sha256 digests, got {recorded!r}")
    for name in files:
        path = folder / name
        expected = recorded.get(name)
        if not isinstance(expected, str):
            raise ConfigError(f"{folder / CONFIG}: records no sha256 for {name} (it has {', '.join(sorted(recorded)) or 'none'})")
        digest = (actual or {}).get(name) or file_sha256(path)
        if digest != expected.lower():
            raise DataError(f"{path}: sha256 {digest} does not match {expected} recorded in {folder / CONFIG}; "
                            "the file was damaged or changed after it was saved")


def verify_checkpoint(folder: str | Path) -> None:
    """Check the weights of a checkpoint folder against the digests its config records (see :func:`verify_digests`)."""
    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        return  # not a checkpoint: its loader says so
    try:
        meta = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{folder / CONFIG}: unreadable checkpoint config ({exc})") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{folder / CONFIG}: corrupt checkpoint config (not a JSON object)")
    verify_digests(folder, meta, [WEIGHTS])


def write_checkpoint(folder: str | Path, tensors: dict[str, torch.Tensor], kind: str, meta: dict) -> Path:
    """``config.json`` + ``model.safetensors`` in ``folder``, written atomically: ``meta`` described as a ``kind`` model in
    this format version by the commit writing it (``models.meta.provenance``), with its class names' hash and the sha256
    of the weights."""
    # defers torch: the digest helpers serve the torch-free ONNX runtime path
    from safetensors.torch import save_file

    described = {**provenance(kind), **{k: v for k, v in meta.items() if k not in PROVENANCE}}
    if isinstance(described.get("class_names"), list):
        described["class_hash"] = class_hash(list(described["class_names"]))
    with atomic_folder(folder) as staging:
        save_file(tensors, str(staging / WEIGHTS))
        meta = record_digests(described, staging, [WEIGHTS])
        (staging / CONFIG).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return Path(folder)


def read_checkpoint_meta(folder: Path, kind: str, meta: dict | None = None) -> dict:
    """``folder``'s config.json as a dict, checked to name ``kind`` (``meta``: that config, already read by ``models.meta.read_meta``)."""
    if meta is not None:
        if meta.get("model") != kind:
            raise ConfigError(f"{folder}: a {meta.get('model')!r} checkpoint, expected {kind!r}")
        return meta
    path = folder / CONFIG
    if not path.is_file() or not (folder / WEIGHTS).is_file():
        raise ConfigError(f"{folder}: not a syndiag checkpoint (needs {CONFIG} and {WEIGHTS})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: corrupt checkpoint config ({exc})") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: corrupt checkpoint config (not a JSON object)")
    if meta.get("model") != kind:
        raise ConfigError(f"{folder}: a {meta.get('model')!r} checkpoint, expected {kind!r}")
    return meta


def load_trained(model: nn.Module, folder: Path, meta: dict | None = None) -> None:
    """Load the trained tensors of ``folder`` into ``model``: every tensor must match in name and shape, and the file
    its recorded sha256 (checked on the bytes read, after they parse and fit, so a flipped bit is a :class:`DataError`)."""
    # defers torch (see write_checkpoint)
    from safetensors.torch import load

    folder = Path(folder)
    try:
        data = (folder / WEIGHTS).read_bytes()
        state = load(data)
    except Exception as exc:
        raise ConfigError(f"{folder / WEIGHTS}: unreadable weights ({exc})") from None
    expected = model.trainable_state()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ConfigError(f"{folder}: weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
    if meta is None:
        meta = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    verify_digests(folder, meta, [WEIGHTS], actual={WEIGHTS: hashlib.sha256(data).hexdigest()})
    model.load_state_dict(state, strict=False)
