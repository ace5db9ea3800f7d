"""A thermal-camera simulator of the CWRU rig's bearing housings (LLaVA-for-Sensors article, 'Input: ... thermal imaging').

No paired vibration + thermal data is reachable, so the images are simulated (:data:`~syndiag.data.simulator.SIMULATED_NOTE`):
a top view of the rig with the drive-end housing on the left half of the image and the fan-end housing on the right
half. The housings warm with the motor load (so does the background, less); a faulty bearing adds a hot spot on its
own housing whose temperature rise grows with the defect diameter and the load (friction heat), placed by the fault's
kind (inner race near the shaft, outer race in the load zone below it, ball between); each frame has its own sensor
noise. A crack (the article's 'normal vibration but visible crack') is a thin hot streak across a housing. Temperatures
are rendered through the fixed 'inferno' colormap over :data:`CELSIUS_RANGE` (so a colour is one temperature in every
image); :func:`celsius_of` reads them back. Frames are written as PNG files with a CSV index and read back by
:func:`write_frames` / :func:`read_frames`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_file, atomic_write_text
from syndiag.data.colormap import colormap_lut
from syndiag.data.cwru_classes import (
    BEARING_ENDS,
    CWRU_LOADS,
    FAULT_KINDS,
    FAULT_SIZES,
    NORMAL,
)
from syndiag.data.simulator import SIMULATED_NOTE
from syndiag.errors import DataError

THERMAL_SIZE = 64
COLORMAP = "inferno"
CELSIUS_RANGE = (20.0, 80.0)
"""Temperatures the colormap spans: below is its darkest colour, above its brightest."""
AMBIENT_C = 22.0
BACKGROUND_C_PER_HP = 0.5
HOUSING_C = 32.0
"""A housing of the running motor at no load."""
HOUSING_C_PER_HP = 4.0
SPOT_C_PER_MIL = 0.8
"""Hot-spot rise per thousandth of an inch of defect diameter, at no load."""
SPOT_LOAD_GAIN = 0.2
"""Relative growth of the hot spot's rise per HP of load."""
CRACK_C = 12.0
PIXEL_NOISE_C = 0.4
FRAME_OFFSET_C = 0.3
HOUSINGS = {"DE": (0.5, 0.25, 0.19), "FE": (0.5, 0.75, 0.17)}
"""Housing centre (row, column) and radius as fractions of the image side: drive end left, fan end right."""
SPOT_ROW = {"IR": 0.0, "B": 0.4, "OR": 0.75}
"""Hot-spot offset below the housing centre, in housing radii (the load zone is at the bottom)."""
INDEX_FILE = "frames.csv"


@dataclass(frozen=True)
class ThermalScene:
    """What the camera sees: the load, the faulty bearing (end, kind, diameter in inches; None when healthy), a crack."""

    load_hp: int
    fault_end: str | None = None
    fault_kind: str | None = None
    diameter_in: float = 0.0
    crack_end: str | None = None


def scene_of(label: str, load_hp: int, crack_end: str | None = None) -> ThermalScene:
    """The scene of CWRU class ``label`` (``normal``, ``DE_IR014``, ``FE_B007``...) at ``load_hp``, with an optional crack."""
    if load_hp not in CWRU_LOADS:
        raise DataError(f"CWRU load {load_hp!r} HP is unknown; the rig has loads {sorted(CWRU_LOADS)}")
    if crack_end is not None and crack_end not in HOUSINGS:
        raise DataError(f"crack_end {crack_end!r}: the housings are {list(HOUSINGS)}")
    if label == NORMAL:
        return ThermalScene(load_hp, crack_end=crack_end)
    end, _, rest = label.partition("_")
    kind, size = rest[:-3], rest[-3:]
    if end not in BEARING_ENDS or kind not in FAULT_KINDS or size not in FAULT_SIZES:
        raise DataError(f"unknown CWRU class {label!r} for the thermal simulator (normal or END_KINDsize, e.g. DE_IR014)")
    return ThermalScene(load_hp, end, kind, int(size) / 1000, crack_end)


def _disc(rows: np.ndarray, cols: np.ndarray, centre: tuple[float, float], radius: float) -> np.ndarray:
    """1 inside a disc, 0 outside, with a one-pixel soft edge."""
    distance = np.hypot(rows - centre[0], cols - centre[1])
    return 1.0 / (1.0 + np.exp((distance - radius) / 0.7))


def thermal_celsius(scene: ThermalScene, rng: np.random.Generator, size: int = THERMAL_SIZE,
                    jitter: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The temperature field (size, size) in degrees C of one frame; ``jitter`` moves the hot spot by (rows, cols) pixels."""
    if size < 16:
        raise DataError(f"thermal images need at least 16 x 16 pixels, got {size}")
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    field = np.full((size, size), AMBIENT_C + BACKGROUND_C_PER_HP * scene.load_hp)
    housing = HOUSING_C + HOUSING_C_PER_HP * scene.load_hp
    shaft = (np.abs(rows - 0.5 * size) < 0.04 * size) & (cols > 0.25 * size) & (cols < 0.75 * size)
    field += 0.5 * (housing - field) * shaft
    for row, col, radius in HOUSINGS.values():
        field += (housing - field) * _disc(rows, cols, (row * size, col * size), radius * size)
    if scene.fault_end is not None:
        row, col, radius = HOUSINGS[scene.fault_end]
        centre = ((row + SPOT_ROW[scene.fault_kind] * radius) * size + jitter[0], col * size + jitter[1])
        rise = SPOT_C_PER_MIL * scene.diameter_in * 1000 * (1 + SPOT_LOAD_GAIN * scene.load_hp)
        sigma = (0.06 + 1.5 * scene.diameter_in) * size
        field += rise * np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))
    if scene.crack_end is not None:
        row, col, radius = HOUSINGS[scene.crack_end]
        angle = math.radians(35.0)
        r0, c0 = row * size, col * size
        along = (rows - r0) * math.sin(angle) + (cols - c0) * math.cos(angle)
        across = (rows - r0) * math.cos(angle) - (cols - c0) * math.sin(angle)
        streak = np.exp(-(across**2) / (2 * 0.6**2)) * (np.abs(along) < 0.8 * radius * size)
        field += CRACK_C * streak
    field += FRAME_OFFSET_C * rng.standard_normal() + PIXEL_NOISE_C * rng.standard_normal((size, size))
    return field


def render(celsius: np.ndarray) -> np.ndarray:
    """Temperatures -> (H, W, 3) uint8 through the colormap over :data:`CELSIUS_RANGE`."""
    low, high = CELSIUS_RANGE
    index = np.clip(np.round((np.asarray(celsius) - low) / (high - low) * 255), 0, 255).astype(np.int64)
    return colormap_lut(COLORMAP)[index]


def celsius_of(image: np.ndarray) -> np.ndarray:
    """Read temperatures back from a rendered image (the nearest colormap entry of each pixel), (H, W) degrees C."""
    lut = colormap_lut(COLORMAP).astype(np.int64)
    pixels = np.asarray(image, dtype=np.int64).reshape(-1, 3)
    keys, codes = lut @ np.array([65536, 256, 1]), pixels @ np.array([65536, 256, 1])
    order = np.argsort(keys)
    at = np.clip(np.searchsorted(keys[order], codes), 0, len(keys) - 1)
    index = order[at]
    inexact = keys[index] != codes  # a colour off the colormap (a resized or recompressed image): the nearest entry
    if inexact.any():
        index[inexact] = np.argmin(((pixels[inexact, None, :] - lut[None]) ** 2).sum(-1), axis=1)
    low, high = CELSIUS_RANGE
    return (low + index / 255 * (high - low)).reshape(np.asarray(image).shape[:2])


def thermal_image(label: str, load_hp: int, rng: np.random.Generator, size: int = THERMAL_SIZE, crack_end: str | None = None) -> np.ndarray:
    """One simulated thermal frame (size, size, 3) uint8 of CWRU class ``label`` at ``load_hp``."""
    return render(thermal_celsius(scene_of(label, load_hp, crack_end), rng, size))


def thermal_frames(label: str, load_hp: int, seconds: float, rng: np.random.Generator, period_s: float = 1.0, first_s: float = 0.5,
                   size: int = THERMAL_SIZE, crack_end: str | None = None) -> list[tuple[float, np.ndarray]]:
    """Frames every ``period_s`` from ``first_s`` while within ``seconds``: the camera holds its place (one spot jitter per
    recording), each frame has its own noise."""
    if not (period_s > 0 and math.isfinite(period_s)) or not (first_s >= 0 and math.isfinite(first_s)):
        raise DataError(f"thermal frames: period_s must be positive and first_s non-negative, got {period_s}, {first_s}")
    scene = scene_of(label, load_hp, crack_end)
    jitter = (float(rng.normal(0, 1.0)), float(rng.normal(0, 1.0)))
    times = first_s + period_s * np.arange(max(0, math.ceil((seconds - first_s) / period_s)))
    return [(float(t), render(thermal_celsius(scene, rng, size, jitter))) for t in times if t < seconds]


# --- files ----------------------------------------------------------------------------------------------------------


def write_frames(frames: dict[str, list[tuple[float, np.ndarray]]], out_dir: str | Path, note: str = SIMULATED_NOTE) -> Path:
    """Each recording's frames as ``{recording}_{k:03d}.png`` in ``out_dir`` and one index ``frames.csv`` (recording, time_s,
    file) whose first line is ``# note``; PNGs carry the note as their Description. Returns the index's path."""
    import matplotlib.image  # defers matplotlib: PNGs are written only when frames are saved

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["recording", "time_s", "file"])
    for recording, items in frames.items():
        for k, (time_s, image) in enumerate(items):
            name = f"{recording}_{k:03d}.png"
            with atomic_file(out / name) as handle:
                matplotlib.image.imsave(handle, np.asarray(image, dtype=np.uint8), format="png", metadata={"Description": note})
            writer.writerow([recording, repr(float(time_s)), name])
    return atomic_write_text(out / INDEX_FILE, f"# {note}\n{rows.getvalue()}")


def read_image(path: Path) -> np.ndarray:
    """A PNG as (H, W, 3) uint8; a file that does not decode is a DataError naming it."""
    import matplotlib.image  # defers matplotlib: PNGs are decoded only when frames are read

    try:
        pixels = np.asarray(matplotlib.image.imread(path, format="png"))
    except Exception as exc:  # PIL and matplotlib raise many types for a broken file
        raise DataError(f"{path}: not a readable PNG image ({type(exc).__name__}: {exc})") from None
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise DataError(f"{path}: expected an RGB image, got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255)
    return pixels[..., :3].astype(np.uint8)


def read_frames(folder: str | Path) -> dict[str, list[tuple[float, np.ndarray]]]:
    """The frames written by :func:`write_frames`, per recording in time order; a bad index row or image is a DataError."""
    index = Path(folder) / INDEX_FILE
    if not index.is_file():
        raise DataError(f"{index}: no thermal frame index there")
    lines = [line for line in index.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    frames: dict[str, list[tuple[float, np.ndarray]]] = {}
    for i, row in enumerate(csv.DictReader(lines), start=2):
        try:
            time_s = float(row["time_s"])
            recording, name = row["recording"], row["file"]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{index}: row {i} needs recording, a numeric time_s and file, got {dict(row)}") from None
        if not math.isfinite(time_s) or not name or Path(name).name != name:
            raise DataError(f"{index}: row {i}: time {row['time_s']!r} or file {name!r} is not valid (a file name in {index.parent})")
        frames.setdefault(recording, []).append((time_s, read_image(index.parent / name)))
    return {k: sorted(v, key=lambda item: item[0]) for k, v in frames.items()}
