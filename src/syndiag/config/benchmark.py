"""What a benchmark run covers (§5.2-5.3): recipe, seeds, shots, conditions, methods, noise, and where results go."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from syndiag.config.base import StrictModel
from syndiag.config.data import SnrRange
from syndiag.config.models import ImageBaselineConfig
from syndiag.config.profiles import profile_path
from syndiag.config.sensor import SensorModelConfig
from syndiag.config.sensor_run import SensorAlignConfig, SensorRunConfig
from syndiag.config.spectral import SpectralPathConfig
from syndiag.config.training import BaselineTrainConfig

SYNDIAG_VARIANTS: dict[str, dict] = {
    "Syn-Diag-Cloud": {},
    "Syn-Diag w/o alignment": {"pretrained": False},
    "Syn-Diag w/o prompt fusion": {"model": {"use_prompt_fusion": False}},
    "Syn-Diag w/o deep prompts": {"model": {"deep_prompts": 0}},
    "Syn-Diag w/o LoRA": {"model": {"lora_r": 0}},
    "Syn-Diag edge backbone": {"edge_backbone": True},
    "Syn-Diag-Cloud 2x steps": {"steps_scale": 2},
    "Syn-Diag-Cloud bf16": {"dtype": "bfloat16"},
    "Syn-Diag-Cloud accumulation 4": {"grad_accumulation": 4},
    "Syn-Diag-Cloud bf16 + accumulation 4": {"dtype": "bfloat16", "grad_accumulation": 4},
    "Syn-Diag-Cloud checkpointing": {"gradient_checkpointing": True},
    "Syn-Diag-Cloud int8 LM": {"int8_inference": True},  # one scale per tensor
    "Syn-Diag-Cloud int8 LM per channel": {"int8_inference": "per-channel"},
}
IMAGE_BASELINES = {"CNN": "cnn", "ResNet-50": "resnet50", "ViT": "vit"}
WINDOW_BASELINES = ("log-spectrum-1NN", "envelope-kNN", "envelope-SVM")
SPECTRAL_SENSOR = {"spectral_path": True, "use_spectrogram": False,
                   "spectral": {"components_by": "other loads", "components_choice": "fewest within one standard error"}}
HALVES_SENSOR = {"spectral_path": True, "use_spectrogram": False}
"""The spectral sensor model as first measured (its components chosen on halves of the pool): the held-out mix variants."""
SENSOR_METHODS: dict[str, dict] = {
    "Sensor-model": {},
    "Sensor-model + spectral path": SPECTRAL_SENSOR,
    "Sensor-model + spectral path, random LM": {**SPECTRAL_SENSOR, "language_model": "random"},
    "Sensor-model + spectral path, no LM": {**SPECTRAL_SENSOR, "language_model": "none"},
    "Sensor-model + spectral path, masked-token pretraining": {**SPECTRAL_SENSOR, "encoder_pretraining": "masked-tokens"},
    "Sensor-model + spectral path, no text alignment": {**SPECTRAL_SENSOR, "align": {"epochs": 0}},
    "Sensor-model + spectral path, mix on held-out pool": {**HALVES_SENSOR, "spectral": {"mix_holdout": 2}},
    "Sensor-model + spectral path, mix on windows stage (a) never saw": {
        **HALVES_SENSOR, "spectral": {"mix_holdout": 2, "mix_holdout_of": "alignment"}},
    "Sensor tokens only, no LM": {"use_spectrogram": False, "language_model": "none"},
    "Sensor tokens only, no LM, masked-token pretraining": {"use_spectrogram": False, "language_model": "none",
                                                           "encoder_pretraining": "masked-tokens"},
}
"""The sensor model's methods: the sensor recipe with these changes to its ``model`` section (and, under ``align``, to its
alignment stage: ``epochs: 0`` is the model without text alignment; under ``spectral``, to its spectrum path's fit)."""
LATER_SENSOR_FIELDS = {"spectral_path": False, "language_model": "pretrained", "encoder_pretraining": "none", "spectral_segment": None}
"""Model fields added after sensor cells were first keyed: left out of a cell's hash while at these values."""
SPECTRAL_METHODS = {"Spectral-prototypes": {}, "Spectral-prototypes, pool of other conditions": {"pool": "other conditions"},
                    "Spectral-prototypes w/o noisy copies": {"noise_copies": 0},
                    "Spectral-prototypes + chain copies": {"chain_copies": 3},
                    "Spectral-prototypes, components by other loads": {"components_by": "other loads"},
                    "Spectral-prototypes, fewest components within 1 SE": {"components_choice": "fewest within one standard error"},
                    "Spectral-prototypes, components by other loads, fewest within 1 SE": {
                        "components_by": "other loads", "components_choice": "fewest within one standard error"},
                    "Spectral-prototypes, unlabelled windows": {"labels": "none"},
                    "Spectral-prototypes + order view": {"order_view": True},
                    "Spectral-prototypes + order view, pool of other conditions": {"order_view": True, "pool": "other conditions"}}
METHODS = (*SYNDIAG_VARIANTS, "prototypes", *IMAGE_BASELINES, *WINDOW_BASELINES, *SENSOR_METHODS, *SPECTRAL_METHODS)
NOISE_TRAINED = " +noise"


def base_method(method: str) -> str:
    """The method a name stands for: "CNN +noise" is the CNN trained on its support set plus noisy copies of it."""
    return method.removesuffix(NOISE_TRAINED)


class BenchmarkConfig(StrictModel):
    """What a benchmark run covers: the recipe, seeds, shots, conditions, methods, noise, and where results go."""

    recipe: Path = Field(Path("syndiag/cpu.yaml"), description="run recipe (a file, or a shipped profile): data, model and training stages")
    profile: str | None = Field(None, description="label of the results (default: the recipe's profile)")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    shots: list[int] = Field(default_factory=lambda: [1, 3, 5, 7], min_length=1)
    conditions: list[str] | None = Field(None, description="Table 1 conditions (default: every condition)")
    table2_data: Path = Field(Path("data/seu.yaml"), description="data config (a file, or a shipped profile) of Table 2 (SEU gearbox, same condition)")
    cross_shots: int = Field(5, ge=1, description="K of Table 3 (cross-condition)")
    methods: list[str] = Field(default_factory=lambda: list(METHODS), min_length=1)
    cross_methods: list[str] = Field(default_factory=lambda: ["Syn-Diag-Cloud", "log-spectrum-1NN", "envelope-SVM"])
    method_shots: dict[str, list[int]] = Field(default_factory=dict, description="same-condition shots of a method when not `shots` (e.g. ablations at K = 1, 5)")
    noise_snr_db: list[float] = Field(default_factory=lambda: [0.0, -4.0], description="test-time white noise columns")
    noise_shots: list[int] | None = Field(None, description="same-condition (Tables 1, 2) shots that get the noise columns (default: every K)")
    cross_noise: bool = Field(False, description="also evaluate Table 3 cells under noise")
    train_noise_snr_db: SnrRange = Field(
        (-4.0, 10.0), description="methods named 'METHOD +noise': trained on the support set plus one noisy copy of each window, "
        "at an SNR drawn uniformly from this range (dB)")
    image_baselines: dict[str, ImageBaselineConfig] = Field(
        default_factory=lambda: {name: ImageBaselineConfig(name=kind) for name, kind in IMAGE_BASELINES.items()}
    )
    baseline_training: BaselineTrainConfig = BaselineTrainConfig()
    spectral: SpectralPathConfig = Field(default_factory=SpectralPathConfig, description="the discriminant spectrum path (Spectral-prototypes)")
    sensor_recipe: Path = Field(Path("sensor/cpu.yaml"), description="the sensor model's recipe (its channels, model, align and finetune "
                                "sections; data, seed and visual extractor come from the harness)")
    sensor_methods: list[str] = Field(default_factory=lambda: ["Sensor-model", "Syn-Diag-Cloud", "prototypes", "log-spectrum-1NN"])
    sensor_shots: list[int] = Field(default_factory=lambda: [1, 5], min_length=1)
    sensor_conditions: list[str] = Field(default_factory=lambda: ["1730rpm", "1797rpm"], description="same-condition cells of the sensor suite")
    sensor_pairs: list[tuple[str, str]] = Field(default_factory=lambda: [("1797rpm", "1730rpm"), ("1730rpm", "1797rpm")],
                                                description="cross-condition (source, target) cells of the sensor suite: the far pairs 0 <-> 3 HP")
    rul_recipe: Path = Field(Path("rul/femto.yaml"), description="the rul suite's recipe (units, cuts, settings grids); data root from --data-root")
    report_recipe: Path = Field(Path("report/cpu.yaml"), description="the reports suite's recipe (conditions, segments, text share)")
    openset_recipe: Path = Field(Path("openset/cwru.yaml"), description="the openset and zeroshot suites' recipe (families, splits, seeds)")
    out_dir: Path = Path("benchmarks/results")
    work_dir: Path = Field(Path("runs/benchmark"), description="pretrained checkpoints, one folder per dataset, seed and backbone")
    resources_rounds: int = Field(3, ge=1, description="each model measured in a fresh process this many times (median)")
    resources_repeats: int = Field(30, ge=1, description="batch-1 calls per measurement (median)")
    collaboration_dir: str | None = Field(None, description="cloud -> edge -> updates runs of the updates suite, with {seed} "
                                          "(default: WORK_DIR/DATASET/seed{seed}/collaboration)")

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict | None = None) -> "BenchmarkConfig":
        """Load the settings; a relative ``recipe`` or ``table2_data`` is found beside this file when it is there."""
        path = profile_path(path)
        settings = super().from_yaml(path, overrides)
        beside = {name: profile_path(getattr(settings, name), relative_to=path.parent) for name in ("recipe", "table2_data", "sensor_recipe", "rul_recipe", "openset_recipe", "report_recipe")}
        return settings.model_copy(update=beside)

    def sensor_recipe_for(self, method: str) -> SensorRunConfig:
        """The sensor recipe of one of :data:`SENSOR_METHODS`: ``sensor_recipe`` with the method's model changes."""
        base = SensorRunConfig.from_yaml(self.sensor_recipe)
        changes = dict(SENSOR_METHODS[base_method(method)])
        align = base.align.model_dump(mode="json") | changes.pop("align", {})
        spectral = base.spectral.model_dump(mode="json") | changes.pop("spectral", {})
        model = base.model.model_dump(mode="json") | changes
        return base.model_copy(update={"model": SensorModelConfig.from_dict(model, source=f"method {method!r}"),
                                       "align": SensorAlignConfig.from_dict(align, source=f"method {method!r}"),
                                       "spectral": SpectralPathConfig.from_dict(spectral, source=f"method {method!r}")})

    def spectral_config(self, method: str) -> SpectralPathConfig:
        """The spectrum path's settings for one of :data:`SPECTRAL_METHODS` (``spectral`` with the method's changes)."""
        return self.spectral.model_copy(update=SPECTRAL_METHODS[base_method(method)])

    @model_validator(mode="after")
    def _known_methods(self) -> "BenchmarkConfig":
        for field_name in ("methods", "cross_methods", "sensor_methods"):
            unknown = [m for m in getattr(self, field_name) if base_method(m) not in METHODS]
            if unknown:
                raise ValueError(f"{field_name}: unknown method(s) {unknown}; known: {list(METHODS)}")
        if self.collaboration_dir is not None and "{seed}" not in self.collaboration_dir:
            raise ValueError(f"collaboration_dir must contain {{seed}}, got {self.collaboration_dir!r}")
        unknown = [m for m in self.method_shots if base_method(m) not in METHODS]
        if unknown:
            raise ValueError(f"method_shots: unknown method(s) {unknown}; known: {list(METHODS)}")
        missing = sorted({base_method(m) for m in self.methods} & set(IMAGE_BASELINES) - set(self.image_baselines))
        if missing:
            raise ValueError(f"image_baselines: no config for {missing}")
        return self


