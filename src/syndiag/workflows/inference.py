"""Diagnosing recordings and exporting models, as library functions shared by the CLI and scripts."""

from __future__ import annotations

import json
from pathlib import Path

from syndiag.config.data import DataConfig
from syndiag.errors import SyndiagError
from syndiag.serving.diagnosis import (
    Diagnosis,
    diagnose,
    load_classifier,
    load_model,
    read_signal,
    window_array,
)


def diagnose_file(file: Path, checkpoint: Path, fs: float | None = None, top_k: int = 3, device: str = "cpu",
                  dtype: str = "float32") -> Diagnosis:
    """Predicted fault, its description and the top-k class probabilities of a recording, with a checkpoint or an ONNX export."""
    try:
        classify, meta = load_classifier(checkpoint, device, dtype)
        data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
        signal, _ = read_signal(file, meta["channels"], fs, meta["fs"])
        windows = window_array(signal, data.window, str(file))
        return diagnose(classify, windows, data.spectrogram, meta["class_names"], meta["prompts"], str(file), top_k)
    except KeyError as exc:
        raise SyndiagError(f"{checkpoint}: checkpoint lacks {exc}") from None


def export_checkpoint(checkpoint: Path, output: Path | None = None, opset: int = 18) -> tuple[Path, float]:
    """Export a cloud or edge checkpoint to ONNX (refused unless it matches PyTorch); returns the folder and max |Δp| vs PyTorch."""
    from syndiag.serving.onnx_export import export_onnx

    target = output or checkpoint.with_name(checkpoint.name + "-onnx")
    try:
        model = load_model(checkpoint)
        size = DataConfig.from_dict(model.checkpoint_meta["data"], source=str(checkpoint)).spectrogram.image_size
    except KeyError as exc:
        raise SyndiagError(f"{checkpoint}: checkpoint lacks {exc}") from None
    folder = export_onnx(model, target, image_size=size, opset=opset)
    meta = json.loads((folder / "config.json").read_text())
    return folder, meta["max_abs_difference_vs_torch"]
