"""One home for every configuration: typed pydantic sections, YAML loading, and the shipped profiles. Imports no torch."""

from syndiag.config.base import StrictModel, parse_overrides, read_yaml, set_dotted
from syndiag.config.benchmark import BenchmarkConfig
from syndiag.config.data import DataConfig, SpectrogramConfig, WindowConfig
from syndiag.config.models import CloudConfig, EdgeConfig, ImageBaselineConfig
from syndiag.config.profiles import profile_path
from syndiag.config.run import RunConfig
from syndiag.config.runtime import RuntimeConfig
from syndiag.config.sensor import (  # noqa: F401
    ChannelSpec,
    FusionAdapterConfig,
    ImageEncoderConfig,
    SensorModelConfig,
    TimeSeriesEncoderConfig,
)
from syndiag.config.training import (
    BaselineTrainConfig,
    DistillConfig,
    FinetuneConfig,
    PretrainConfig,
    UpdateConfig,
)

__all__ = [
    "BaselineTrainConfig", "BenchmarkConfig", "CloudConfig", "DataConfig", "DistillConfig", "EdgeConfig", "FinetuneConfig",
    "ImageBaselineConfig", "PretrainConfig", "RunConfig", "RuntimeConfig", "SpectrogramConfig", "StrictModel", "UpdateConfig",
    "WindowConfig", "parse_overrides", "profile_path", "read_yaml", "set_dotted",
]
