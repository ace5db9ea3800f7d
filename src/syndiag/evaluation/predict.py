"""Batched inference of a trained classifier over windows of a prepared dataset."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from syndiag.data.prepare import PreparedDataset


@torch.inference_mode()
def predict(model: nn.Module, dataset: PreparedDataset, indices: np.ndarray, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, float]:
    """Class probabilities (n, C), predicted classes (n,) and seconds taken."""
    model.eval()
    started = time.perf_counter()
    probabilities = []
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        probabilities.append(torch.softmax(model(torch.from_numpy(dataset.rgb(chunk))).float(), dim=-1).cpu())
    probs = torch.cat(probabilities).numpy()
    return probs, probs.argmax(1), time.perf_counter() - started
