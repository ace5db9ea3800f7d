"""The open-set threshold stored beside a checkpoint's weights (issue 17): ``openset.json``, bound to those weights.

The score is either the maximum-softmax-probability score 1 - max p of a window (every model gives probabilities, ONNX
exports too), or (issue 30) a novelty score of the discriminant spectrum path fitted on the checkpoint's training data,
stored in ``openset-detector.npz`` (``models/openset_detector.py``) whose sha256 this file records. A recording is an unknown fault when more than ``unknown_share`` of its windows score above the threshold.
The file is a versioned description of kind ``syndiag-openset`` (:mod:`syndiag.models.meta`: kind, format version, the
commit that calibrated it) and records its own content digest (``content_sha256``, see :mod:`syndiag.digests`), so a
threshold edited by hand is refused like one calibrated for other weights; every value is checked for its range on save
and on load. A file written before thresholds were described is refused with the command that calibrates it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from syndiag.atomic import atomic_write_text
from syndiag.digests import check_digest, with_digest
from syndiag.errors import ConfigError, DataError
from syndiag.models.meta import PROVENANCE, check_kind, provenance
from syndiag.models.openset_detector import DETECTOR_FILE

THRESHOLD_FILE = "openset.json"
KIND = "syndiag-openset"
WEIGHT_FILES = ("model.safetensors", "model.onnx")
CONTENT_DIGEST = "content_sha256"
Method = Literal["msp", "spectrum-mahalanobis", "lda-mahalanobis", "lda-knn", "combined"]
SCORE_RANGE = {"msp": (0.0, 1.0), **{name: (0.0, math.inf) for name in get_args(Method)[1:]}}
"""The values each method's window score can take: 1 - max p lies in [0, 1], a distance in [0, inf)."""
_HEX64 = re.compile(r"[0-9a-f]{64}")


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
    method: Method = "msp"
    unknown_share: float = 0.5
    detector_sha256: str | None = None
    """sha256 of openset-detector.npz (a spectrum-path score); None for msp."""
    fs: float | None = None
    """The rate (Hz) of the windows the detector was fitted on: healthy recordings at another rate are refused."""
    channels: list[str] | None = None
    """The channels the detector reads, in order."""
    validation: dict[str, float] | None = None
    """Each candidate score's validation AUROC on the training data (leave-one-known-class-out); the method is the best."""
    recalibration: dict | None = None
    """The healthy recalibration applied: how, the files, their windows, the threshold before it."""

    @property
    def spectral(self) -> bool:
        return self.method != "msp"

    def window_scores(self, confidence) -> np.ndarray:
        """Each window's score from the probability of its most probable class."""
        return 1.0 - np.asarray(confidence, dtype=np.float64)

    def verdict(self, confidence) -> dict:
        """The recording's open-set finding from its windows' top class probabilities (the msp score)."""
        return self.verdict_of(self.window_scores(confidence))

    def verdict_of(self, scores) -> dict:
        """The recording's open-set finding: median score, the share of windows above the threshold, unknown or not."""
        scores = np.asarray(scores, dtype=np.float64)
        above = scores > self.threshold
        share = float(above.mean()) if scores.size else 0.0
        return {"unknown": share > self.unknown_share, "score": round(float(np.median(scores)), 4), "threshold": round(self.threshold, 4),
                "windows_above": int(above.sum()), "share_above": round(share, 4), "method": self.method, "false_alarm": self.false_alarm}


def _fraction(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1


def check_threshold(path: Path, found: OpenSetThreshold) -> None:
    """Refuse a threshold whose method is unknown or whose numbers are out of range, naming the file and the field."""
    if found.method not in get_args(Method):
        raise DataError(f"{path}: method {found.method!r} is not an open-set score (known: {', '.join(get_args(Method))})")
    low, high = SCORE_RANGE[found.method]
    value = found.threshold
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and low <= value <= high):
        raise DataError(f"{path}: threshold {value!r} is outside [{low:g}, {high:g}], the range of the {found.method} score")
    for field in ("false_alarm", "unknown_share"):
        if not _fraction(getattr(found, field)):
            raise DataError(f"{path}: {field} must be a fraction in (0, 1), got {getattr(found, field)!r}")
    if not (isinstance(found.windows, int) and not isinstance(found.windows, bool) and found.windows >= 1):
        raise DataError(f"{path}: windows must be a positive whole number, got {found.windows!r}")
    if not (isinstance(found.weights_sha256, str) and _HEX64.fullmatch(found.weights_sha256)):
        raise DataError(f"{path}: weights_sha256 must be 64 lowercase hex digits, got {found.weights_sha256!r}")
    if found.spectral and not (isinstance(found.detector_sha256, str) and _HEX64.fullmatch(found.detector_sha256)):
        raise DataError(f"{path}: the {found.method} score needs detector_sha256 (64 lowercase hex digits of {DETECTOR_FILE}), "
                        f"got {found.detector_sha256!r}")
    if found.spectral and not (isinstance(found.fs, (int, float)) and found.fs > 0 and isinstance(found.channels, list) and found.channels):
        raise DataError(f"{path}: the {found.method} score needs the rate (fs) and channels it was fitted on, got {found.fs!r}, "
                        f"{found.channels!r}")


def save_threshold(folder: str | Path, threshold: OpenSetThreshold) -> Path:
    """Write ``openset.json`` atomically with its content digest; a threshold out of range is refused first."""
    path = Path(folder) / THRESHOLD_FILE
    check_threshold(path, threshold)
    atomic_write_text(path, json.dumps(with_digest({**provenance(KIND), **asdict(threshold)}, CONTENT_DIGEST), indent=1) + "\n")
    return path


def read_threshold(folder: str | Path) -> OpenSetThreshold | None:
    """The threshold stored beside the weights; None when there is none. One edited by hand, out of range or made for
    other weights is refused."""
    path = Path(folder) / THRESHOLD_FILE
    if not path.is_file():
        return None
    remake = f"syndiag openset calibrate --checkpoint {folder}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable open-set threshold file ({exc}); run `{remake}` again") from None
    check_kind(path, raw, (KIND,), remake, DataError)
    check_digest(path, raw, CONTENT_DIGEST, remake)
    try:
        found = OpenSetThreshold(**{k: v for k, v in raw.items() if k != CONTENT_DIGEST and k not in PROVENANCE})
    except TypeError as exc:
        raise DataError(f"{path}: not a readable open-set threshold file ({exc}); run `{remake}` again") from None
    check_threshold(path, found)
    if found.weights_sha256 != weights_digest(folder):
        raise ConfigError(f"{path}: this threshold was calibrated for other weights (sha256 {found.weights_sha256[:12]}...), not "
                          f"{folder}'s: copied from another checkpoint, or the model changed since; run `syndiag openset calibrate "
                          f"--checkpoint {folder}` again")
    return found
