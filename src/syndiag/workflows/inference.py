"""Diagnosing recordings and exporting models, as library functions shared by the CLI and scripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from syndiag.config.data import DataConfig
from syndiag.errors import SyndiagError
from syndiag.serving.diagnosis import (
    BLOCK_SIZE,
    Classifier,
    Diagnosis,
    diagnose,
    input_meta,
    load_classifier,
    load_model,
    read_signal,
)
from syndiag.serving.sensor_diagnosis import diagnose_sensor, is_sensor_checkpoint
from syndiag.serving.stream import open_windows
from syndiag.serving.summary import check_window_table, write_window_table

Loader = Callable[[Path, str, str], tuple[Classifier, dict]]
"""(checkpoint, device, dtype) -> a classifier and its checkpoint config."""


def diagnose_file(file: Path, checkpoint: Path, fs: float | None = None, top_k: int = 3, device: str = "cpu",
                  dtype: str = "float32", channels: str | list[str | int] | None = None, *,
                  progress: Callable[[int, int], None] | None = None, per_window_out: Path | None = None,
                  block_size: int = BLOCK_SIZE, load: Loader | None = None) -> Diagnosis:
    """Predicted fault, its description and the top-k class probabilities of a recording, with a checkpoint or an ONNX export.

    The recording is read and checked before the model loads (its needs come from the checkpoint's config.json);
    ``channels`` names the file's channels to read for the model's (``--channels``).

    The windows are cut, turned into spectrograms and classified ``block_size`` at a time (a .npy recording is
    memory-mapped), so memory stays bounded on long recordings; ``progress(done, total)`` follows each block.
    ``per_window_out`` (.csv or .jsonl) receives one row per window, written atomically.

    A sensor-model checkpoint (config.json "model": "syndiag-sensor") reads every channel of its layout and adds the
    severity (a :class:`~syndiag.serving.sensor_diagnosis.SensorDiagnosis`); ``channels`` then maps the layout's channels.

    A checkpoint with an open-set threshold (``syndiag openset calibrate``) adds the verdict ``result.unknown``; a
    threshold file made for other weights is refused before anything is read.

    ``load(checkpoint, device, dtype)`` builds a cloud or edge classifier (None: :func:`load_classifier`): a caller
    that needs the model afterwards (the report's saliency) keeps it rather than loading it twice."""
    from syndiag.models.openset_threshold import read_threshold

    if per_window_out is not None:
        check_window_table(per_window_out)
    threshold = read_threshold(checkpoint)
    try:
        if is_sensor_checkpoint(checkpoint):
            result = diagnose_sensor(file, checkpoint, fs, top_k, device, dtype, channels, progress=progress, block_size=block_size)
        else:
            result = _diagnose_image_model(file, checkpoint, fs, top_k, device, dtype, channels, progress, block_size, load)
    except KeyError as exc:
        raise SyndiagError(f"{checkpoint}: checkpoint lacks {exc}") from None
    if threshold is not None:
        result.unknown = threshold.verdict(result.window_confidence)
    if per_window_out is not None:
        write_window_table(per_window_out, result.window_rows())
    return result


def _diagnose_image_model(file: Path, checkpoint: Path, fs: float | None, top_k: int, device: str, dtype: str,
                          channels: str | list[str | int] | None, progress: Callable[[int, int], None] | None,
                          block_size: int, load: Loader | None = None) -> Diagnosis:
    """A cloud or edge checkpoint's (or an ONNX export's) diagnosis of the spectrograms of the recording's windows."""
    load = load or load_classifier
    meta = input_meta(checkpoint)
    classify = None
    if meta is None:  # not a readable checkpoint config: the loader says why
        classify, meta = load(checkpoint, device, dtype)
    data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
    windows = open_windows(file, meta["channels"], fs, meta["fs"], data.window, mmap=channels is None,
                           read_in_memory=lambda: read_signal(file, meta["channels"], fs, meta["fs"], channels))
    if classify is None:
        classify, meta = load(checkpoint, device, dtype)
    return diagnose(classify, windows, data.spectrogram, meta["class_names"], meta["prompts"], str(file), top_k,
                    block_size=block_size, progress=progress, model=str(checkpoint))


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


def quantize_export(folder: Path, output: Path | None = None, tolerance: float = 0.05) -> tuple[Path, float]:
    """The int8 twin of an ONNX export (refused when its probabilities leave ``tolerance`` of the float graph's)."""
    from syndiag.serving.onnx_quantize import quantize_onnx

    return quantize_onnx(folder, output, tolerance)
