"""Self-supervised pretraining of the sensor model's time-series encoder (issue 29 item 2): masked tokens rebuilt on
every pool-half (train-half) window of the data, never a test-half window; cached in a folder, resumable by epoch.

The folder holds ``ssl.json`` (what the encoder was pretrained on and with: the windows' digest, the encoder and
pretraining settings, the seed; ``complete`` once done) and ``encoder.safetensors``; a folder made for other windows or
settings is refused naming the file and what differs, never reused or overwritten.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save

from syndiag.atomic import atomic_write_bytes, atomic_write_text
from syndiag.config.self_supervised import MaskedTokenConfig
from syndiag.config.sensor import ChannelSpec, TimeSeriesEncoderConfig
from syndiag.data.sensor_windows import SensorWindows
from syndiag.data.windowing import POOL
from syndiag.errors import DataError
from syndiag.models.masked_tokens import MaskedTokenPretrainer
from syndiag.models.timeseries_encoder import TimeSeriesEncoder
from syndiag.training.common import seed_everything
from syndiag.training.engine import Engine, train_epochs
from syndiag.training.sensor import modality_dropout

DESCRIPTION, WEIGHTS = "ssl.json", "encoder.safetensors"
Progress = Callable[[int, int, float], None]


def pool_half(windows: SensorWindows, max_windows: int | None = None) -> SensorWindows:
    """The windows of the pool (train) half only, at most ``max_windows`` of them evenly spaced."""
    rows = np.flatnonzero(windows.split == POOL)
    if max_windows is not None and rows.size > max_windows:
        rows = rows[np.linspace(0, rows.size - 1, max_windows).round().astype(int)]
    return windows.subset(rows)


def windows_digest(sources: Sequence[SensorWindows]) -> str:
    """sha256 of every window's samples and presence, source by source."""
    h = hashlib.sha256()
    for windows in sources:
        for name in sorted(windows.signals):
            h.update(name.encode())
            h.update(np.ascontiguousarray(windows.signals[name], dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(windows.present).tobytes())
    return h.hexdigest()[:16]


def identity(sources: Sequence[SensorWindows], encoder: TimeSeriesEncoderConfig, layout: Sequence[ChannelSpec],
             config: MaskedTokenConfig, seed: int) -> dict:
    return {"windows": windows_digest(sources), "n_windows": int(sum(len(w) for w in sources)), "seed": seed,
            "encoder": encoder.model_dump(mode="json"), "layout": [spec.model_dump(mode="json") for spec in layout],
            "ssl": config.model_dump(mode="json")}


def read_description(folder: Path, wanted: dict) -> dict | None:
    """The folder's description when it was made for ``wanted``; None when there is none; a DataError when it differs."""
    path = folder / DESCRIPTION
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable pretraining description ({exc}); remove the folder to pretrain again") from exc
    differs = sorted(k for k in wanted if saved.get("identity", {}).get(k) != wanted[k])
    if differs:
        raise DataError(f"{path}: this encoder pretraining was made for other {', '.join(differs)} than this run's; "
                        f"remove {folder} or use another output folder")
    return saved


def pretrain_encoder(sources: Sequence[SensorWindows], encoder_config: TimeSeriesEncoderConfig, layout: Sequence[ChannelSpec],
                     config: MaskedTokenConfig, seed: int, folder: Path, progress: Progress | None = None) -> tuple[dict, dict]:
    """The pretrained encoder's state dict and its description: read from ``folder`` when complete, else trained (resuming
    an interrupted run from its last finished epoch) and written there."""
    sources = [pool_half(w, config.max_windows) for w in sources]
    wanted = identity(sources, encoder_config, layout, config, seed)
    saved = read_description(folder, wanted)
    if saved is not None and saved.get("complete") and (folder / WEIGHTS).is_file():
        return load_file(folder / WEIGHTS), saved
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / DESCRIPTION, json.dumps({"identity": wanted, "complete": False}, indent=1))
    generator = seed_everything(seed)
    encoder = TimeSeriesEncoder(encoder_config, list(layout))
    pretrainer = MaskedTokenPretrainer(encoder, config.mask_ratio)
    offsets = np.cumsum([0] + [len(w) for w in sources])
    items = np.arange(offsets[-1])
    kinds = [spec.kind for spec in layout]

    def loss_of(batch: np.ndarray, step: int, total: int) -> torch.Tensor:
        # the masks and dropped channels of a step follow from the seed, the step and its first window alone, so a run
        # resumed from its last finished epoch draws what the uninterrupted run would have drawn
        rng = np.random.default_rng([seed, 717, step, int(batch[0])])
        mask_draws = torch.Generator().manual_seed(int(rng.integers(2**62)))
        losses, weights = [], []
        for index, windows in enumerate(sources):
            rows = batch[(batch >= offsets[index]) & (batch < offsets[index + 1])] - offsets[index]
            if rows.size == 0:
                continue
            present = modality_dropout(windows.present[rows], kinds, config.modality_dropout, rng)
            signals = {name: torch.from_numpy(np.asarray(values[rows], dtype=np.float32)) for name, values in windows.signals.items()}
            losses.append(pretrainer.loss(signals, torch.from_numpy(present), mask_draws))
            weights.append(rows.size / batch.size)
        return sum(loss * weight for loss, weight in zip(losses, weights))

    started = time.perf_counter()
    pretrainer.train()
    losses, steps = train_epochs(list(pretrainer.parameters()), items, loss_of, epochs=config.epochs, batch_size=config.batch_size,
                                 lr=config.lr, weight_decay=0.01, generator=generator, progress=progress, engine=Engine(state_dir=folder))
    pretrainer.eval()
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS, save(state))
    description = {"identity": wanted, "complete": True, "steps": steps, "losses": [round(x, 5) for x in losses],
                   "seconds": round(time.perf_counter() - started, 1)}
    atomic_write_text(folder / DESCRIPTION, json.dumps(description, indent=1))
    return state, description
