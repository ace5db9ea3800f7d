"""The monitor recipe (issue 17): a unit's own healthy start as its reference, the novelty score, the alarm rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from syndiag.config.base import StrictModel


class MonitorConfig(StrictModel):
    """Defaults: the first hour is healthy, Mahalanobis on the health features, 1 % false alarms, 3 snapshots in a row."""

    profile: str = "custom"
    healthy_s: float = Field(3600.0, gt=0, description="the unit's first seconds taken as healthy (its reference)")
    method: Literal["mahalanobis", "knn", "max-z"] = Field("mahalanobis", description="novelty score of a snapshot's health features "
                                                           "(max-z: the largest |z| of one feature against the reference)")
    features: Literal["all", "time", "bands"] = Field("all", description="health features scored: all, the time-domain ones, the band powers")
    false_alarm: float = Field(0.01, gt=0, lt=1, description="share of healthy snapshots allowed above the threshold")
    persistence: int = Field(3, ge=1, description="snapshots in a row above the threshold before the alarm goes on; it then stays on")
    smoothing: int = Field(1, ge=1, description="features averaged over the last this many snapshots before scoring (causal; 1: none)")
    rms_persistence: int | None = Field(None, ge=1, description="the RMS alarm's snapshots in a row (None: the same as persistence)")
    rms_sigmas: float = Field(3.0, gt=0, description="the practitioners' alarm: RMS above the healthy mean + this many standard deviations")
    bands: int = Field(8, ge=1, le=64)
