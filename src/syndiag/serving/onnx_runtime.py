"""Run an exported model with ONNX Runtime: numpy in, probabilities out, no PyTorch in the process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from syndiag.errors import ConfigError, DataError
from syndiag.models.checkpoint import verify_digests

ONNX_MODEL = "model.onnx"
ONNX_CONFIG = "config.json"


def is_onnx_folder(folder: str | Path) -> bool:
    return (Path(folder) / ONNX_MODEL).is_file()


class OnnxClassifier:
    """uint8 RGB spectrograms (B, H, W, 3) -> class probabilities (B, C), from an ``export_onnx`` folder.

    ``model.onnx`` is checked against the sha256 its config records (a mismatch is a :class:`DataError`).
    """

    def __init__(self, folder: str | Path, threads: int | None = None, meta: dict | None = None) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        if not is_onnx_folder(folder) or not (folder / ONNX_CONFIG).is_file():
            raise ConfigError(f"{folder}: not an ONNX export (needs {ONNX_MODEL} and {ONNX_CONFIG})")
        try:
            self.meta = meta if meta is not None else json.loads((folder / ONNX_CONFIG).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{folder / ONNX_CONFIG}: corrupt export config ({exc})") from None
        missing = [k for k in ("class_names", "prompts", "image_size") if k not in self.meta]
        if missing:
            raise ConfigError(f"{folder / ONNX_CONFIG}: lacks {', '.join(missing)}")
        verify_digests(folder, self.meta, [ONNX_MODEL])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(folder / ONNX_MODEL), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ConfigError(f"{folder / ONNX_MODEL}: unreadable ONNX graph ({exc})") from None
        self.class_names: list[str] = self.meta["class_names"]
        self.prompts: list[str] = self.meta["prompts"]
        self.image_size: int = self.meta["image_size"]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        expected = (self.image_size, self.image_size, 3)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != expected:
            raise DataError(f"expected uint8 images of shape (B, {', '.join(map(str, expected))}), got {images.dtype} {images.shape}")
        return self.session.run(None, {"images": np.ascontiguousarray(images)})[0]
