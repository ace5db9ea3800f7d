"""The sensor-model recipe (LLaVA-for-Sensors article, "training"): channels, model, alignment and fine-tuning stages, runtime."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel
from syndiag.config.data import SnrRange
from syndiag.config.runtime import RecipeConfig
from syndiag.config.self_supervised import MaskedTokenConfig
from syndiag.config.sensor import ChannelSpec, SensorModelConfig
from syndiag.config.spectral import SpectralPathConfig
from syndiag.config.training import epochs_with_min_steps


def _cwru_channels() -> list[ChannelSpec]:
    return [ChannelSpec(name="DE", kind="vibration", fs=12000.0, length=512), ChannelSpec(name="FE", kind="vibration", fs=12000.0, length=512),
            ChannelSpec(name="speed", kind="speed", fs=1.0, length=1)]


class SensorAlignConfig(StrictModel):
    """Stage (a): sensor tokens aligned to the class descriptions on the multi-condition K-shot pool."""

    shots: int = Field(7, ge=1, description="train-pool windows per class and condition")
    epochs: int = Field(20, ge=0, description="0: no alignment stage")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=2)
    margin_start: float = 0.1
    margin_end: float = 0.7
    modality_dropout: float = Field(0.3, ge=0, lt=1, description="chance of dropping each channel of a window (one vibration channel stays)")


class SensorFinetuneConfig(StrictModel):
    """Stage (b): the fault and severity heads (with the encoder and adapter) on the K-shot support set."""

    shots: int = Field(5, ge=1)
    source: str | None = Field(None, description="condition of the K-shot set (default: the last condition)")
    target: str | None = Field(None, description="condition of the test set (default: the source)")
    epochs: int = Field(20, ge=1)
    min_steps: int = Field(150, ge=0)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    severity_weight: float = Field(1.0, ge=0, description="weight of the severity head's Gaussian NLL")
    modality_dropout: float = Field(0.3, ge=0, lt=1)
    noise_snr_db: SnrRange | None = Field((-4.0, 10.0), description="train on one noisy copy of each K-shot window too (None: off)")
    severity_holdout: list[float] = Field(default_factory=list, description="severity levels whose targets are hidden in training "
                                          "(the interpolation test: train on 0.007 and 0.021 in, estimate 0.014)")

    def epochs_for(self, n_items: int) -> int:
        return epochs_with_min_steps(self.epochs, self.min_steps, n_items, self.batch_size)


class FemtoStagesConfig(StrictModel):
    """FEMTO learning bearings, snapshots labelled by degradation stage (syndiag/prognostics/health.py); split by bearing."""

    test_bearings: list[str] = Field(default_factory=lambda: ["Bearing1_2", "Bearing2_2", "Bearing3_2"], min_length=1,
                                     description="bearings whose snapshots are the test set; the others give the K-shot pool")
    bearings: list[str] | None = Field(None, description="learning bearings to read (None: all of them)")
    baseline_fraction: float = Field(0.1, gt=0, lt=1, description="first share of a bearing's snapshots that is its baseline")
    sigmas: float = Field(3.0, gt=0, description="onset: the smoothed RMS above baseline mean + sigmas x std ...")
    persistence: int = Field(3, ge=1, description="... for this many snapshots in a row")
    severe_ratio: float = Field(4.0, gt=1, description="severe: the smoothed RMS at this multiple of the baseline mean (4 x = +12 dB)")
    window: int = Field(5, ge=1, description="snapshots in the centred moving median of the RMS")

    def stage_options(self) -> dict:
        return self.model_dump(exclude={"test_bearings", "bearings"})


class SensorRunConfig(RecipeConfig):
    """One recipe for the sensor model: data and channels, model, the two training stages, where results go."""

    output_dir: Path = Path("runs/sensor")
    channels: list[ChannelSpec] = Field(default_factory=_cwru_channels, min_length=1)
    visual_extractor: Path | None = Field(None, description="Syn-Diag checkpoint whose aligned visual extractor gives the spectrogram tokens")
    model: SensorModelConfig = SensorModelConfig()
    align: SensorAlignConfig = SensorAlignConfig()
    finetune: SensorFinetuneConfig = SensorFinetuneConfig()
    spectral: SpectralPathConfig = Field(default_factory=SpectralPathConfig, description="how the spectrum path is fitted (with model.spectral_path)")
    ssl: MaskedTokenConfig = Field(default_factory=MaskedTokenConfig, description="the encoder's self-supervised pretraining "
                                   "(with model.encoder_pretraining: masked-tokens)")
    HASH_ADDED_LATER: ClassVar[dict[str, object]] = {
        "model.spectral_path": False, "model.language_model": "pretrained", "model.encoder_pretraining": "none", "model.spectral_segment": None,
        "spectral": SpectralPathConfig().model_dump(mode="json"), "ssl": MaskedTokenConfig().model_dump(mode="json")}
    femto: FemtoStagesConfig | None = Field(None, description="set: FEMTO degradation stages (syndiag sensor stages) instead of data")

    @model_validator(mode="after")
    def _channels(self) -> "SensorRunConfig":
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channels: duplicate names in {names}")
        return self
