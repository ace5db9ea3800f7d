"""What every training entry point shares: seeding, threads, batches of images from a prepared dataset."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

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


def shuffled_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator) -> Iterator[np.ndarray]:
    order = torch.randperm(len(indices), generator=generator).numpy()
    for start in range(0, len(indices), batch_size):
        yield indices[order[start : start + batch_size]]


def batches(indices: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(indices), batch_size):
        yield indices[start : start + batch_size]


def train_epochs(
    parameters: list[torch.nn.Parameter] | list[dict],
    items: np.ndarray,
    loss_of: Callable[[np.ndarray, int, int], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    generator: torch.Generator,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[list[float], int]:
    """AdamW with cosine decay over shuffled batches of ``items``; ``loss_of(batch, step, total)``.

    ``parameters`` may be AdamW parameter groups, each with its own ``lr``.

    Returns the mean loss of every epoch and the number of optimizer steps.
    """
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    total = epochs * math.ceil(len(items) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    losses, step = [], 0
    for _ in range(epochs):
        epoch_loss = 0.0
        for batch in shuffled_batches(items, batch_size, generator):
            loss = loss_of(batch, step, total)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            epoch_loss += loss.item() * len(batch)
            step += 1
            if progress:
                progress(step, total, loss.item())
        losses.append(epoch_loss / len(items))
    return losses, step
