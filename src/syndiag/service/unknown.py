"""The unknown-fault verdict of each live window (issue 33; issue 30's open-set detector): a served checkpoint with an
``openset.json`` (``syndiag openset calibrate``) flags a window whose score is above the calibrated threshold, the
score being the spectral detector's (``openset-detector.npz``, checked against the digest openset.json records) or,
for the msp method (and a sensor model, which keeps msp), one minus the window's top class probability. A recording's
verdict in ``syndiag diagnose`` is the share of such windows; the live service reads each window's flag, which the
health state reads as ``health.unknown_level``. A checkpoint without openset.json gives no verdict (``unknown: null``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from syndiag.models.openset_threshold import read_threshold


class LiveUnknown:
    def __init__(self, checkpoint: Path, fs: float) -> None:
        self.threshold = read_threshold(checkpoint)
        self.fs, self.detector = fs, None
        if self.threshold is not None and self.threshold.spectral:
            # defers sklearn (the detector's discriminant): only a checkpoint calibrated with the spectrum path loads it
            from syndiag.models.openset_detector import read_detector

            self.detector = read_detector(checkpoint, str(self.threshold.detector_sha256),
                                          f"syndiag openset calibrate --checkpoint {checkpoint}")

    def flags(self, windows: np.ndarray | None, confidence: np.ndarray) -> list[bool | None]:
        """Per window (``windows`` (n, channels, length) at the model's rate, ``confidence`` its top probability): above the threshold."""
        if self.threshold is None:
            return [None] * len(confidence)
        if self.detector is not None:
            if windows is None:  # a spectral threshold is not one of the msp score: no verdict rather than a wrong one
                return [None] * len(confidence)
            scores = self.detector.scores(windows, self.fs, "the live windows")
        else:
            scores = self.threshold.window_scores(confidence)
        return [bool(s > self.threshold.threshold) for s in scores]
