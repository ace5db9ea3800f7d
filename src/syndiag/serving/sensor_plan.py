"""What a sensor-model checkpoint needs to read a raw recording (LLaVA-for-Sensors: several sensors at their own
rates): its layout, data settings, classes and severity range, checked from its config.json before the model loads."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from syndiag.config.data import DataConfig
from syndiag.config.sensor import ChannelSpec
from syndiag.errors import ConfigError

SENSOR_KIND = "syndiag-sensor"
"""``config.json`` "model" of a sensor checkpoint (``syndiag.models.sensor.KIND``; named here so checking it imports no torch)."""
SEVERITY_UNITS = {"cwru": "in"}
"""The severity's unit by dataset: the CWRU defect diameter in inches."""


def is_sensor_checkpoint(folder: str | Path) -> bool:
    """Whether ``folder``'s config.json names a sensor model (read cheaply; False when unreadable)."""
    try:
        meta = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("model") == SENSOR_KIND


@dataclass(frozen=True)
class SensorCheckpoint:
    """What a sensor checkpoint needs to read a raw recording, checked from its config.json before the model loads."""

    folder: Path
    layout: list[ChannelSpec]
    data: DataConfig
    fs: float
    class_names: list[str]
    prompts: list[str]
    severity_range: tuple[float, float]
    grid: int | None  # side of the spectrogram extractor's token grid; None without spectrogram tokens
    stacked: list[str]  # channels the spectrogram stacks, top first ([] without spectrogram tokens)
    dropout: float  # modality dropout of the stage that trained the checkpoint last
    unit: str | None

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.layout]


def read_sensor_checkpoint(folder: str | Path, meta: dict | None = None) -> SensorCheckpoint:
    """The checked reading instructions of a sensor checkpoint (``meta``: its config.json, already read); a ConfigError
    names what is missing or inconsistent."""
    folder = Path(folder)
    path = folder / "config.json"
    try:
        meta = meta if meta is not None else json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable checkpoint config ({exc})") from None
    if not isinstance(meta, dict) or meta.get("model") != SENSOR_KIND:
        raise ConfigError(f"{folder}: not a sensor-model checkpoint ({path} names no model {SENSOR_KIND!r})")
    lacking = [k for k in ("layout", "data", "fs", "class_names", "prompts") if not meta.get(k)]
    if lacking:
        raise ConfigError(f"{folder}: the sensor checkpoint lacks {', '.join(lacking)} in {path}; save it with `syndiag sensor "
                          "finetune` (which records how its data were read) to diagnose recordings with it")
    if (meta.get("config") or {}).get("use_images"):
        raise ConfigError(f"{folder}: this sensor model reads camera / thermal frames, and diagnosing a recording file reads no frames "
                          "yet; evaluate it with `syndiag sensor evaluate` on data that carries them")
    layout = [ChannelSpec.from_dict(spec, source=f"{path} layout") for spec in meta["layout"]]
    data = DataConfig.from_dict(meta["data"], source=f"{path} data")
    fs = _positive(meta["fs"], f"{path}: fs")
    names = [spec.name for spec in layout]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: duplicate channel names in the layout {names}")
    if len(meta["class_names"]) != len(meta["prompts"]):
        raise ConfigError(f"{path}: {len(meta['class_names'])} class names but {len(meta['prompts'])} prompts")
    extractor = meta.get("extractor")
    grid, stacked = None, []
    if extractor:
        grid, stacked = int(extractor["grid"]), list(data.cwru.channels)
        for name in stacked:
            spec = next((s for s in layout if s.name == name), None)
            if spec is None or not math.isclose(float(spec.fs), fs, rel_tol=1e-9):
                what = "lacks it" if spec is None else f"has it at {spec.fs:g} Hz"
                raise ConfigError(f"{folder}: its spectrogram stacks channel {name!r} at {fs:g} Hz (data.cwru.channels), but its "
                                  f"layout {what}: a checkpoint of another layout than its data")
    dropout = meta.get("modality_dropout") or {}
    stage = "finetune" if "task" in meta or meta.get("stage") == "finetuned" else "align"
    return SensorCheckpoint(folder, layout, data, fs, list(meta["class_names"]), list(meta["prompts"]),
                            _severity_range(meta.get("severity_range"), path), grid, stacked,
                            float(dropout.get(stage, 0.0) or 0.0) if isinstance(dropout, dict) else 0.0,
                            SEVERITY_UNITS.get(data.dataset))


def _positive(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a positive number, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return number


def _severity_range(value, path: Path) -> tuple[float, float]:
    if value is None:
        return (0.0, 1.0)
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: severity_range must be [low, high], got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{path}: severity_range must be finite with low < high, got {value!r}")
    return low, high
