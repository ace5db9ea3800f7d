"""`--channels` naming one file channel for two model channels (issue 27): refused, naming the channel, whether it is named
twice literally, once by its CWRU short name and once in full, by a glob, or by a column index; and a model channel the
recording lacks is named together with what the recording holds."""

import json

import numpy as np
import pytest
from test_sensor_diagnose import LAYOUT
from tiny_checkpoint import onnx_folder
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.data.model_input import read_input
from syndiag.errors import DataError
from syndiag.models.checkpoint import record_digests

runner = CliRunner()


@pytest.fixture(scope="module")
def two_channel_model(tmp_path_factory):
    """An ONNX export whose model reads the drive end and the fan end (DE, FE)."""
    folder = onnx_folder(tmp_path_factory.mktemp("stub") / "stub-onnx", length=512, step=2048)
    meta = json.loads((folder / "config.json").read_text())
    meta["channels"] = ["DE", "FE"]
    (folder / "config.json").write_text(json.dumps(record_digests(meta, folder, ["model.onnx"]), indent=1))
    return folder


def diagnose(file, model, *extra):
    result = runner.invoke(app, ["diagnose", str(file), "--checkpoint", str(model), *extra])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("channels, read", [("X130_DE_time,X130_DE_time", "X130_DE_time"), ("DE,DE", "X130_DE_time"),
                                            ("DE,X130_DE_time", "X130_DE_time"),
                                            ("X13*_DE_time,X130_DE_time", "X13*_DE_time and X130_DE_time, identical samples,")])
def test_a_cwru_channel_given_twice_is_refused_naming_it(two_channel_model, cwru_dir, channels, read):
    code, text = diagnose(cwru_dir / "130.mat", two_channel_model, "--channels", channels)
    assert code == 2, text
    assert f"130.mat: --channels reads {read} for both the model's DE and FE channels" in text
    assert "give each of the model's 2 channels (DE, FE) its own channel of the file" in text


def test_distinct_channels_are_diagnosed(two_channel_model, cwru_dir):
    code, text = diagnose(cwru_dir / "130.mat", two_channel_model, "--channels", "X13*_DE_time,FE", "--json")
    assert code == 0, text
    assert json.loads(text)["windows"] > 0


def test_a_column_index_given_twice_is_refused(two_channel_model, tmp_path):
    np.save(tmp_path / "two.npy", np.random.default_rng(0).standard_normal((2, 24000)))
    code, text = diagnose(tmp_path / "two.npy", two_channel_model, "--fs", "12000", "--channels", "0,0")
    assert code == 2 and "two.npy: --channels reads col0 for both the model's DE and FE channels" in text


def test_a_model_channel_the_recording_lacks_is_named_with_what_it_holds(two_channel_model, tmp_path):
    np.savez(tmp_path / "de.npz", DE=np.random.default_rng(0).standard_normal(24000), fs=12000.0)
    code, text = diagnose(tmp_path / "de.npz", two_channel_model)
    assert code == 2 and "de.npz: the model needs 2 channels (DE, FE); no key 'FE'; the file holds DE (24000,), fs ()" in text


@pytest.mark.parametrize("channels, read", [("DE,X130_DE_time,-", "X130_DE_time"), ("DE,DE,-", "DE")])
def test_a_sensor_layout_channel_given_twice_is_refused(cwru_dir, channels, read):
    with pytest.raises(DataError, match=f"--channels reads {read} for both the layout's DE and FE channels"):
        read_input(cwru_dir / "130.mat", LAYOUT, select=channels, layout=True)
