"""Run an exported model with ONNX Runtime: numpy in, probabilities out, no PyTorch in the process."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from syndiag.errors import ConfigError, DataError
from syndiag.models.checkpoint import verify_digests
from syndiag.models.meta import CONFIG, ONNX_MODEL, CheckpointMeta, is_onnx, read_meta


class OnnxClassifier:
    """uint8 RGB spectrograms (B, H, W, 3) -> class probabilities (B, C), from an ``export_onnx`` folder.

    Its description is read by :func:`~syndiag.models.meta.read_meta` (``meta``: already read by the caller);
    ``model.onnx`` is checked against the sha256 it records (a mismatch is a :class:`DataError` naming the file).
    """

    def __init__(self, folder: str | Path, threads: int | None = None, meta: CheckpointMeta | None = None) -> None:
        # defers onnxruntime: the predictor imports this module for every model, and only an ONNX export needs the runtime
        import onnxruntime as ort

        folder = Path(folder)
        if not is_onnx(folder) or not (folder / CONFIG).is_file():
            raise ConfigError(f"{folder}: not an ONNX export (needs {ONNX_MODEL} and {CONFIG})")
        self.meta = meta or read_meta(folder)
        if self.meta.image_size is None:
            raise ConfigError(f"{folder / CONFIG}: invalid model description: image_size: an ONNX export records its image size")
        verify_digests(folder, self.meta.to_dict(), [ONNX_MODEL])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(folder / ONNX_MODEL), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ConfigError(f"{folder / ONNX_MODEL}: unreadable ONNX graph ({exc})") from None
        self.class_names: list[str] = self.meta.class_names
        self.prompts: list[str] = self.meta.prompts
        self.image_size: int = self.meta.image_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        expected = (self.image_size, self.image_size, 3)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != expected:
            raise DataError(f"expected uint8 images of shape (B, {', '.join(map(str, expected))}), got {images.dtype} {images.shape}")
        return self.session.run(None, {"images": np.ascontiguousarray(images)})[0]
