"""The open-set detector stored beside a checkpoint (issue 30: "this is a fault I have not seen"): the spectrum path's
novelty score (``models/openset_spectral.py``) of the checkpoint's training data, in ``openset-detector.npz``; its
threshold, the score's name and the npz's sha256 live in ``openset.json`` (``models/openset_threshold.py``), which is
bound to the weights, so the pair is refused together when either was copied from another checkpoint or edited."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_write_bytes
from syndiag.errors import DataError
from syndiag.models.openset import Mahalanobis
from syndiag.models.openset_spectral import COMBINED, NOVELTY_SCORES, SpectralNovelty
from syndiag.models.spectral_discriminant import SpectralDiscriminant
from syndiag.models.spectrum_view import SpectrumGrid, check_grid, spectrum_view

DETECTOR_FILE = "openset-detector.npz"
BLOCK = 256
"""Windows whose views are made at once."""


@dataclass
class SpectralDetector:
    """A fitted novelty score on a spectrum grid; ``offset``: the healthy recalibration's shift of every view (or None)."""

    grid: SpectrumGrid
    novelty: SpectralNovelty
    score: str
    offset: np.ndarray | None = None

    def views(self, windows: np.ndarray, fs: float, source: str = "the windows") -> np.ndarray:
        return spectrum_view(np.asarray(windows), fs, self.grid, None, source)

    def scores(self, windows: np.ndarray, fs: float, source: str = "the windows") -> np.ndarray:
        """The score of each window (n, channels, length) at ``fs``, recentred when recalibrated so."""
        out = [self.novelty.scores(self.views(windows[first:first + BLOCK], fs, source), (self.score,), self.offset)[self.score]
               for first in range(0, len(windows), BLOCK)]
        return np.concatenate(out) if out else np.zeros(0)

    def to_bytes(self) -> bytes:
        n = self.novelty
        arrays = {f"discriminant_{k}": v for k, v in n.discriminant.arrays().items()}
        arrays |= {"lda_means": n.lda.means, "lda_precision": n.lda.precision, "view_means": n.view.means,
                   "view_precision": n.view.precision, "bank": n.bank, "k": np.asarray(n.k),
                   "medians": np.asarray([n.medians[name] for name in COMBINED]),
                   "grid": np.asarray([self.grid.step_hz, self.grid.bins, self.grid.order_step, self.grid.order_bins], dtype=np.float64),
                   "score": np.asarray(NOVELTY_SCORES.index(self.score))}
        if n.healthy_view is not None:
            arrays["healthy_view"] = n.healthy_view
        if self.offset is not None:
            arrays["offset"] = self.offset
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()


def layout_windows(signals: dict[str, np.ndarray], present: np.ndarray, layout: list[str], channels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The uniform windows (m, len(channels), length) the detector reads from a sensor layout's per-channel windows
    (``signals[name]`` (n, length), ``present`` (n, len(layout))), and which of the n windows they are: those that hold
    every one of ``channels`` (a window lacking one gets no score rather than one of a zero-filled channel)."""
    rows = np.asarray(present)[:, [layout.index(name) for name in channels]].all(axis=1)
    return np.stack([np.asarray(signals[name])[rows] for name in channels], axis=1), rows


def save_detector(folder: str | Path, detector: SpectralDetector) -> tuple[Path, str]:
    """Write the detector atomically; returns its path and sha256 (recorded in openset.json)."""
    data = detector.to_bytes()
    path = atomic_write_bytes(Path(folder) / DETECTOR_FILE, data)
    return path, hashlib.sha256(data).hexdigest()


def read_detector(folder: str | Path, sha256: str, remake: str) -> SpectralDetector:
    """The detector beside the weights, refused when missing, changed since openset.json recorded its digest, or broken."""
    path = Path(folder) / DETECTOR_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: the open-set detector that openset.json names cannot be read ({exc}); run `{remake}` again") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(f"{path}: not the detector openset.json was calibrated with (its sha256 differs: copied from another "
                        f"checkpoint or changed since); run `{remake}` again")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as found:
            arrays = {name: np.asarray(found[name]) for name in found.files}
        discriminant = SpectralDiscriminant.from_arrays({k[len("discriminant_"):]: v for k, v in arrays.items()
                                                         if k.startswith("discriminant_")}, str(path))
        step, bins, order_step, order_bins = arrays["grid"].tolist()
        grid = check_grid({"step_hz": step, "bins": int(bins), "order_step": order_step, "order_bins": int(order_bins)}, str(path))
        novelty = SpectralNovelty(discriminant, Mahalanobis(arrays["lda_means"], arrays["lda_precision"]),
                                  Mahalanobis(arrays["view_means"], arrays["view_precision"]), arrays["bank"],
                                  dict(zip(COMBINED, arrays["medians"].tolist())), arrays.get("healthy_view"), int(arrays["k"]))
        score = NOVELTY_SCORES[int(arrays["score"])]
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise DataError(f"{path}: not a readable open-set detector ({exc!r}); run `{remake}` again") from None
    return SpectralDetector(grid, novelty, score, arrays.get("offset"))
