"""Bearing characteristic (defect) frequencies from geometry and shaft speed (issue 20), with the geometries shipped as data.

For n rolling elements of diameter d on a pitch diameter D with contact angle a, shaft frequency f_r, and r = d/D cos a:
FTF = f_r/2 (1 - r), BPFO = n f_r/2 (1 - r), BPFI = n f_r/2 (1 + r), BSF = D/(2d) f_r (1 - r^2); a ball defect strikes
both races once per spin, so it shows at 2 BSF.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import yaml
from pydantic import Field, model_validator

from syndiag.config.base import StrictModel, read_yaml
from syndiag.errors import ConfigError

CATALOGUE = "bearings.yaml"
FAULT_FREQUENCY = {"inner_race": "BPFI", "outer_race": "BPFO", "ball": "2xBSF", "cage": "FTF"}
"""Which characteristic frequency each fault type excites."""


class BearingGeometry(StrictModel):
    """A rolling-element bearing: element count, ball and pitch diameters (one unit), contact angle, and where they come from."""

    name: str = Field(min_length=1)
    rolling_elements: int = Field(ge=3, le=200)
    ball_diameter: float = Field(gt=0)
    pitch_diameter: float = Field(gt=0)
    contact_angle_deg: float = Field(0.0, ge=0, lt=90)
    unit: str = "mm"
    max_rpm: float | None = Field(None, gt=0, description="the bearing's limiting speed, where its maker states one: a faster shaft is refused")
    source: str = Field("given by the user", min_length=1)

    @model_validator(mode="after")
    def _possible(self) -> "BearingGeometry":
        if self.ball_diameter >= self.pitch_diameter:
            raise ValueError(f"ball diameter {self.ball_diameter} must be smaller than the pitch diameter {self.pitch_diameter}: "
                             "no bearing has balls as wide as the circle through their centres")
        return self

    @property
    def ratio(self) -> float:
        return self.ball_diameter / self.pitch_diameter * math.cos(math.radians(self.contact_angle_deg))

    def orders(self) -> dict[str, float]:
        """Characteristic frequencies as multiples of the shaft frequency."""
        n, r = self.rolling_elements, self.ratio
        bsf = self.pitch_diameter / (2 * self.ball_diameter) * (1 - r**2)
        return {"FTF": (1 - r) / 2, "BPFO": n / 2 * (1 - r), "BPFI": n / 2 * (1 + r), "BSF": bsf, "2xBSF": 2 * bsf}

    def frequencies(self, shaft_hz: float) -> dict[str, float]:
        """Characteristic frequencies in Hz at ``shaft_hz`` (shaft speed / 60); a speed above ``max_rpm`` refused."""
        if not (math.isfinite(shaft_hz) and shaft_hz > 0):
            raise ConfigError(f"shaft frequency must be a positive number of Hz, got {shaft_hz}")
        if self.max_rpm is not None and shaft_hz * 60 > self.max_rpm:
            raise ConfigError(f"a shaft speed of {shaft_hz * 60:g} rpm lies above the {self.max_rpm:g} rpm limiting speed of the bearing "
                              f"{self.name} ({self.source}): check --rpm and --bearing")
        return {name: order * shaft_hz for name, order in self.orders().items()}


def catalogue() -> dict[str, dict]:
    return yaml.safe_load(resources.files("syndiag.physics").joinpath(CATALOGUE).read_text(encoding="utf-8"))


def bearing(name_or_file: str | Path) -> BearingGeometry:
    """A shipped geometry by name (cwru-drive-end, cwru-fan-end, femto-pronostia) or one from a YAML file."""
    shipped = catalogue()
    if str(name_or_file) in shipped:
        return BearingGeometry.from_dict(shipped[str(name_or_file)], source=f"{CATALOGUE}:{name_or_file}")
    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml"):
        return BearingGeometry.from_dict(read_yaml(path), source=str(path))
    raise ConfigError(f"unknown bearing {str(name_or_file)!r}: give one of {', '.join(shipped)} or a YAML file with name, "
                      "rolling_elements, ball_diameter, pitch_diameter (same unit), contact_angle_deg")
