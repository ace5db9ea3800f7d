"""Configuration of the data pipeline: dataset choice, windowing, CWT spectrograms, cache (paper §4.1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from syndiag.config.base import StrictModel

DATA_ROOT_ENV = "SYNDIAG_DATA"
CACHE_ENV = "SYNDIAG_CACHE"


def _ordered_snr_range(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"low {value[0]:g} dB above high {value[1]:g} dB")
    return value


SnrRange = Annotated[tuple[float, float], AfterValidator(_ordered_snr_range)]
"""An SNR interval in dB, low end first, from which noisy training copies draw their SNR uniformly."""


class WindowConfig(StrictModel):
    """Sliding windows (paper: 512 samples, step 256) and how many to keep per class and condition."""

    length: int = Field(512, ge=16)
    step: int = Field(256, ge=1)
    per_class: int = Field(200, ge=2, description="windows per class and condition, train pool + test")
    test_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="share of each recording kept for testing")

    @property
    def n_test(self) -> int:
        return max(1, round(self.per_class * self.test_fraction))

    @property
    def n_pool(self) -> int:
        return self.per_class - self.n_test


class SpectrogramConfig(StrictModel):
    """Continuous wavelet transform and its rendering as an image (paper: complex Morlet, 128 scales)."""

    wavelet: str = "cmor1.5-1.0"
    n_scales: int = Field(128, ge=2, le=1024)
    image_size: int = Field(224, ge=8, le=1024)
    colormap: str = "jet"
    log_magnitude: bool = False

    @field_validator("wavelet")
    @classmethod
    def _complex_morlet(cls, value: str) -> str:
        import pywt  # defers pywt (and its scipy): a config is read without the signal stack

        try:
            wavelet = pywt.ContinuousWavelet(value)
        except ValueError as exc:
            raise ValueError(f"unknown continuous wavelet {value!r}: {exc}") from None
        if not wavelet.complex_cwt:
            raise ValueError(f"wavelet {value!r} is real; the paper uses a complex Morlet ('cmorB-C')")
        return value

    @field_validator("colormap")
    @classmethod
    def _known_colormap(cls, value: str) -> str:
        import matplotlib  # defers matplotlib: a config is read without the plotting stack

        if value not in matplotlib.colormaps:
            raise ValueError(f"unknown matplotlib colormap {value!r}")
        return value


class CWRUOptions(StrictModel):
    """CWRU 12 kHz 19-class setup (paper §4.1)."""

    channels: list[Literal["DE", "FE"]] = Field(default_factory=lambda: ["DE"], min_length=1)
    loads: list[int] = Field(default_factory=lambda: [0, 1, 2, 3], min_length=1)
    missing_normal: Literal["disjoint_97", "reuse_97", "error"] = Field(
        "disjoint_97",
        description=(
            "what to do when the normal baseline of a load (98/99/100.mat) is absent: 'disjoint_97' gives "
            "each load its own disjoint quarter of 97.mat, 'reuse_97' uses all of 97.mat for every load, "
            "'error' refuses"
        ),
    )
    target_fs: float = Field(12000.0, gt=0, description="every recording is brought to this rate (97-100 are 48 kHz)")

    @field_validator("loads")
    @classmethod
    def _valid_loads(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if v not in (0, 1, 2, 3)]
        if bad:
            raise ValueError(f"CWRU loads are 0, 1, 2, 3 (HP); got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate loads in {value}")
        return value


class SEUOptions(StrictModel):
    """SEU gearbox, gear subset: 5 classes x 2 conditions (paper §4.1)."""

    column: int = Field(1, ge=0, le=7, description="0-based signal column of the 8 (1 = planetary gearbox x)")
    fs: float = Field(5120.0, gt=0, description="sampling rate; not stated by the dataset, 5120 Hz by third parties")
    conditions: list[Literal["20_0", "30_2"]] = Field(default_factory=lambda: ["20_0", "30_2"], min_length=1)


class SimulatorOptions(StrictModel):
    """Simulated CWRU-like rig used when no data root is given."""

    seconds: float = Field(10.0, gt=0.1, le=600)
    fs: float = Field(12000.0, ge=2000)
    seed: int = 0
    snr_db: float = Field(10.0, description="broadband noise level relative to the signal")


def resolve_data_root(given: Path | None) -> Path | None:
    """``given``, else ``$SYNDIAG_DATA``, else None."""
    if given is not None:
        return Path(given).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env).expanduser() if env else None


class DataConfig(StrictModel):
    """Everything that decides which windows and which spectrograms a run sees."""

    dataset: Literal["cwru", "seu", "custom", "simulated"] = "cwru"
    data_root: Path | None = Field(None, description=f"folder of real recordings; falls back to ${DATA_ROOT_ENV}")
    spec: Path | None = Field(None, description="YAML dataset spec, for dataset: custom")
    cache_dir: Path | None = Field(None, description=f"spectrogram cache; falls back to ${CACHE_ENV}, then .syndiag-cache")
    cache_content_hash: bool = Field(
        False,
        description="key the cache on a sha256 of every input file, not only its size and mtime (slower; notices a "
        "file rewritten with the same size and mtime)",
    )
    window: WindowConfig = WindowConfig()
    spectrogram: SpectrogramConfig = SpectrogramConfig()
    cwru: CWRUOptions = CWRUOptions()
    seu: SEUOptions = SEUOptions()
    simulator: SimulatorOptions = SimulatorOptions()

    @model_validator(mode="after")
    def _consistent(self) -> "DataConfig":
        if self.window.step > self.window.length * 4:
            raise ValueError(f"window.step {self.window.step} is far longer than window.length {self.window.length}")
        if self.dataset == "custom" and self.spec is None:
            raise ValueError("dataset 'custom' needs 'spec': the path of a YAML dataset spec")
        if self.window.n_pool < 1:
            raise ValueError(f"window.per_class={self.window.per_class} leaves no train-pool window")
        return self

    def resolved_data_root(self) -> Path | None:
        return resolve_data_root(self.data_root)

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        env = os.environ.get(CACHE_ENV)
        return Path(env).expanduser() if env else Path(".syndiag-cache")
