"""The unknown-fault verdict of each live window (issue 33; issue 30's open-set detector): a served checkpoint with an
``openset.json`` (``syndiag openset calibrate``) flags a window whose score is above the calibrated threshold, the
score being the spectral detector's (``openset-detector.npz``, checked against the digest openset.json records; a sensor
model's on the vibration channels of its layout) or, for the msp method, one minus the window's top class probability. A recording's
verdict in ``syndiag diagnose`` is the share of such windows; the live service reads each window's flag, which the
health state reads as ``health.unknown_level``. A checkpoint without openset.json gives no verdict (``unknown: null``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from syndiag.models.meta import read_meta
from syndiag.models.openset_threshold import read_threshold


class LiveUnknown:
    def __init__(self, checkpoint: Path, fs: float) -> None:
        self.threshold = read_threshold(checkpoint)
        self.fs, self.detector, self.layout = fs, None, None
        if self.threshold is not None and self.threshold.spectral:
            # defers sklearn (the detector's discriminant): only a checkpoint calibrated with the spectrum path loads it
            from syndiag.models.openset_detector import read_detector

            self.detector = read_detector(checkpoint, str(self.threshold.detector_sha256),
                                          f"syndiag openset calibrate --checkpoint {checkpoint}")
            self.fs = float(self.threshold.fs or fs)  # a sensor model's detector reads its vibration channels at their rate
            self.layout = [spec["name"] for spec in read_meta(checkpoint).layout or []] or None

    def flags(self, windows, confidence: np.ndarray) -> list[bool | None]:
        """Per window (``windows`` (n, channels, length) at the model's rate, or a sensor model's batch with ``signals`` and
        ``present`` by layout channel; ``confidence`` its top probability): above the threshold."""
        if self.threshold is None:
            return [None] * len(confidence)
        if self.detector is not None:
            if windows is None:  # a spectral threshold is not one of the msp score: no verdict rather than a wrong one
                return [None] * len(confidence)
            if hasattr(windows, "signals"):  # a layout's windows: those lacking a vibration channel get no verdict
                return self._layout_flags(windows)
            scores = self.detector.scores(windows, self.fs, "the live windows")
        else:
            scores = self.threshold.window_scores(confidence)
        return [bool(s > self.threshold.threshold) for s in scores]

    def _layout_flags(self, batch) -> list[bool | None]:
        # the same deferral as in __init__ (sklearn, with the detector's module)
        from syndiag.models.openset_detector import layout_windows

        stacked, rows = layout_windows(batch.signals, batch.present, self.layout, list(self.threshold.channels))
        above = iter(self.detector.scores(stacked, self.fs, "the live windows") > self.threshold.threshold) if rows.any() else iter(())
        return [bool(next(above)) if row else None for row in rows]
