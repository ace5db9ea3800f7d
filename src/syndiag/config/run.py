"""The run recipe: data, models, every training stage and the runtime, loaded from one YAML file (profiles/syndiag/*.yaml)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import Field

from syndiag.config.base import StrictModel
from syndiag.config.data import DataConfig
from syndiag.config.models import CloudConfig, EdgeConfig
from syndiag.config.runtime import DType, RuntimeConfig, ScalingConfig
from syndiag.config.training import (
    DistillConfig,
    FinetuneConfig,
    PretrainConfig,
    UpdateConfig,
)


class RunConfig(StrictModel):
    """One recipe for prepare -> pretrain -> finetune -> evaluate -> distill -> update."""

    profile: str = "custom"
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps")
    dtype: DType = Field("float32", description="dtype of the frozen language model: float32 | bfloat16 | float16")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all cores)")
    scaling: ScalingConfig = ScalingConfig()
    output_dir: Path = Path("runs/cloud")
    results_file: Path = Path("runs/results.jsonl")
    data: DataConfig = DataConfig()
    model: CloudConfig = CloudConfig()
    pretrain: PretrainConfig = PretrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    edge: EdgeConfig = EdgeConfig()
    distill: DistillConfig = DistillConfig()
    update: UpdateConfig = UpdateConfig()

    @property
    def runtime(self) -> RuntimeConfig:
        return RuntimeConfig(device=self.device, dtype=self.dtype, threads=self.threads)

    def config_hash(self) -> str:
        """Hash of what decides the numbers: not where they are written, nor the device or thread count; dtype when not float32."""
        material = self.model_dump(mode="json", exclude={"output_dir", "results_file", "threads", "device", "dtype", "scaling"})
        if self.dtype != "float32":
            material["dtype"] = self.dtype
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]
