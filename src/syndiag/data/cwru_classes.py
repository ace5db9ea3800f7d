"""The 19 CWRU health states, their prompts, and the motor loads of the rig (shared by loader and simulator)."""

from __future__ import annotations

from syndiag.data.recording import FaultClass
from syndiag.errors import DataError

CWRU_LOADS: dict[int, int] = {0: 1797, 1: 1772, 2: 1750, 3: 1730}
"""Motor load in HP -> nominal shaft speed in rpm."""

BEARING_ENDS: dict[str, str] = {"DE": "motor end", "FE": "fan end"}
FAULT_KINDS: dict[str, str] = {"IR": "inner race", "B": "ball", "OR": "outer race"}
FAULT_SIZES: tuple[str, ...] = ("007", "014", "021")
"""Defect diameters in thousandths of an inch, as CWRU spells them in class names."""

NORMAL = "normal"


def cwru_classes() -> list[FaultClass]:
    """``normal``, then DE then FE faults, each IR, B, OR by diameter 0.007, 0.014, 0.021 in."""
    classes = [FaultClass(NORMAL, "normal operation")]
    for end, end_text in BEARING_ENDS.items():
        for kind, kind_text in FAULT_KINDS.items():
            for size in FAULT_SIZES:
                classes.append(
                    FaultClass(f"{end}_{kind}{size}", f"{kind_text} fault at {end_text} with diameter 0.{size} inches")
                )
    return classes


def condition_name(load_hp: int) -> str:
    """The condition name of a motor load, after its shaft speed: 0 HP -> ``"1797rpm"``."""
    if load_hp not in CWRU_LOADS:
        raise DataError(f"CWRU load {load_hp!r} HP is unknown; the rig has loads {sorted(CWRU_LOADS)}")
    return f"{CWRU_LOADS[load_hp]}rpm"
