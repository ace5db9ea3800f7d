"""Vibration severity zone (A/B/C/D) of ISO 20816-3 from the broadband RMS velocity (issue 20): the acceleration is
integrated to velocity in the frequency domain over 10-1000 Hz; the zone limits per machine group are data
(``iso_zones.yaml``, with the standard they come from)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from syndiag.errors import ConfigError, DataError

STANDARD_GRAVITY = 9.80665
ZONE_MEANING = {"A": "newly commissioned condition", "B": "acceptable for unrestricted long-term operation",
                "C": "unsatisfactory for long-term continuous operation: plan remedial action", "D": "severe enough to cause damage"}


def zone_table() -> dict[str, dict]:
    return yaml.safe_load(resources.files("syndiag.physics").joinpath("iso_zones.yaml").read_text(encoding="utf-8"))


def velocity_rms_mm_s(acceleration, fs: float, unit: str = "g", band: tuple[float, float] = (10.0, 1000.0)) -> float:
    """RMS velocity in mm/s over ``band`` of an acceleration signal in ``unit`` (g or m/s^2), integrated as A(f) / (j 2 pi f)."""
    return float(np.sqrt(velocity_mean_square(acceleration, fs, unit, band)))


def velocity_mean_square(acceleration, fs: float, unit: str = "g", band: tuple[float, float] = (10.0, 1000.0)) -> float:
    """Mean square velocity in (mm/s)^2 (:func:`velocity_rms_mm_s` squared): segments' values average into a recording's."""
    a = np.asarray(acceleration, dtype=np.float64).ravel()
    if a.size < 2 or not np.isfinite(a).all():
        raise DataError("the acceleration signal is empty or holds NaN/Inf: no RMS velocity")
    if unit not in ("g", "m/s2"):
        raise ConfigError(f"acceleration unit {unit!r}: choose g or m/s2")
    if band[1] > fs / 2:
        raise DataError(f"the velocity band reaches {band[1]:g} Hz, above the Nyquist frequency {fs / 2:g} Hz of this recording")
    a = (a - a.mean()) * (STANDARD_GRAVITY if unit == "g" else 1.0)
    spectrum = np.fft.rfft(a)
    freqs = np.fft.rfftfreq(a.size, 1.0 / fs)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    velocity = np.zeros_like(spectrum)
    velocity[inside] = spectrum[inside] / (2j * np.pi * freqs[inside])
    v = np.fft.irfft(velocity, a.size) * 1000.0
    return float(np.mean(v**2))


@dataclass(frozen=True)
class Zone:
    zone: str
    velocity_mm_s: float
    boundaries: tuple[float, float, float]
    machine_group: str
    machines: str

    @property
    def meaning(self) -> str:
        return ZONE_MEANING[self.zone]


def severity_zone(velocity_mm_s: float, machine_group: str = "iso-20816-3:group2-rigid") -> Zone:
    """The zone of ``velocity_mm_s``: A below the A/B boundary, ..., D at or above C/D (a boundary value is the worse zone)."""
    table = zone_table()
    if machine_group not in table:
        raise ConfigError(f"unknown machine group {machine_group!r}; known: {', '.join(table)}")
    if not (np.isfinite(velocity_mm_s) and velocity_mm_s >= 0):
        raise DataError(f"RMS velocity must be a finite number >= 0 mm/s, got {velocity_mm_s}")
    entry = table[machine_group]
    boundaries = tuple(float(b) for b in entry["boundaries"])
    zone = "ABCD"[int(np.searchsorted(boundaries, velocity_mm_s, side="right"))]
    return Zone(zone, float(velocity_mm_s), boundaries, machine_group, entry["machines"])
