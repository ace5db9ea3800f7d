"""Batched inference of a trained cloud or edge model over windows of a prepared dataset, through its Predictor."""

from __future__ import annotations

import time

import numpy as np
from torch import nn

from syndiag.data.prepare import PreparedDataset
from syndiag.serving.predictor import WindowBatch, model_predictor


def predict(model: nn.Module, dataset: PreparedDataset, indices: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, float]:
    """Class probabilities (n, C), predicted classes (n,) and seconds taken."""
    predictor = model_predictor(model, dataset.meta, dataset.class_names, dataset.prompts)
    channels = len(predictor.meta.channels)
    started = time.perf_counter()
    probabilities = []
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        batch = WindowBatch({}, np.ones((len(chunk), channels), dtype=bool), dataset.rgb(chunk))
        probabilities.append(predictor.predict(batch).probabilities)
    probs = np.concatenate(probabilities)
    return probs, probs.argmax(1), time.perf_counter() - started
