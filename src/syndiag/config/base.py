"""Typed configuration shared by every command: pydantic models loaded from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from syndiag.config.profiles import profile_path, shipped_profiles
from syndiag.errors import ConfigError

T = TypeVar("T", bound="StrictModel")


class StrictModel(BaseModel):
    """A config section that rejects unknown keys, so a typo is an error rather than a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"{source}: invalid {cls.__name__}: {problems}") from None

    @classmethod
    def from_yaml(cls: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
        """Load ``path`` (a file, or the name of a shipped profile such as ``syndiag/cpu``) with dotted ``overrides``."""
        path = profile_path(path)
        data = read_yaml(path)
        for dotted, value in (overrides or {}).items():
            set_dotted(data, dotted, value)
        return cls.from_dict(data, source=str(path))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, a syntax error or a non-mapping top level is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (shipped profiles: {', '.join(shipped_profiles())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values, got {type(data).__name__}")
    return data


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['a']['b'] = value`` for ``dotted == 'a.b'``, creating sections as needed."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a section")
    node[keys[-1]] = value


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs as a dict of dotted keys to YAML-parsed values."""
    overrides: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {pair!r}: the value is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return overrides
