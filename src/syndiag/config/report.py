"""The report recipe (issue 20): which bearing and channel the physical evidence reads, the shaft speed, the machine
group of the ISO zones, the envelope resolution, and the language model of the written part."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel
from syndiag.errors import ConfigError


class ReportConfig(StrictModel):
    """Defaults: CWRU-style recordings in g, evidence on every vibration channel's own bearing (never the classifier's
    label), the machine and its speed and rate read from the recording, 1 Hz resolution."""

    profile: str = "custom"
    bearing: str | None = Field(None, description="a shipped bearing (cwru-drive-end, cwru-fan-end, femto-pronostia) or a YAML "
                                "geometry; None: from the channel (CWRU DE / FE) or femto-pronostia for a FEMTO folder")
    channel: str | None = Field(None, description="channel the evidence reads; None: every vibration channel of the file with a "
                                "known bearing (CWRU DE and FE), the strongest evidence reported; DE for other files")
    rpm: float | None = Field(None, description="shaft speed; None: the file's own RPM (CWRU X<NNN>RPM) or the FEMTO condition's; "
                              "refused outside min_rpm..max_rpm")
    min_rpm: float = Field(30.0, gt=0, description="slowest shaft speed taken as plausible for rotating machinery")
    max_rpm: float = Field(60000.0, gt=0, description="fastest shaft speed taken as plausible for rotating machinery")
    fs: float | None = Field(None, gt=0, description="sampling rate: overrides what the file or the CWRU catalogue says (refused where "
                             "it contradicts them); needed when neither does")
    unit: Literal["g", "m/s2"] = Field("g", description="unit of the acceleration (CWRU and FEMTO record g)")
    machine: str | None = Field(None, description="the machine of syndiag/physics/machines.yaml the recording comes from "
                                "(cwru-rig, femto-pronostia): its ISO group, bearings and speed range; None: a CWRU file's or a "
                                "FEMTO folder's own rig, else none")
    machine_group: str | None = Field(None, description="zone table of syndiag/physics/iso_zones.yaml (e.g. iso-20816-3:group2-rigid); "
                                      "None: the machine's; a recording of no known machine and no group is refused, not zoned by a default")
    resolution_hz: float | None = Field(None, gt=0, description="envelope spectrum resolution (segments of 1 / resolution_hz s "
                                        "averaged); None: 0.1 Hz for a recording of 10 s or more, 1 / its length for a shorter one "
                                        "(1 s at least), 1 / snapshot length for a FEMTO snapshot")
    tolerance: float = Field(0.02, gt=0, lt=0.2, description="slip tolerance around each characteristic frequency")
    harmonics: int = Field(3, ge=1, le=10)
    generator: str | None = Field("smollm2-135m", description="instruct language model of the written part (packaged name, "
                                  "hub id or folder); None: the template alone")
    max_new_tokens: int = Field(64, ge=8, le=512, description="tokens of the first attempt (the tighter one: two thirds)")
    writer: Literal["choose", "free"] = Field("choose", description="how the model writes: choose among phrasings filled from the "
                                              "findings (report/phrasings.py), or generate freely (checked, then the template)")
    rul_checkpoint: Path | None = Field(None, description="a `syndiag rul fit` checkpoint for the RUL of a unit folder")
    top_k: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _speed_range(self) -> "ReportConfig":
        if self.min_rpm >= self.max_rpm:
            raise ValueError(f"min_rpm {self.min_rpm:g} must be below max_rpm {self.max_rpm:g}")
        return self

    def check_rpm(self, rpm: float, what: str = "rpm") -> float:
        """``rpm`` when a plausible shaft speed (min_rpm..max_rpm), else a ConfigError naming ``what`` and the value."""
        if not (math.isfinite(rpm) and self.min_rpm <= rpm <= self.max_rpm):
            raise ConfigError(f"{what} must be between {self.min_rpm:g} and {self.max_rpm:g} rpm (a shaft speed of rotating "
                              f"machinery; min_rpm / max_rpm of the report config), got {rpm:g}")
        return float(rpm)


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
