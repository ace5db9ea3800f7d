import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_cloud import NAMES, PROMPTS, images
from test_edge import pair

from syndiag.errors import ConfigError, DataError
from syndiag.serving.onnx_export import export_onnx
from syndiag.serving.onnx_runtime import OnnxClassifier

# Every test here needs a distilled student exported to ONNX (a few seconds of set-up) or exports one itself.
pytestmark = pytest.mark.slow

SIZE = 32


@pytest.fixture(scope="module")
def student():
    _, model = pair("decoder", "encoder")
    model.checkpoint_meta = {"model": "syndiag-edge", "class_names": NAMES, "prompts": PROMPTS, "channels": ["DE"], "fs": 12000.0,
                             "data": {"dataset": "simulated"}}
    return model.eval()


@pytest.fixture(scope="module")
def exported(student, tmp_path_factory):
    return export_onnx(student, tmp_path_factory.mktemp("onnx") / "edge-onnx", image_size=SIZE)


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_runtime_gives_the_probabilities_of_pytorch_for_any_batch(student, exported, batch):
    classify = OnnxClassifier(exported)
    x = images(batch, size=SIZE, seed=batch)
    with torch.no_grad():
        expected = torch.softmax(student(x), -1).numpy()
    got = classify(x.numpy())
    assert got.shape == (batch, len(NAMES))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    meta = json.loads((exported / "config.json").read_text())
    assert meta["class_names"] == NAMES and meta["channels"] == ["DE"] and meta["max_abs_difference_vs_torch"] < 1e-4
    assert meta["sha256"] == {"model.onnx": hashlib.sha256((exported / "model.onnx").read_bytes()).hexdigest()}


def test_the_onnx_path_never_imports_torch(exported):
    code = (
        "import sys, numpy as np\n"
        "from syndiag.serving.diagnosis import load_classifier\n"
        f"classify, meta = load_classifier({str(exported)!r})\n"
        f"p = classify(np.zeros((2, {SIZE}, {SIZE}, 3), np.uint8))\n"
        "assert p.shape == (2, 3) and abs(p.sum() - 2) < 1e-4, p\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(meta['model'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "syndiag-edge"


def test_bad_inputs_and_folders_are_refused(exported, tmp_path):
    classify = OnnxClassifier(exported)
    with pytest.raises(DataError, match="uint8 images"):
        classify(np.zeros((1, SIZE, SIZE, 3), np.float32))
    with pytest.raises(DataError, match="uint8 images"):
        classify(np.zeros((1, SIZE + 1, SIZE, 3), np.uint8))
    with pytest.raises(ConfigError, match="not an ONNX export"):
        OnnxClassifier(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not a graph")
    description = json.loads((exported / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({k: v for k, v in description.items() if k != "sha256"}))
    with pytest.raises(ConfigError, match="unreadable ONNX graph"):
        OnnxClassifier(broken)


def test_the_export_is_a_typed_versioned_description_and_a_bad_one_names_the_field(exported, tmp_path):
    import shutil

    from syndiag.models.meta import class_hash, read_meta

    meta = json.loads((exported / "config.json").read_text())
    assert meta["model"] == "syndiag-edge" and meta["format_version"] == 1 and meta["class_hash"] == class_hash(NAMES)
    assert meta["commit"] and read_meta(exported).image_size == SIZE
    edited = shutil.copytree(exported, tmp_path / "edited")
    for edit, message in [({"class_hash": "0" * 16}, r"class_hash '0000000000000000' is not the hash of its class_names"),
                          ({"image_size": -1}, r"image_size: Input should be greater than 0"),
                          ({"image_size": None}, r"image_size: an ONNX export records its image size")]:
        (edited / "config.json").write_text(json.dumps({**meta, **edit}))
        with pytest.raises(ConfigError, match=r"edited/config\.json: invalid model description: .*" + message):
            OnnxClassifier(edited)
    (edited / "config.json").write_text(json.dumps(meta))
    (edited / "model.onnx").write_bytes((exported / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(DataError, match=r"edited/model\.onnx: sha256 [0-9a-f]{64} does not match"):
        OnnxClassifier(edited)


def test_a_failed_export_writes_nothing_and_keeps_the_old_folder(student, tmp_path):
    target = tmp_path / "edge-onnx"
    with pytest.raises(ConfigError, match="differs from PyTorch"):
        export_onnx(student, target, image_size=SIZE, tolerance=-1.0)
    assert not target.exists() and list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "keep").write_text("old")
    with pytest.raises(ConfigError, match="differs from PyTorch"):
        export_onnx(student, target, image_size=SIZE, tolerance=-1.0)
    assert (target / "keep").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["edge-onnx"]
    bare = pair("decoder", "encoder")[1]
    with pytest.raises(ConfigError, match="from_pretrained"):
        export_onnx(bare, tmp_path / "x", image_size=SIZE)


def test_the_int8_graph_runs_without_torch_close_to_the_float_graph_or_is_not_written(exported, tmp_path):
    from syndiag.serving.onnx_quantize import quantize_onnx

    folder, difference = quantize_onnx(exported, tmp_path / "int8", tolerance=0.2)
    meta = json.loads((folder / "config.json").read_text())
    assert meta["quantized"].startswith("dynamic int8") and meta["max_abs_difference_vs_float"] == difference <= 0.2
    assert (folder / "model.onnx").stat().st_size < (exported / "model.onnx").stat().st_size
    probe = np.random.default_rng(1).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    assert OnnxClassifier(folder)(probe).shape == (2, len(NAMES))
    with pytest.raises(ConfigError, match=r"every quantisable operator: .*matrix products only: .*nothing written"):
        quantize_onnx(exported, tmp_path / "strict", tolerance=0.0)
    assert not (tmp_path / "strict").exists()
