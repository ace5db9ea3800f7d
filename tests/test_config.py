from pathlib import Path

import pytest

from syndiag.config.data import DataConfig
from syndiag.errors import ConfigError

REPO_CONFIGS = ["configs/data/cwru.yaml", "configs/data/seu.yaml", "configs/data/simulated.yaml"]


@pytest.mark.parametrize("name", REPO_CONFIGS)
def test_shipped_configs_load(name):
    from conftest import REPO

    config = DataConfig.from_yaml(REPO / name)
    assert config.window.length == 512 and config.window.step == 256 and config.spectrogram.n_scales == 128


def test_defaults_are_the_papers():
    config = DataConfig()
    assert (config.window.per_class, config.window.n_pool, config.window.n_test) == (200, 100, 100)
    assert config.spectrogram.image_size == 224 and config.spectrogram.wavelet.startswith("cmor")


@pytest.mark.parametrize(
    "text,message",
    [
        ("window: [1, 2\n", "not valid YAML at line 2"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("window:\n  lenght: 3\n", "window.lenght: Extra inputs are not permitted"),
        ("window:\n  length: many\n", "window.length"),
        ("spectrogram:\n  wavelet: morl\n", "is real"),
        ("spectrogram:\n  wavelet: nonsense\n", "unknown continuous wavelet"),
        ("spectrogram:\n  colormap: rainbowz\n", "unknown matplotlib colormap"),
        ("cwru:\n  loads: [0, 5]\n", "CWRU loads are 0, 1, 2, 3"),
        ("cwru:\n  channels: [BA]\n", "cwru.channels.0"),
        ("dataset: custom\n", "needs 'spec'"),
        ("window:\n  per_class: 3\n  test_fraction: 0.9\n", "no train-pool window"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        DataConfig.from_yaml(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        DataConfig.from_yaml(tmp_path / "none.yaml")


def test_overrides_use_dotted_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("window:\n  step: 128\n")
    config = DataConfig.from_yaml(path, {"window.per_class": 50, "cwru.loads": [3]})
    assert (config.window.step, config.window.per_class, config.cwru.loads) == (128, 50, [3])


RECIPE_CLASSES = {"benchmark": "BenchmarkConfig", "data": "DataConfig", "openset": "OpenSetConfig", "report": "ReportSuiteConfig",
                  "rul": "RulConfig", "sensor": "SensorRunConfig", "syndiag": "RunConfig"}
# config_hash of the shipped training recipes as computed before RunConfig and SensorRunConfig shared RecipeConfig
# (the results files hold them: syndiag/cpu is 66d1816cd59b in benchmarks/results/sensor_cwru_cpu.jsonl).
RECIPE_HASHES = {
    ("syndiag/cpu.yaml", "float32"): "66d1816cd59b", ("syndiag/cpu.yaml", "bfloat16"): "eeed89bf88a4",
    ("syndiag/paper.yaml", "float32"): "1a002d785859", ("syndiag/paper.yaml", "bfloat16"): "b5dce6b9f333",
    ("sensor/cpu.yaml", "float32"): "021a34b04f58", ("sensor/cpu.yaml", "bfloat16"): "3039802f7aaa",
    ("sensor/femto.yaml", "float32"): "f42a55a55efd", ("sensor/femto.yaml", "bfloat16"): "15b1e46e2cee",
    ("sensor/paper.yaml", "float32"): "540cfc7b5470", ("sensor/paper.yaml", "bfloat16"): "8bc3b44e97a0",
    ("sensor/simulated-images.yaml", "float32"): "5e3e97af566a", ("sensor/simulated-images.yaml", "bfloat16"): "9f8e2a63417a",
    ("sensor/spectral.yaml", "float32"): "8266d43ea889", ("sensor/spectral.yaml", "bfloat16"): "e426b66c704f",  # components: other loads, 1 SE
}


def recipe_class(name: str):
    import syndiag.config as config
    from syndiag.config.openset import OpenSetConfig
    from syndiag.config.report import ReportSuiteConfig
    from syndiag.config.rul import RulConfig
    from syndiag.config.sensor_run import SensorRunConfig

    found = {"OpenSetConfig": OpenSetConfig, "ReportSuiteConfig": ReportSuiteConfig, "RulConfig": RulConfig, "SensorRunConfig": SensorRunConfig}
    class_name = RECIPE_CLASSES[name.split("/")[0]]
    return found.get(class_name) or getattr(config, class_name)


def test_every_shipped_profile_loads_with_its_recipe_class():
    from syndiag.config.profiles import shipped_profiles

    loaded = {name: recipe_class(name).from_yaml(name) for name in shipped_profiles()}
    assert {name.split("/")[0] for name in loaded} == set(RECIPE_CLASSES)
    assert (loaded["syndiag/cpu.yaml"].device, loaded["sensor/femto.yaml"].profile, loaded["rul/femto.yaml"].profile) == ("cpu", "sensor-femto", "rul-femto")


@pytest.mark.parametrize("name,dtype", list(RECIPE_HASHES))
def test_shipped_recipes_keep_their_config_hash(name, dtype):
    recipe = recipe_class(name).from_yaml(name, {"dtype": dtype})
    assert recipe.config_hash() == RECIPE_HASHES[name, dtype]
    elsewhere = recipe_class(name).from_yaml(name, {"dtype": dtype, "device": "cuda:1", "threads": 3, "output_dir": "/elsewhere",
                                                     "results_file": "/r.jsonl", "scaling.grad_accumulation": 4})
    assert elsewhere.config_hash() == RECIPE_HASHES[name, dtype]


def test_both_recipe_kinds_share_the_runtime_settings_and_one_hash_rule():
    from syndiag.config import RunConfig, RuntimeConfig
    from syndiag.config.runtime import RecipeConfig
    from syndiag.config.sensor_run import SensorRunConfig

    runtime = set(RuntimeConfig.model_fields)
    assert runtime == {"device", "dtype", "threads", "scaling", "output_dir", "results_file"}
    for recipe in (RunConfig, SensorRunConfig):
        assert issubclass(recipe, RecipeConfig) and isinstance(recipe(), RuntimeConfig) and "config_hash" not in vars(recipe)
        assert runtime | {"profile", "seed", "data"} <= set(recipe.model_fields)
    assert (RunConfig().output_dir, SensorRunConfig().output_dir) == (Path("runs/cloud"), Path("runs/sensor"))
    assert RunConfig(seed=1).config_hash() != RunConfig().config_hash() != RunConfig(dtype="float16").config_hash()


@pytest.mark.parametrize("profile", ["syndiag/cpu.yaml", "sensor/cpu.yaml"])
@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cpu:0", "CUDA", "meta", ""])
def test_an_unknown_device_is_refused_on_load_naming_the_field_and_the_accepted_values(profile, device):
    with pytest.raises(ConfigError) as refused:
        recipe_class(profile).from_yaml(profile, {"device": device})
    message = str(refused.value)
    assert f"invalid {RECIPE_CLASSES[profile.split('/')[0]]}: device:" in message and f"unknown device {device!r}" in message
    assert message.endswith("use one of auto, cpu, cuda, cuda:N, mps") and "cpu.yaml" in message


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_every_accepted_device_loads(device):
    from syndiag.config import RunConfig
    from syndiag.config.sensor_run import SensorRunConfig

    assert RunConfig.from_dict({"device": device}).device == SensorRunConfig.from_dict({"device": device}).device == device
