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
