"""The shipped profiles (data, run recipes, benchmark settings) as package data, found from any working directory."""

from __future__ import annotations

from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "profiles"


def shipped_profiles() -> list[str]:
    """Every shipped profile as ``group/name.yaml``."""
    return sorted(str(p.relative_to(PROFILES)) for p in PROFILES.glob("*/*.yaml"))


def profile_path(path: str | Path, relative_to: Path | None = None) -> Path:
    """``path`` when it exists (as given, then beside ``relative_to``); else the shipped profile it names.

    ``configs/syndiag/cpu.yaml``, ``syndiag/cpu.yaml`` and ``syndiag/cpu`` all name the shipped cpu recipe.
    A path that names nothing is returned as given, so the reader's "not found" error names it.
    """
    path = Path(path).expanduser()
    if path.exists():
        return path
    if relative_to is not None and not path.is_absolute() and (relative_to / path).exists():
        return relative_to / path
    parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    if parts and not path.is_absolute():
        shipped = PROFILES.joinpath(*parts)
        shipped = shipped if shipped.suffix else shipped.with_suffix(".yaml")
        if shipped.is_file():
            return shipped
    return path
