"""The report recipe (issue 20): which bearing and channel the physical evidence reads, the shaft speed, the machine
group of the ISO zones, the envelope resolution, and the language model of the written part."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from syndiag.config.base import StrictModel


class ReportConfig(StrictModel):
    """Defaults: CWRU-style recordings in g, the bearing and channel told by the classifier's location, 1 Hz resolution."""

    profile: str = "custom"
    bearing: str | None = Field(None, description="a shipped bearing (cwru-drive-end, cwru-fan-end, femto-pronostia) or a YAML "
                                "geometry; None: from the channel (CWRU DE / FE) or femto-pronostia for a FEMTO folder")
    channel: str | None = Field(None, description="channel the evidence reads; None: the classifier's bearing location (DE / FE), else DE")
    rpm: float | None = Field(None, gt=0, description="shaft speed; None: the file's own RPM (CWRU X<NNN>RPM) or the FEMTO condition's")
    fs: float | None = Field(None, gt=0, description="sampling rate of the recording when the file does not say")
    unit: Literal["g", "m/s2"] = Field("g", description="unit of the acceleration (CWRU and FEMTO record g)")
    machine_group: str = Field("iso-20816-3:group2-rigid", description="zone table of syndiag/physics/iso_zones.yaml")
    resolution_hz: float | None = Field(None, gt=0, description="envelope spectrum resolution; None: 1 Hz for a recording, "
                                        "1 / snapshot length for a FEMTO snapshot")
    tolerance: float = Field(0.02, gt=0, lt=0.2, description="slip tolerance around each characteristic frequency")
    harmonics: int = Field(3, ge=1, le=10)
    generator: str | None = Field("smollm2-135m", description="instruct language model of the written part (packaged name, "
                                  "hub id or folder); None: the template alone")
    max_new_tokens: int = Field(64, ge=8, le=512, description="tokens of the first attempt (the tighter one: two thirds)")
    rul_checkpoint: Path | None = Field(None, description="a `syndiag rul fit` checkpoint for the RUL of a unit folder")
    top_k: int = Field(3, ge=1)


class ReportSuiteConfig(StrictModel):
    """`syndiag benchmark --suite report`: segments of the CWRU test halves, classified by a Syn-Diag cloud fine-tuned as the
    recipe says (5-shot, seed 0), each reported on; the FEMTO test bearings' folders too."""

    profile: str = "cpu"
    recipe: Path = Field(Path("syndiag/cpu.yaml"), description="the classifier's run recipe (pretrained, then fine-tuned at finetune.source)")
    report: ReportConfig = Field(default_factory=ReportConfig)
    conditions: list[str] = Field(default_factory=lambda: ["1797rpm", "1730rpm"], min_length=1)
    segments: int = Field(10, ge=1, description="segments per class and condition, spread over the recording's test half")
    segment_s: float = Field(1.0, gt=0, description="segment length; a test half shorter than it gives segments as long as it")
    text_per_class: int = Field(1, ge=0, description="segments per class and condition whose text the language model writes "
                                "(the others get the template: the model is the slow part)")
    femto_rul_checkpoint: Path | None = Field(None, description="RUL checkpoint for the FEMTO test bearings (None: RUL left out)")
    femto: bool = Field(True, description="also report on every FEMTO test bearing folder under the data root")
    work_dir: Path = Path("runs/report-suite")
