"""What every training entry point shares: seeding, threads, batches of images from a prepared dataset."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch

from syndiag.data.prepare import PreparedDataset


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def image_batch(dataset: PreparedDataset, indices: np.ndarray, shift: torch.Generator | None = None) -> torch.Tensor:
    """uint8 RGB spectrograms (B, H, W, 3) of the windows at ``indices``.

    With a ``shift`` generator each image is rolled along time by a random offset: a window is an arbitrary
    crop of a stationary recording, so its class must not depend on where in it the impacts fall.
    """
    images = torch.from_numpy(dataset.rgb(indices))
    if shift is None:
        return images
    offsets = torch.randint(0, images.shape[2], (images.shape[0],), generator=shift).tolist()
    return torch.stack([torch.roll(image, offset, dims=1) for image, offset in zip(images, offsets)])


def batches(indices: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(indices), batch_size):
        yield indices[start : start + batch_size]

