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
    FOREIGN_BINS,
    EnvelopeAverage,
    EnvelopeSpectrum,
    array_segments,
    harmonic_name,
    harmonic_distance,
    peak_at,
    resolvable,
    samples_per_segment,
    unchecked_reason,
)
from syndiag.physics.iso_zones import severity_zone, velocity_mean_square

STANDS_OUT = 3.0
"""Peak-to-floor ratio from which a line counts as present."""
IMPULSIVE = 2.0
"""Envelope kurtosis (excess over a Gaussian signal's envelope, which gives 0) of the spectral-kurtosis band from which
a signal with no race line standing out is called impulsive: a rolling-element (ball) defect strikes the races
irregularly as the ball's spin axis wanders, so its impacts show as spikiness more than as a steady 2xBSF line. Chosen
by physics (twice a Rayleigh envelope's fourth moment) and checked on the tuning subset only (first halves of the 1 and
2 HP CWRU recordings), never on the evaluated segments."""


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


def foreign_lines(shaft_hz: float, mains_hz: float | None) -> list[float]:
    """Fundamentals of the harmonic series that are not a bearing's: the shaft's and, when the machine's mains
    frequency is known, the mains'."""
    return [shaft_hz] + ([mains_hz] if mains_hz else [])


def coincides(spectrum: EnvelopeSpectrum, name: str, hz: float, foreign) -> str | None:
    """Why a line at ``hz`` cannot be told from a shaft or mains harmonic (``foreign``) at the spectrum's resolution (the
    CWRU fan-end bearing's 2xBSF, 3.988 x the shaft speed, lies 0.3 % from its 4th harmonic), or None."""
    width = FOREIGN_BINS * spectrum.resolution_hz
    near = [s for s in resolvable(spectrum, foreign) if harmonic_distance(hz, s) <= width]
    if not near:
        return None
    at = max(round(hz / near[0]), 1) * near[0]
    return (f"{name} at {hz:.1f} Hz lies within {width:.2g} Hz of the line at {at:.1f} Hz (a harmonic of {near[0]:.2f} Hz, the shaft's or the mains'), "
            f"which a {spectrum.resolution_hz:.2g} Hz resolution cannot tell apart: record longer and give a finer resolution (--set resolution_hz=...)")


def sidebands(spectrum: EnvelopeSpectrum, hz: float, spacing: float, tolerance: float, foreign=()) -> dict[str, Any] | None:
    """Peak-to-floor ratios of the lines at ``hz`` ± ``spacing`` (a ball defect's 2xBSF modulated by the cage's FTF as
    the ball passes in and out of the load zone), or None when the spectrum cannot show them."""
    if any(unchecked_reason(spectrum, "sideband", f, tolerance) for f in (hz - spacing, hz + spacing)):
        return None
    peaks = [peak_at(spectrum, "sideband", f, tolerance, foreign=foreign) for f in (hz - spacing, hz + spacing)]
    return {"spacing_hz": round(spacing, 2), "ratios": [round(p.ratio, 2) for p in peaks], "found_hz": [round(p.found_hz, 2) for p in peaks]}


def line_evidence(spectrum: EnvelopeSpectrum, name: str, hz: float, harmonics: int, tolerance: float, foreign=()) -> dict[str, Any]:
    """A characteristic line's peaks at its first ``harmonics`` multiples (shaft and mains harmonics, ``foreign``, left
    out of the search; a harmonic that coincides with one of them left out, with the reason), or, when the spectrum
    cannot show one of them or the line itself coincides with one, why it was not checked (never a verdict on a line
    that could not be seen)."""
    line = {"line": name, "expected_hz": round(hz, 2)}
    kept, skipped = [], []
    for h in range(1, harmonics + 1):
        fewer = f"check only {h - 1} harmonic(s) (--set harmonics={h - 1})" if h > 1 else None
        reason = unchecked_reason(spectrum, harmonic_name(name, h), h * hz, tolerance, fewer)
        same = coincides(spectrum, harmonic_name(name, h), h * hz, foreign)
        if reason is not None or (same is not None and h == 1):
            return {**line, "checked": False, "not_checkable": reason or same, "score": None, "harmonics": []}
        (kept if same is None else skipped).append(h if same is None else same)
    peaks = [peak_at(spectrum, harmonic_name(name, h), h * hz, tolerance, foreign=foreign) for h in kept]
    return {**line, "checked": True, "not_checkable": None, "score": round(line_score(peaks), 3), "harmonics_left_out": skipped,
            "harmonics": [{"name": p.name, "expected_hz": round(p.expected_hz, 2), "found_hz": round(p.found_hz, 2),
                           "amplitude": float(f"{p.amplitude:.4g}"), "ratio": round(p.ratio, 2)} for p in peaks]}


def verdict(found: dict[str, dict], kurtosis: float) -> tuple[str, float, str]:
    """The fault type the evidence names, the first-harmonic ratio of its line, and on what basis: the checked line
    (inner race, outer race, ball) whose harmonics stand out most when its first harmonic is :data:`STANDS_OUT` times
    its floor; else ball when the envelope is impulsive (:data:`IMPULSIVE`) and both race lines were checked and none
    stands out; else none."""
    candidates = {f: v for f, v in found.items() if f != "cage" and v["checked"]}
    best = max(candidates, key=lambda f: candidates[f]["score"]) if candidates else None
    first = candidates[best]["harmonics"][0]["ratio"] if best is not None else 0.0
    if best is not None and first >= STANDS_OUT:
        return best, first, f"the {found[best]['line']} line stands out {first:.1f} times above its floor"
    races = all(found[f]["checked"] for f in ("inner_race", "outer_race"))
    if races and math.isfinite(kurtosis) and kurtosis >= IMPULSIVE:
        return "ball", candidates["ball"]["harmonics"][0]["ratio"] if "ball" in candidates else 0.0, (
            f"impulsive envelope (kurtosis {kurtosis:.1f}) with no race line standing out: a rolling-element defect's irregular "
            "impacts (tentative: looseness or rubbing can be impulsive too)")
    return "none", first, "no characteristic line stands out and the envelope is not impulsive"


def confusable(spectrum: EnvelopeSpectrum, found: dict[str, dict], best: str) -> list[str]:
    """The other checked fault types whose line lies within 2 x :data:`FOREIGN_BINS` resolution steps of ``best``'s:
    at this resolution the spectrum cannot tell them apart (a FEMTO snapshot's 10 Hz cannot separate BPFI, 221.7 Hz,
    from 2xBSF, 215.3 Hz; 1 Hz can)."""
    if best not in found or not found[best].get("checked"):
        return []
    hz, width = found[best]["expected_hz"], 2 * FOREIGN_BINS * spectrum.resolution_hz
    return [f for f, v in found.items() if f not in (best, "cage") and v.get("checked") and abs(v["expected_hz"] - hz) <= width]


def bearing_evidence(x, fs: float, geometry: BearingGeometry, shaft_hz: float, *, unit: str = "g", resolution_hz: float = 1.0,
                     tolerance: float = 0.02, harmonics: int = 3, machine_group: str = "iso-20816-3:group2-rigid",
                     mains_hz: float | None = None) -> tuple[dict[str, Any], EnvelopeSpectrum]:
    """Every characteristic line (amplitude, floor, ratio per harmonic, or why it is not checkable; shaft and, given
    ``mains_hz``, mains harmonics never taken for one), the 2xBSF line's FTF sidebands, the fault type the evidence names
    (:func:`verdict`), the envelope band and its kurtosis, and the RMS velocity with its zone, as a JSON-ready dict;
    and the envelope spectrum. ``x``: a 1-D signal, or an iterable of its segments of 1 / ``resolution_hz`` s (read once)."""
    segments = array_segments(x, fs, resolution_hz) if isinstance(x, np.ndarray) else x
    spectrum, velocity, count = averaged(segments, fs, resolution_hz, unit)
    lines = geometry.frequencies(shaft_hz)
    foreign = foreign_lines(shaft_hz, mains_hz)
    found = {fault: line_evidence(spectrum, name, lines[name], harmonics, tolerance, foreign) for fault, name in FAULT_FREQUENCY.items()}
    if found["ball"]["checked"]:
        found["ball"]["ftf_sidebands"] = sidebands(spectrum, lines["2xBSF"], lines["FTF"], tolerance / 2, foreign)
    best, first, basis = verdict(found, spectrum.kurtosis)
    twins = confusable(spectrum, found, best) if best != "none" and not basis.startswith("impulsive") else []
    if twins:
        basis += (f"; it lies within three resolution steps of {', '.join(found[f]['line'] for f in twins)} at this "
                  f"{spectrum.resolution_hz:.2g} Hz resolution, which cannot tell {best.replace('_', ' ')} from "
                  f"{', '.join(f.replace('_', ' ') for f in twins)}: record longer for a finer resolution")
    zone = severity_zone(velocity, machine_group)
    return {"bearing": geometry.name, "bearing_source": geometry.source, "shaft_hz": round(shaft_hz, 3),
            "characteristic_hz": {k: round(v, 2) for k, v in lines.items()}, "lines": found,
            "strongest": best, "strongest_ratio": round(first, 2), "strongest_basis": basis, "confusable_with": twins,
            "envelope_kurtosis": round(spectrum.kurtosis, 2) if math.isfinite(spectrum.kurtosis) else None,
            "unchecked": {v["line"]: v["not_checkable"] for v in found.values() if not v["checked"]}, "warnings": [],
            "envelope_band_hz": [round(b, 1) for b in spectrum.band], "resolution_hz": round(spectrum.resolution_hz, 3),
            "segments": count, "tolerance": tolerance, "velocity_rms_mm_s": round(velocity, 3), "iso_zone": zone.zone,
            "iso_zone_meaning": zone.meaning, "iso_boundaries_mm_s": list(zone.boundaries), "machine_group": zone.machine_group,
            "machines": zone.machines}, spectrum
