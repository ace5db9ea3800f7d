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
    jitter_copies: int = Field(0, ge=0, le=10, description="copies of every pool and support window time-scaled (resampled) by a "
                               "random factor within +-jitter_percent: every shaft-related line moves by that share (speed drift)")
    jitter_percent: float = Field(3.0, gt=0, le=20, description="largest change (%) of the operating speed in those copies")
    dropout_copies: int = Field(0, ge=0, le=10, description="copies of every pool and support window with one vibration channel, drawn "
                                "at random, read as absent (the mean spectrum), so that the other channel's spectrum stays intact")
    resample_copies: int = Field(0, ge=0, le=10, description="copies of every pool and support window resampled to 2, 3 or 4 times "
                                 "its rate and read there (the resampling filter's effect on the spectrum)")
    segments: list[Annotated[int, Field(ge=16)]] = Field(
        default_factory=list, description="Welch segment lengths (samples at the training rate) the spectrum's resolution is chosen "
        "from, with the components, by validation on the pool; a longer window is the average of its segments' spectra (long "
        "windows). Empty: one segment, the whole window (its full FFT); segments longer than the window are left out")

    components_by: Literal["halves", "other loads"] = Field(
        "halves", description="how the number of components is chosen on the labelled pool: prototypes of one half of every "
        "class and condition scoring the other half (halves), or those of all conditions but one scoring the one left out, "
        "for each condition (other loads: what a model trained at one load meets at another)")
    components_choice: Literal["best", "fewest within one standard error"] = Field(
        "best", description="which number of components that validation picks: the best score, or the fewest whose score is "
        "within one standard error of the best (a near-tie goes to the simpler discriminant)")
    mix_holdout: int = Field(0, ge=0, le=20, description="windows per class and condition of the sensor model's labelled pool kept "
                             "out of stage (a) and the discriminant; its mix of fault head and prototypes is then chosen on them "
                             "alone (0: on the pool's windows outside the support set, which stage (a) was trained on)")
    mix_holdout_of: Literal["alignment and discriminant", "alignment"] = Field(
        "alignment and discriminant", description="what those windows are kept out of: stage (a) and the discriminant, or stage "
        "(a) only (the discriminant then fits the whole pool; it needs every window of it across loads)")

    def material(self) -> dict:
        """The settings that decide a result: every field, but the ones added later left out while at their defaults."""
        dumped = self.model_dump(mode="json")
        return {k: v for k, v in dumped.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


LATER_FIELDS = {"chain_copies": 0, "chain_gain_db": 10.0, "labels": "pool", "jitter_copies": 0, "jitter_percent": 3.0,
                "dropout_copies": 0, "resample_copies": 0, "segments": [], "mix_holdout": 0, "components_by": "halves",
                "components_choice": "best",
                "mix_holdout_of": "alignment and discriminant"}
"""Fields added after results were first keyed by these settings."""
