"""Export a trained cloud or edge model to ONNX for a deployment without PyTorch (the edge device of §3.4, §5.5)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from syndiag.atomic import atomic_folder
from syndiag.errors import ConfigError
from syndiag.models.checkpoint import record_digests
from syndiag.models.meta import CONFIG, ONNX_MODEL, class_hash, provenance
from syndiag.serving.onnx_runtime import OnnxClassifier

log = logging.getLogger(__name__)

CARRIED = ("class_names", "prompts", "data", "channels", "fs", "task", "head_version")


class SoftmaxOutput(nn.Module):
    """uint8 spectrograms (B, H, W, 3) -> class probabilities (B, C): the graph a deployment runs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(images), dim=-1)


def export_onnx(model: nn.Module, folder: str | Path, image_size: int = 224, opset: int = 18, tolerance: float = 1e-4) -> Path:
    """Write ``folder/model.onnx`` and ``folder/config.json`` atomically, after checking ONNX Runtime against PyTorch.

    The graph takes any batch of uint8 images; the config is the checkpoint's typed description (its kind, format
    version, classes and their hash, prompts, data settings, the commit exporting it), so the folder alone diagnoses
    a recording, and the sha256 of ``model.onnx`` (checked at load).
    A graph whose probabilities differ from PyTorch's by more than ``tolerance`` is not written.
    """
    meta = getattr(model, "checkpoint_meta", None)
    if not meta:
        raise ConfigError("export needs a model loaded with from_pretrained (its checkpoint config is carried over)")
    folder = Path(folder)
    with atomic_folder(folder) as staging:
        wrapped = SoftmaxOutput(model).eval()
        generator = torch.Generator().manual_seed(0)
        example = torch.randint(0, 256, (2, image_size, image_size, 3), dtype=torch.uint8, generator=generator)
        batch = torch.export.Dim("batch", min=1, max=4096)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(wrapped, (example,), dynamo=True, input_names=["images"], output_names=["probabilities"],
                                        dynamic_shapes=({0: batch},), opset_version=opset, verbose=False)
        program.save(str(staging / ONNX_MODEL), external_data=False)
        probe = torch.randint(0, 256, (3, image_size, image_size, 3), dtype=torch.uint8, generator=generator)
        with torch.no_grad():
            expected = wrapped(probe).numpy()
        exported = {k: meta[k] for k in CARRIED if k in meta}
        exported.update(provenance(meta["model"]), class_hash=class_hash(list(meta["class_names"])), image_size=image_size, opset=opset)
        exported = record_digests(exported, staging, [ONNX_MODEL])
        (staging / CONFIG).write_text(json.dumps(exported, indent=1), encoding="utf-8")
        difference = float(np.abs(OnnxClassifier(staging)(probe.numpy()) - expected).max())
        if not difference <= tolerance:
            raise ConfigError(f"ONNX export differs from PyTorch by {difference:.2e} (> {tolerance:g}); nothing written")
        exported["max_abs_difference_vs_torch"] = difference
        (staging / CONFIG).write_text(json.dumps(exported, indent=1), encoding="utf-8")
    log.info("exported %s to %s (max |Δp| vs PyTorch %.1e)", meta["model"], folder, difference)
    return folder
