"""One model description and one Predictor for every consumer: a diagnosis reads its checkpoint's description once and
the recording once, a report loads its model once, and a bad description, a changed weight file or windows the model
cannot read are refused naming the folder and the field."""

import json

import numpy as np
import pytest
from tiny_checkpoint import NAMES, onnx_folder, tiny_checkpoint

import syndiag.serving.predictor as predictor_module
from syndiag.errors import ConfigError, DataError
from syndiag.models.meta import class_hash, read_meta
from syndiag.serving.predictor import SpectrogramPredictor, WindowBatch, load_predictor


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    root = tmp_path_factory.mktemp("predictor")
    return tiny_checkpoint(root / "cloud", root / "tiny-llama")


def test_a_cloud_diagnosis_reads_its_description_once_and_the_recording_once(cloud, cwru_dir, monkeypatch):
    import pathlib

    import scipy.io

    from syndiag.workflows.inference import diagnose_file

    reads, loads = [], []
    real_read_text, real_loadmat = pathlib.Path.read_text, scipy.io.loadmat
    monkeypatch.setattr(pathlib.Path, "read_text", lambda self, *a, **k: reads.append(self) or real_read_text(self, *a, **k))
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: loads.append(a[0]) or real_loadmat(*a, **k))
    result = diagnose_file(cwru_dir / "105.mat", cloud)
    assert result.windows > 0 and result.label in NAMES
    assert [p for p in reads if p == cloud / "config.json"] == [cloud / "config.json"], "the checkpoint's description, read once"
    assert len(loads) == 1, "the recording, read once"


def test_a_report_loads_its_model_once_and_draws_the_saliency_with_it(cloud, cwru_dir, tmp_path, monkeypatch):
    from syndiag.config.report import ReportConfig
    from syndiag.workflows.report import run_report

    built = []
    real = predictor_module.load_torch_model
    monkeypatch.setattr(predictor_module, "load_torch_model", lambda *a, **k: built.append(a[0]) or real(*a, **k))
    run_report(cwru_dir / "105.mat", cloud, ReportConfig(generator=None), tmp_path / "out")
    assert built == [cloud] and (tmp_path / "out" / "findings.json").is_file()
    assert "spectrogram and gradient saliency" in (tmp_path / "out" / "report.md").read_text()


def test_the_description_is_typed_and_the_needs_come_from_it(cloud):
    meta = read_meta(cloud)
    assert meta.model == "syndiag-cloud" and meta.class_names == NAMES and meta.class_hash == class_hash(NAMES)
    assert [(c.name, c.fs, c.length) for c in meta.needs.channels] == [("DE", 12000.0, 64)]
    assert meta.extra("config")["lora_r"] == 4  # fields it does not name are kept


@pytest.mark.parametrize("edit, message", [
    ({"model": "syndiag-rul"}, "is none of syndiag-cloud, syndiag-edge, syndiag-sensor"),
    ({"format_version": 2}, "format_version 2: this syndiag reads version 1"),
    ({"class_names": ["a", "a", "b"], "class_hash": class_hash(["a", "a", "b"])}, "class_names repeat a name"),
    ({"class_names": ["a", "b", "c"]}, "class_hash '[0-9a-f]+' is not the hash of its class_names"),  # saved with its names' hash
    ({"prompts": ["only one"]}, "3 class_names but 1 prompts"),
    ({"fs": -1}, "fs: Input should be greater than 0"),
    ({"channels": []}, "a syndiag-cloud model needs its channels"),
])
def test_a_description_that_does_not_validate_is_refused_naming_folder_and_field(cloud, tmp_path, edit, message):
    import shutil

    folder = shutil.copytree(cloud, tmp_path / "edited")
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, **edit}))
    with pytest.raises(ConfigError, match=message) as caught:
        load_predictor(folder)
    assert str(folder) in str(caught.value)


def test_a_changed_weight_file_is_refused_by_the_loader(cloud, tmp_path):
    import shutil

    folder = shutil.copytree(cloud, tmp_path / "changed")
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-3] ^= 0x01
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(DataError, match="model.safetensors: sha256 .* does not match"):
        load_predictor(folder)


def test_windows_of_a_channel_the_predictor_lacks_or_of_another_length_are_refused(tmp_path):
    predictor = load_predictor(onnx_folder(tmp_path / "onnx"))
    x = np.zeros((2, 64), np.float32)
    with pytest.raises(DataError, match=r"reads DE \(vibration, 12000 Hz\): the windows given unknown channel\(s\) FE; lacks channel\(s\) DE"):
        predictor.predict(WindowBatch({"FE": x}, np.ones((2, 1), bool)))
    with pytest.raises(DataError, match="DE has 32 samples, not 64"):
        predictor.predict(WindowBatch({"DE": x[:, :32]}, np.ones((2, 1), bool)))
    assert isinstance(predictor, SpectrogramPredictor) and predictor.predict(WindowBatch({"DE": x}, np.ones((2, 1), bool))).probabilities.shape == (2, 3)


def test_the_harness_predicts_a_model_in_memory_through_its_predictor_with_the_models_own_numbers(cloud, tmp_path):
    """evaluation.predict (the benchmark harness's and evaluate's inference) goes through a Predictor described by the
    prepared data, and gives exactly the model's own softmax."""
    import torch

    from syndiag.config.data import DataConfig
    from syndiag.data.prepare import prepare
    from syndiag.evaluation.predict import predict
    from syndiag.models.cloud import SynDiagCloud

    model = SynDiagCloud.from_pretrained(cloud)
    described = read_meta(cloud).data
    data = DataConfig.from_dict({**described, "cache_dir": str(tmp_path / "cache"), "simulator": {**described["simulator"], "seconds": 1.0}})
    dataset = prepare(data)
    indices = np.arange(0, len(dataset.labels), max(1, len(dataset.labels) // 20))
    probs, classes, _ = predict(model, dataset, indices, batch_size=7)
    with torch.inference_mode():  # the harness's former code: the model's softmax, 7 windows at a time
        direct = np.concatenate([torch.softmax(model(torch.from_numpy(dataset.rgb(indices[s : s + 7]))).float(), dim=-1).numpy()
                                 for s in range(0, len(indices), 7)])
    assert probs.shape == (len(indices), 3) and np.array_equal(probs, direct) and np.array_equal(classes, direct.argmax(1))


def test_a_device_that_does_not_exist_is_refused_naming_the_accepted_ones(tmp_path):
    from typer.testing import CliRunner

    from syndiag.cli import app

    np.save(tmp_path / "rec.npy", np.random.default_rng(0).standard_normal(4000).astype(np.float32))
    result = CliRunner().invoke(app, ["diagnose", str(tmp_path / "rec.npy"), "--checkpoint", str(onnx_folder(tmp_path / "onnx")),
                                      "--fs", "12000", "--device", "gpu"])
    assert result.exit_code == 2 and "unknown device 'gpu'; use one of auto, cpu, cuda, cuda:N, mps" in " ".join(result.output.split())


def test_the_runtime_threads_reach_the_onnx_session_and_torch(tmp_path):
    import torch

    from syndiag.config.runtime import RuntimeConfig

    predictor = load_predictor(onnx_folder(tmp_path / "onnx"), RuntimeConfig(device="cpu", threads=1))
    assert predictor.classify.session.get_session_options().intra_op_num_threads == 1
    before = torch.get_num_threads()
    try:
        from syndiag.models.device import place

        place(torch.nn.Linear(2, 2), RuntimeConfig(device="cpu", threads=1))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
