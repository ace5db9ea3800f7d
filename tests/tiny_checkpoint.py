"""A tiny cloud checkpoint that `syndiag diagnose` can run (its config carries data settings, channels, rate), and a
hand-built ONNX export folder, both in a few seconds, for diagnosis, checksum and streaming tests and the memory benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAMES = ["normal", "DE_IR007", "FE_B021"]
PROMPTS = ["normal operation", "inner race fault at motor end with diameter 0.007 inches", "ball fault at fan end with diameter 0.021 inches"]
FS = 12000.0


def data_section(length: int = 64, step: int = 32, image_size: int = 32, n_scales: int = 8) -> dict:
    from syndiag.config.data import DataConfig

    config = DataConfig(dataset="simulated", window={"length": length, "step": step}, spectrogram={"image_size": image_size, "n_scales": n_scales})
    return config.model_dump(mode="json")


def tiny_checkpoint(folder: Path, backbone_dir: Path, nan_head: bool = False, **data) -> Path:
    """A randomly initialised Syn-Diag cloud model on a tiny saved Llama, saved with what diagnosis needs
    (``nan_head``: with a NaN in its classification head, as a diverged training run leaves it)."""
    import torch
    from tiny import save_tiny_backbone

    from syndiag.config.models import CloudConfig
    from syndiag.models.backbones import load_backbone
    from syndiag.models.cloud import SynDiagCloud

    if not (backbone_dir / "config.json").is_file():
        save_tiny_backbone(backbone_dir)
    config = CloudConfig(backbone=str(backbone_dir), extractor_widths=[8, 16], extractor_stem=8, visual_grid=2, input_prompts=2,
                         deep_prompts=2, deep_prompt_every=1, lora_r=4)
    model = SynDiagCloud(config, load_backbone(config.backbone, config.allow_download, config.num_layers), NAMES, PROMPTS)
    if nan_head:
        with torch.no_grad():
            model.head.weight[0, 0] = float("nan")
    return model.save_pretrained(folder, extra={"data": data_section(**data), "channels": ["DE"], "fs": FS})


def onnx_folder(folder: Path, scale: list[float] | None = None, image_size: int = 32, **data) -> Path:
    """An ONNX export folder whose graph gives mean colour channels * ``scale`` as 'probabilities' (B, 3).

    A NaN in ``scale`` makes a graph with non-finite outputs, which ``export_onnx`` itself would never write.
    """
    import onnx
    from onnx import TensorProto, helper

    from syndiag.models.checkpoint import record_digests

    graph = helper.make_graph(
        [helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
         helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),
         helper.make_node("Mul", ["m", "scale"], ["probabilities"])],
        "stub",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["B", image_size, image_size, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["B", 3])],
        [helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2]),
         helper.make_tensor("scale", TensorProto.FLOAT, [3], scale or [1 / 255, 0.5 / 255, 0.25 / 255])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    meta = {"model": "syndiag-edge", "class_names": NAMES, "prompts": PROMPTS, "channels": ["DE"], "fs": FS,
            "data": data_section(image_size=image_size, **data), "image_size": image_size, "opset": 18}
    (folder / "config.json").write_text(json.dumps(record_digests(meta, folder, ["model.onnx"]), indent=1))
    return folder


def recording(path: Path, seconds: float, fs: float = FS, seed: int = 0, dtype=np.float32) -> Path:
    """A 1-D .npy of noise plus a tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    np.save(path, (np.sin(2 * np.pi * 157.0 * t) + 0.3 * rng.standard_normal(n)).astype(dtype))
    return path
