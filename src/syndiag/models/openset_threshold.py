"""The open-set threshold stored beside a checkpoint's weights (issue 17): ``openset.json``, bound to those weights.

The score is the maximum-softmax-probability score 1 - max p of a window (every model gives probabilities, ONNX exports
too). A recording is an unknown fault when more than ``unknown_share`` of its windows score above the threshold.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_write_text
from syndiag.errors import ConfigError, DataError

THRESHOLD_FILE = "openset.json"
WEIGHT_FILES = ("model.safetensors", "model.onnx")


def weights_digest(folder: str | Path) -> str:
    """sha256 of the checkpoint's weight file (model.safetensors, or model.onnx for an export)."""
    folder = Path(folder)
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()
    raise DataError(f"{folder}: no model.safetensors or model.onnx to bind an open-set threshold to")


@dataclass(frozen=True)
class OpenSetThreshold:
    threshold: float
    false_alarm: float
    windows: int
    weights_sha256: str
    method: str = "msp"
    unknown_share: float = 0.5

    def window_scores(self, confidence) -> np.ndarray:
        """Each window's score from the probability of its most probable class."""
        return 1.0 - np.asarray(confidence, dtype=np.float64)

    def verdict(self, confidence) -> dict:
        """The recording's open-set finding: median score, the share of windows above the threshold, unknown or not."""
        scores = self.window_scores(confidence)
        above = scores > self.threshold
        share = float(above.mean()) if scores.size else 0.0
        return {"unknown": share > self.unknown_share, "score": round(float(np.median(scores)), 4), "threshold": round(self.threshold, 4),
                "windows_above": int(above.sum()), "share_above": round(share, 4), "method": self.method, "false_alarm": self.false_alarm}


def save_threshold(folder: str | Path, threshold: OpenSetThreshold) -> Path:
    path = Path(folder) / THRESHOLD_FILE
    atomic_write_text(path, json.dumps(asdict(threshold), indent=1) + "\n")
    return path


def read_threshold(folder: str | Path) -> OpenSetThreshold | None:
    """The threshold stored beside the weights; None when there is none. One made for other weights is refused."""
    path = Path(folder) / THRESHOLD_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        found = OpenSetThreshold(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a readable open-set threshold file ({exc}); run `syndiag openset calibrate` again") from None
    if not (isinstance(found.threshold, (int, float)) and math.isfinite(found.threshold) and 0 < found.false_alarm < 1):
        raise DataError(f"{path}: threshold {found.threshold!r} / false_alarm {found.false_alarm!r} out of range")
    if found.weights_sha256 != weights_digest(folder):
        raise ConfigError(f"{path}: this threshold was calibrated for other weights (sha256 {found.weights_sha256[:12]}...), not "
                          f"{folder}'s: copied from another checkpoint, or the model changed since; run `syndiag openset calibrate "
                          f"--checkpoint {folder}` again")
    return found
