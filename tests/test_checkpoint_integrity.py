"""Damaged checkpoints are refused: weight files checked against the sha256 in config.json (cloud, edge teacher,
ONNX export), and a model whose outputs are NaN/Inf never yields a diagnosis (exit 2, no NaN in any JSON)."""

import hashlib
import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from tiny_checkpoint import FS, onnx_folder, recording, tiny_checkpoint
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.errors import ConfigError, DataError
from syndiag.models.checkpoint import WEIGHTS, file_sha256, verify_checkpoint
from syndiag.models.cloud import SynDiagCloud
from syndiag.serving.diagnosis import load_model
from syndiag.serving.onnx_runtime import OnnxClassifier

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    return tiny_checkpoint(root / "cloud", root / "tiny-llama")


@pytest.fixture
def copy(checkpoint, tmp_path):
    def make(name="copy"):
        folder = tmp_path / name
        folder.mkdir()
        for path in checkpoint.iterdir():
            (folder / path.name).write_bytes(path.read_bytes())
        return folder
    return make


def flip_in_tensor(path, tensor="head.weight", offset=1):
    """Flip one bit inside ``tensor``'s data of a safetensors file: it still parses and fits, but its values differ."""
    data = bytearray(path.read_bytes())
    size = struct.unpack("<Q", data[:8])[0]
    begin = json.loads(data[8 : 8 + size])[tensor]["data_offsets"][0]
    data[8 + size + begin + offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_the_config_records_the_sha256_of_the_weights(checkpoint):
    meta = json.loads((checkpoint / "config.json").read_text())
    assert meta["sha256"] == {WEIGHTS: hashlib.sha256((checkpoint / WEIGHTS).read_bytes()).hexdigest()}
    assert file_sha256(checkpoint / WEIGHTS) == meta["sha256"][WEIGHTS]


def test_tampered_weights_are_refused_naming_the_file_and_both_digests(copy, tmp_path):
    folder = copy()
    recorded = json.loads((folder / "config.json").read_text())["sha256"][WEIGHTS]
    flip_in_tensor(folder / WEIGHTS)
    actual = file_sha256(folder / WEIGHTS)
    with pytest.raises(DataError) as caught:
        SynDiagCloud.from_pretrained(folder)
    assert str(folder / WEIGHTS) in str(caught.value) and recorded in str(caught.value) and actual in str(caught.value)
    rec = recording(tmp_path / "rec.npy", 0.2)
    result = runner.invoke(app, ["diagnose", str(rec), "--checkpoint", str(folder), "--fs", str(FS), "--json"])
    assert result.exit_code == 2 and "does not match" in result.output and result.stdout == ""


def test_a_checkpoint_without_digests_loads_with_a_warning(copy, caplog):
    folder = copy()
    meta = json.loads((folder / "config.json").read_text())
    del meta["sha256"]
    (folder / "config.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="syndiag.models.checkpoint"):
        model = SynDiagCloud.from_pretrained(folder)
    assert "records no sha256" in caplog.text and model.checkpoint_meta["class_names"]
    again = model.save_pretrained(folder)  # saving again records them
    assert json.loads((again / "config.json").read_text())["sha256"][WEIGHTS] == file_sha256(again / WEIGHTS)


def test_an_edge_model_refuses_a_tampered_teacher(copy, tmp_path):
    teacher = copy("teacher")
    flip_in_tensor(teacher / WEIGHTS, "extractor.projection.weight")
    edge = tmp_path / "edge"
    edge.mkdir()
    described = json.loads((teacher / "config.json").read_text())  # an edge model's description: the teacher's classes and input
    (edge / "config.json").write_text(json.dumps({**described, "model": "syndiag-edge", "teacher_checkpoint": str(teacher)}))
    (edge / WEIGHTS).write_bytes(b"")
    with pytest.raises(DataError, match="does not match"):
        load_model(edge)
    with pytest.raises(DataError, match="does not match"):
        verify_checkpoint(teacher)
    verify_checkpoint(tmp_path / "not-a-checkpoint")  # nothing to check: its loader reports it


def test_a_tampered_onnx_graph_is_refused_and_an_old_export_warns(tmp_path, caplog):
    folder = onnx_folder(tmp_path / "onnx")
    assert json.loads((folder / "config.json").read_text())["sha256"]["model.onnx"] == file_sha256(folder / "model.onnx")
    OnnxClassifier(folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-5] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(DataError, match="model.onnx: sha256 .* does not match"):
        OnnxClassifier(folder)
    fresh = onnx_folder(tmp_path / "old")
    meta = json.loads((fresh / "config.json").read_text())
    del meta["sha256"]
    (fresh / "config.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="syndiag.models.checkpoint"):
        OnnxClassifier(fresh)
    assert "records no sha256 of model.onnx" in caplog.text
    meta["sha256"] = "abc"
    (fresh / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"old/config\.json: invalid model description: sha256: Input should be a valid dictionary"):
        OnnxClassifier(fresh)


def test_a_nan_head_is_refused_with_exit_2_and_no_nan_in_the_output(checkpoint, tmp_path):
    backbone = Path(json.loads((checkpoint / "config.json").read_text())["config"]["backbone"])
    folder = tiny_checkpoint(tmp_path / "nan", backbone, nan_head=True)
    SynDiagCloud.from_pretrained(folder)  # its digest is valid: the NaN was saved, not injected later
    rec = recording(tmp_path / "rec.npy", 0.2)
    result = runner.invoke(app, ["diagnose", str(rec), "--checkpoint", str(folder), "--fs", str(FS), "--json"])
    assert result.exit_code == 2, result.output
    assert "non-finite output" in result.output and "NaN" not in result.stdout and result.stdout == ""
    good = runner.invoke(app, ["diagnose", str(rec), "--checkpoint", str(checkpoint), "--fs", str(FS), "--json"])
    assert good.exit_code == 0, good.output
    parsed = json.loads(good.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the JSON output"))
    assert np.isfinite(parsed["probability"]) and parsed["windows"] == (2400 - 64) // 32 + 1
