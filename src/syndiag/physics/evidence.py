"""Physical evidence of a bearing fault in one recording (issue 20), computed from the signal alone: the envelope
spectrum's lines at each characteristic frequency and its harmonics, which fault type they point to, and the ISO zone."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from syndiag.physics.bearings import FAULT_FREQUENCY, BearingGeometry
from syndiag.physics.envelope import EnvelopeSpectrum, envelope_spectrum, harmonic_evidence
from syndiag.physics.iso_zones import severity_zone, velocity_rms_mm_s

STANDS_OUT = 3.0
"""Peak-to-floor ratio from which a line counts as present."""


def line_score(peaks) -> float:
    """Mean log2 peak-to-floor ratio over a line's harmonics (0 when nothing stands out above the floor)."""
    return float(np.mean([math.log2(max(p.ratio, 1e-9)) for p in peaks])) if peaks else 0.0


def bearing_evidence(x, fs: float, geometry: BearingGeometry, shaft_hz: float, *, unit: str = "g", resolution_hz: float = 1.0,
                     tolerance: float = 0.02, harmonics: int = 3, machine_group: str = "iso-20816-3:group2-rigid") -> tuple[dict[str, Any], EnvelopeSpectrum]:
    """Every characteristic line (amplitude, floor, ratio per harmonic), the fault type whose lines stand out most (or
    none), the envelope band, and the RMS velocity with its zone, as a JSON-ready dict; and the envelope spectrum."""
    spectrum = envelope_spectrum(x, fs, resolution_hz=resolution_hz)
    lines = geometry.frequencies(shaft_hz)
    found: dict[str, dict] = {}
    for fault, name in FAULT_FREQUENCY.items():
        peaks = harmonic_evidence(spectrum, name, lines[name], harmonics, tolerance)
        found[fault] = {"line": name, "expected_hz": round(lines[name], 2), "score": round(line_score(peaks), 3),
                        "harmonics": [{"name": p.name, "expected_hz": round(p.expected_hz, 2), "found_hz": round(p.found_hz, 2),
                                       "amplitude": float(f"{p.amplitude:.4g}"), "ratio": round(p.ratio, 2)} for p in peaks]}
    candidates = {f: v for f, v in found.items() if f != "cage"}
    best = max(candidates, key=lambda f: candidates[f]["score"])
    first = candidates[best]["harmonics"][0]["ratio"] if candidates[best]["harmonics"] else 0.0
    velocity = velocity_rms_mm_s(x, fs, unit)
    zone = severity_zone(velocity, machine_group)
    return {"bearing": geometry.name, "bearing_source": geometry.source, "shaft_hz": round(shaft_hz, 3),
            "characteristic_hz": {k: round(v, 2) for k, v in lines.items()}, "lines": found,
            "strongest": best if first >= STANDS_OUT else "none", "strongest_ratio": round(first, 2),
            "envelope_band_hz": [round(b, 1) for b in spectrum.band], "resolution_hz": round(spectrum.resolution_hz, 3),
            "tolerance": tolerance, "velocity_rms_mm_s": round(velocity, 3), "iso_zone": zone.zone, "iso_zone_meaning": zone.meaning,
            "iso_boundaries_mm_s": list(zone.boundaries), "machine_group": zone.machine_group, "machines": zone.machines}, spectrum
