"""The machine a recording comes from as a setting (issue 31): its ISO zone group or class, the bearing behind each
vibration channel and its speed range, shipped as data (``machines.yaml``) with their sources, never a silent default."""

from __future__ import annotations

from importlib import resources

import yaml
from pydantic import Field

from syndiag.config.base import StrictModel
from syndiag.errors import ConfigError


class Machine(StrictModel):
    """A machine: ISO zone table key (``iso_zones.yaml``), bearing per channel, the shaft speeds it runs at, its source."""

    name: str = Field(min_length=1)
    machine_group: str = Field(min_length=1)
    bearings: dict[str, str] = Field(default_factory=dict)
    rpm_range: tuple[float, float] | None = None
    mains_hz: float | None = Field(None, gt=0, description="the supply's frequency (60 Hz in the US, 50 Hz in Europe)")
    source: str = Field(min_length=1)

    def check_rpm(self, rpm: float, what: str) -> float:
        """``rpm`` when inside the machine's speed range, else a ConfigError naming ``what``, the value and the range."""
        if self.rpm_range is not None and not self.rpm_range[0] <= rpm <= self.rpm_range[1]:
            low, high = self.rpm_range
            raise ConfigError(f"{what} = {rpm:g} rpm lies outside the {low:g}-{high:g} rpm that the {self.name} runs at: "
                              "check the speed (--rpm), or name another machine (--set machine=...) or its group (--machine-group)")
        return float(rpm)


def machines() -> dict[str, dict]:
    return yaml.safe_load(resources.files("syndiag.physics").joinpath("machines.yaml").read_text(encoding="utf-8"))


def machine(name: str) -> Machine:
    """A shipped machine by name (cwru-rig, femto-pronostia)."""
    shipped = machines()
    if name not in shipped:
        raise ConfigError(f"unknown machine {name!r}: give one of {', '.join(shipped)}, or its ISO group with --machine-group")
    return Machine.from_dict(shipped[name], source=f"machines.yaml:{name}")
