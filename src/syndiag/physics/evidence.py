"""Physical evidence of a bearing fault in one recording (issue 20), computed from the signal alone: the envelope
spectrum's lines at each characteristic frequency and its harmonics (or why the spectrum cannot show them), which fault
type they point to, and the ISO zone. The signal is read one segment at a time, so a recording of any length fits."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from syndiag.physics.bearings import FAULT_FREQUENCY, BearingGeometry
from syndiag.physics.envelope import (
    EnvelopeAverage,
    EnvelopeSpectrum,
    array_segments,
    harmonic_evidence,
    harmonic_name,
    samples_per_segment,
    unchecked_reason,
)
from syndiag.physics.iso_zones import severity_zone, velocity_mean_square

STANDS_OUT = 3.0
"""Peak-to-floor ratio from which a line counts as present."""


def line_score(peaks) -> float:
    """Mean log2 peak-to-floor ratio over a line's harmonics (0 when nothing stands out above the floor)."""
    return float(np.mean([math.log2(max(p.ratio, 1e-9)) for p in peaks])) if peaks else 0.0


def averaged(segments: Iterable[np.ndarray], fs: float, resolution_hz: float, unit: str) -> tuple[EnvelopeSpectrum, float, int]:
    """One pass over ``segments`` (each 1 / ``resolution_hz`` s long): the averaged envelope spectrum, the RMS velocity in
    mm/s (mean square over the segments) and the number of segments."""
    average = EnvelopeAverage(fs, samples_per_segment(fs, resolution_hz))
    square = 0.0
    for segment in segments:
        average.add(segment)
        square += velocity_mean_square(segment, fs, unit)
    spectrum = average.spectrum()
    return spectrum, math.sqrt(square / average.count), average.count


def line_evidence(spectrum: EnvelopeSpectrum, name: str, hz: float, harmonics: int, tolerance: float) -> dict[str, Any]:
    """A characteristic line's peaks at its first ``harmonics`` multiples, or, when the spectrum cannot show one of
    them, why it was not checked (never a verdict on a line that could not be seen)."""
    line = {"line": name, "expected_hz": round(hz, 2)}
    for h in range(1, harmonics + 1):
        fewer = f"check only {h - 1} harmonic(s) (--set harmonics={h - 1})" if h > 1 else None
        reason = unchecked_reason(spectrum, harmonic_name(name, h), h * hz, tolerance, fewer)
        if reason is not None:
            return {**line, "checked": False, "not_checkable": reason, "score": None, "harmonics": []}
    peaks = harmonic_evidence(spectrum, name, hz, harmonics, tolerance)
    return {**line, "checked": True, "not_checkable": None, "score": round(line_score(peaks), 3),
            "harmonics": [{"name": p.name, "expected_hz": round(p.expected_hz, 2), "found_hz": round(p.found_hz, 2),
                           "amplitude": float(f"{p.amplitude:.4g}"), "ratio": round(p.ratio, 2)} for p in peaks]}


def bearing_evidence(x, fs: float, geometry: BearingGeometry, shaft_hz: float, *, unit: str = "g", resolution_hz: float = 1.0,
                     tolerance: float = 0.02, harmonics: int = 3, machine_group: str = "iso-20816-3:group2-rigid") -> tuple[dict[str, Any], EnvelopeSpectrum]:
    """Every characteristic line (amplitude, floor, ratio per harmonic, or why it is not checkable), the fault type whose
    checked lines stand out most (or none), the envelope band, and the RMS velocity with its zone, as a JSON-ready dict;
    and the envelope spectrum. ``x``: a 1-D signal, or an iterable of its segments of 1 / ``resolution_hz`` s (read once)."""
    segments = array_segments(x, fs, resolution_hz) if isinstance(x, np.ndarray) else x
    spectrum, velocity, count = averaged(segments, fs, resolution_hz, unit)
    lines = geometry.frequencies(shaft_hz)
    found = {fault: line_evidence(spectrum, name, lines[name], harmonics, tolerance) for fault, name in FAULT_FREQUENCY.items()}
    candidates = {f: v for f, v in found.items() if f != "cage" and v["checked"]}
    best = max(candidates, key=lambda f: candidates[f]["score"]) if candidates else None
    first = candidates[best]["harmonics"][0]["ratio"] if best is not None else 0.0
    zone = severity_zone(velocity, machine_group)
    return {"bearing": geometry.name, "bearing_source": geometry.source, "shaft_hz": round(shaft_hz, 3),
            "characteristic_hz": {k: round(v, 2) for k, v in lines.items()}, "lines": found,
            "strongest": best if best is not None and first >= STANDS_OUT else "none", "strongest_ratio": round(first, 2),
            "unchecked": {v["line"]: v["not_checkable"] for v in found.values() if not v["checked"]}, "warnings": [],
            "envelope_band_hz": [round(b, 1) for b in spectrum.band], "resolution_hz": round(spectrum.resolution_hz, 3),
            "segments": count, "tolerance": tolerance, "velocity_rms_mm_s": round(velocity, 3), "iso_zone": zone.zone,
            "iso_zone_meaning": zone.meaning, "iso_boundaries_mm_s": list(zone.boundaries), "machine_group": zone.machine_group,
            "machines": zone.machines}, spectrum
