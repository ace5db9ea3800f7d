"""Settings of the time-series encoder's self-supervised pretraining: masked tokens rebuilt from unlabelled windows."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from syndiag.config.base import StrictModel


class MaskedTokenConfig(StrictModel):
    """Masked-token pretraining on every train-half window of the recipe's data (and of ``extra_data``), no labels."""

    epochs: int = Field(12, ge=1, description="passes over the unlabelled windows")
    mask_ratio: float = Field(0.4, gt=0, lt=1, description="share of a window's present tokens hidden and rebuilt")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=2)
    modality_dropout: float = Field(0.2, ge=0, lt=1, description="chance of dropping each channel of a window (one vibration channel stays)")
    max_windows: int | None = Field(None, ge=1, description="at most this many windows per source, evenly spaced (None: all)")
    extra_data: list[Path] = Field(default_factory=list, description="other data configs whose train-half windows are read too, "
                                   "each channel mapped onto the layout by kind and resampled to its rate (e.g. FEMTO learning bearings)")
