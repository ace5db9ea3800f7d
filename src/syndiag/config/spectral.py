"""Settings of the discriminant spectrum path (the diagnosis model's full-resolution spectrum and its few-shot head)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from syndiag.config.base import StrictModel
from syndiag.config.data import SnrRange


class SpectralPathConfig(StrictModel):
    """How the spectrum path is fitted on the labelled multi-condition pool and its prototypes on the support set."""

    components: list[int] = Field(default_factory=lambda: [40, 80, 160], min_length=1,
                                  description="principal components kept before the discriminant; the best by validation on the pool")
    noise_copies: int = Field(3, ge=0, le=10, description="noisy copies of every pool and support window the path is fitted on")
    noise_snr_db: SnrRange = Field((-8.0, 10.0), description="SNR range (dB) of those copies, drawn uniformly")
    validation_snr_db: float = Field(0.0, description="the pool's held-out half is also scored at this SNR when choosing")
    pool: Literal["every condition", "other conditions"] = Field(
        "every condition", description="which conditions of the labelled pool the path is fitted on: every one (the pretraining "
        "protocol), or only those other than the task's source and target (a stricter test: the path never saw their labels)")
    order_view: bool = Field(False, description="add the spectrum on an axis of shaft orders (needs the rpm of every window)")
    labels: Literal["pool", "none"] = Field(
        "pool", description="pool: the linear discriminants of the labelled pool; none: no labels, the whitened principal "
        "components of every train-half window of the data (unlabelled, all conditions); the labelled pool then only "
        "scores the choice of components")
    chain_copies: int = Field(0, ge=0, le=10, description="copies of every pool and support window seen through a random recording "
                              "chain: a gain and resonances added to each channel's log spectrum")
    chain_gain_db: float = Field(10.0, gt=0, le=40, description="largest gain (dB) of one random resonance of those chains")
    segments: list[Annotated[int, Field(ge=16)]] = Field(
        default_factory=list, description="Welch segment lengths (samples at the training rate) the spectrum's resolution is chosen "
        "from, with the components, by validation on the pool; a longer window is the average of its segments' spectra (long "
        "windows). Empty: one segment, the whole window (its full FFT); segments longer than the window are left out")

    def material(self) -> dict:
        """The settings that decide a result: every field, but the ones added later left out while at their defaults."""
        dumped = self.model_dump(mode="json")
        return {k: v for k, v in dumped.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


LATER_FIELDS = {"chain_copies": 0, "chain_gain_db": 10.0, "labels": "pool", "segments": []}
"""Fields added after results were first keyed by these settings."""
