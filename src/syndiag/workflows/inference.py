"""Diagnosing recordings and exporting models, as library functions shared by the CLI and scripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from syndiag.config.data import DataConfig
from syndiag.errors import SyndiagError
from syndiag.models.meta import read_meta
from syndiag.models.openset_threshold import read_threshold
from syndiag.workflows.openset_detector import detector_of, spectral_verdict
from syndiag.serving.diagnosis import BLOCK_SIZE, Diagnosis, diagnose, load_model
from syndiag.serving.onnx_quantize import quantize_onnx
from syndiag.serving.predictor import Predictor, load_predictor
from syndiag.serving.stream import open_input
from syndiag.serving.summary import check_window_table, write_window_table


def diagnose_file(file: Path, checkpoint: Path, fs: float | None = None, top_k: int = 3, device: str = "cpu",
                  dtype: str = "float32", channels: str | list[str | int] | None = None, *,
                  progress: Callable[[int, int], None] | None = None, per_window_out: Path | None = None,
                  block_size: int = BLOCK_SIZE, predictor: Predictor | None = None) -> Diagnosis:
    """Predicted fault, its description and the top-k class probabilities of a recording, with any model folder
    (a cloud, edge or sensor checkpoint, or an ONNX export) or an already loaded ``predictor`` of it.

    The model's description is read once and the recording read and checked against it before the model loads;
    ``channels`` names the file's channels to read for the model's (``--channels``). The windows are cut, predicted
    and summarised ``block_size`` at a time (a .npy recording is memory-mapped), so memory stays bounded on long
    recordings; ``progress(done, total)`` follows each block. ``per_window_out`` (.csv or .jsonl) receives one row per
    window, written atomically. A sensor model reads every channel of its layout and adds the severity. A checkpoint
    with an open-set threshold (``syndiag openset calibrate``) adds the verdict ``result.unknown``; a threshold file
    made for other weights is refused before anything is read."""
    return diagnose_with(file, checkpoint, fs, top_k, device, dtype, channels, progress=progress, per_window_out=per_window_out,
                         block_size=block_size, predictor=predictor)[0]


def diagnose_with(file: Path, checkpoint: Path, fs: float | None = None, top_k: int = 3, device: str = "cpu",
                  dtype: str = "float32", channels: str | list[str | int] | None = None, *,
                  progress: Callable[[int, int], None] | None = None, per_window_out: Path | None = None,
                  block_size: int = BLOCK_SIZE, predictor: Predictor | None = None) -> tuple[Diagnosis, Predictor]:
    """:func:`diagnose_file`, and the predictor it loaded (for a caller that needs the model afterwards, as the report's
    saliency does)."""
    if per_window_out is not None:
        check_window_table(per_window_out)
    threshold = read_threshold(checkpoint)
    detector = detector_of(checkpoint, threshold)
    meta = predictor.meta if predictor is not None else read_meta(checkpoint)
    windows = open_input(file, checkpoint, meta, fs, channels)
    predictor = predictor or load_predictor(checkpoint, device, dtype, meta)
    result = diagnose(predictor, windows, str(file), top_k, block_size=block_size, progress=progress)
    if detector is not None:  # the spectrum path's score reads the recording's windows once more (a sensor model's vibration channels)
        result.unknown = spectral_verdict(detector, threshold, open_input(file, checkpoint, meta, fs, channels), meta.fs)
    elif threshold is not None:
        result.unknown = threshold.verdict(result.window_confidence)
    if per_window_out is not None:
        write_window_table(per_window_out, result.window_rows())
    return result, predictor


def export_checkpoint(checkpoint: Path, output: Path | None = None, opset: int = 18) -> tuple[Path, float]:
    """Export a cloud or edge checkpoint to ONNX (refused unless it matches PyTorch); returns the folder and max |Δp| vs PyTorch."""
    from syndiag.serving.onnx_export import export_onnx  # defers torch: diagnosing with an ONNX export runs without it

    target = output or checkpoint.with_name(checkpoint.name + "-onnx")
    try:
        model = load_model(checkpoint)
        size = DataConfig.from_dict(model.checkpoint_meta["data"], source=str(checkpoint)).spectrogram.image_size
    except KeyError as exc:
        raise SyndiagError(f"{checkpoint}: checkpoint lacks {exc}") from None
    folder = export_onnx(model, target, image_size=size, opset=opset)
    meta = json.loads((folder / "config.json").read_text())
    return folder, meta["max_abs_difference_vs_torch"]


def quantize_export(folder: Path, output: Path | None = None, tolerance: float = 0.05) -> tuple[Path, float]:
    """The int8 twin of an ONNX export (refused when its probabilities leave ``tolerance`` of the float graph's)."""
    return quantize_onnx(folder, output, tolerance)
