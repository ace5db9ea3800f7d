"""The training engine every stage runs on (issue 19): one process by default, data parallel over the ranks of
``torchrun`` / ``accelerate launch`` (accelerate's process group: gloo on CPU, NCCL on GPU), gradient
accumulation, float16 loss scaling, and epochs that resume after an interruption.

Each optimizer step takes one global batch, drawn from the same shuffled order on every rank; rank r takes
its share, splits it into ``grad_accumulation`` micro-batches, and weights each micro-batch's mean loss by its
share of the global batch. Summing the gradients over the ranks (one all-reduce, with the loss riding along)
then gives the gradient of the global batch's mean loss: the same update as one process, for any loss that is
a mean over windows (cross-entropy, distillation). An in-batch contrastive loss (alignment pretraining)
contrasts within each rank's share instead, as in DDP without feature gathering.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from syndiag.atomic import atomic_write_bytes
from syndiag.config.runtime import RuntimeConfig
from syndiag.errors import ConfigError
from syndiag.models.backbones import transformer_layers
from syndiag.ranks import is_main_process, rank, wait_for_everyone, world_size

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """``grad_accumulation`` micro-batches per step, float16 ``loss_scaling``, and the folder of resumable epochs."""

    grad_accumulation: int = 1
    loss_scaling: bool = False
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        self.world, self.rank = world_size(), rank()
        if self.world > 1:
            from accelerate import PartialState  # defers accelerate: only a run over several processes meets its process group

            PartialState(cpu=not torch.cuda.is_available())
            atexit.register(_leave_process_group)

    def share(self, batch: np.ndarray) -> list[np.ndarray]:
        """This rank's micro-batches of a global batch (empty ones left out)."""
        mine = np.array_split(batch, self.world)[self.rank] if self.world > 1 else batch
        return [part for part in np.array_split(mine, min(self.grad_accumulation, max(len(mine), 1))) if len(part)]

    def order_generator(self, generator: torch.Generator) -> torch.Generator:
        """The generator of the batch order: the stage's own in one process (so the numbers stay those of a plain
        loop); a copy on several ranks, so every rank shuffles alike whatever it draws for augmentation."""
        if self.world == 1:
            return generator
        return torch.Generator().set_state(generator.get_state())

    def all_reduce(self, parameters: list[torch.nn.Parameter], loss_sum: torch.Tensor) -> float:
        """Sum gradients (and the summed loss) over the ranks; a gradient absent on every rank stays absent."""
        if self.world == 1:
            return float(loss_sum)
        device = parameters[0].device
        present = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=device)
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in parameters]
                         + [present, loss_sum.reshape(1).float().to(device)])
        torch.distributed.all_reduce(flat)
        offset = 0
        for p in parameters:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).to(p.dtype).clone()
            offset += n
        for p, seen in zip(parameters, flat[offset : offset + len(parameters)].tolist()):
            if not seen:
                p.grad = None
        return float(flat[-1])


def _leave_process_group() -> None:
    """Destroy the process group before the interpreter exits (a live gloo group at exit can abort the process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


_current = Engine()


def configure(grad_accumulation: int = 1, loss_scaling: bool = False, state_dir: Path | None = None) -> Engine:
    """Set the engine the training stages of this process run on (called by the workflows' setup)."""
    global _current
    _current = Engine(grad_accumulation, loss_scaling, state_dir)
    return _current


def current() -> Engine:
    return _current


def configure_training(runtime: RuntimeConfig, model: nn.Module | None = None) -> Engine:
    """The engine of a recipe's ``scaling`` and ``dtype``; gradient checkpointing and FSDP applied to ``model``'s language model."""
    scaling = runtime.scaling
    state_dir = Path(runtime.output_dir) / "train-state" if scaling.resumable else None
    engine = configure(scaling.grad_accumulation, runtime.dtype == "float16", state_dir)
    if model is not None and scaling.gradient_checkpointing:
        checkpoint_activations(model)
    if model is not None and scaling.strategy == "fsdp":
        shard_language_model(model)
    return engine


def _language_model(model: nn.Module) -> nn.Module:
    lm = getattr(model, "lm", None)
    if lm is None:
        raise ConfigError(f"{type(model).__name__} has no language model to checkpoint or shard")
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


def checkpoint_activations(model: nn.Module) -> None:
    """Gradient checkpointing of the frozen language model: its activations recomputed in the backward pass."""
    lm = _language_model(model)
    if not getattr(lm, "supports_gradient_checkpointing", False):
        raise ConfigError(f"scaling.gradient_checkpointing: {type(lm).__name__} does not support gradient checkpointing")
    if hasattr(lm, "activation_checkpointing_enable"):
        lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lm.config.use_cache = False


def shard_language_model(model: nn.Module) -> None:
    """FSDP (torch's fully_shard) over the language model's blocks: their frozen weights sharded across the ranks;
    the trainable tensors inside them (LoRA) stay whole on every rank and are summed like the others."""
    if world_size() == 1:
        return
    from torch.distributed.fsdp import fully_shard  # defers torch.distributed.fsdp: imported by sharded runs only

    for layer in transformer_layers(_language_model(model)):
        fully_shard(layer, ignored_params={p for p in layer.parameters() if p.requires_grad} or None)


def shuffled_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator) -> Iterator[np.ndarray]:
    order = torch.randperm(len(indices), generator=generator).numpy()
    for start in range(0, len(indices), batch_size):
        yield indices[order[start : start + batch_size]]


def _flat_parameters(parameters: list[torch.nn.Parameter] | list[dict]) -> list[torch.nn.Parameter]:
    if parameters and isinstance(parameters[0], dict):
        return [p for group in parameters for p in group["params"]]
    return list(parameters)


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
    engine: Engine | None = None,
) -> tuple[list[float], int]:
    """AdamW with cosine decay over shuffled global batches of ``items``; ``loss_of(batch, step, total)``.

    ``parameters`` may be AdamW parameter groups, each with its own ``lr``.

    Returns the mean loss of every epoch and the number of optimizer steps.
    """
    engine = engine or _current
    flat = _flat_parameters(parameters)
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    per_epoch = math.ceil(len(items) / batch_size)
    total = epochs * per_epoch
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    device = flat[0].device if flat else torch.device("cpu")
    scaler = torch.amp.GradScaler(device.type) if engine.loss_scaling else None
    order = engine.order_generator(generator)
    resume = _Resume(engine, flat, items, epochs, batch_size, lr)
    losses, first = resume.load(optimizer, scheduler, scaler, generator, order)
    step = first * per_epoch
    for _ in range(first, epochs):
        epoch_loss = 0.0
        for batch in shuffled_batches(items, batch_size, order):
            optimizer.zero_grad(set_to_none=True)
            loss_sum = torch.zeros((), device=device)
            for part in engine.share(batch):
                loss = loss_of(part, step, total)
                weighted = loss * (len(part) / len(batch)) if len(part) != len(batch) else loss
                (scaler.scale(weighted) if scaler else weighted).backward()
                loss_sum += loss.detach() * len(part)
            batch_loss = engine.all_reduce(flat, loss_sum) / len(batch)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step()
            epoch_loss += batch_loss * len(batch)
            step += 1
            if progress:
                progress(step, total, batch_loss)
        losses.append(epoch_loss / len(items))
        resume.save(len(losses), losses, optimizer, scheduler, scaler, generator, order)
    resume.finish()
    return losses, step


class _Resume:
    """The training state after each epoch, in ``state_dir/train-<fingerprint>.pt``: parameters, optimizer,
    schedule, generators; removed when the stage completes. Written by rank 0, read by every rank."""

    def __init__(self, engine: Engine, flat: list[torch.nn.Parameter], items: np.ndarray, epochs: int, batch_size: int, lr: float):
        self.engine, self.flat = engine, flat
        if engine.state_dir is None:
            self.path = None
            return
        digest = hashlib.sha256(np.ascontiguousarray(items).tobytes())
        digest.update(repr((epochs, batch_size, lr, [tuple(p.shape) for p in flat])).encode())
        self.path = Path(engine.state_dir) / f"train-{digest.hexdigest()[:16]}.pt"

    def load(self, optimizer, scheduler, scaler, generator: torch.Generator, order: torch.Generator) -> tuple[list[float], int]:
        if self.path is None or not self.path.exists():
            return [], 0
        state = torch.load(self.path, map_location=self.flat[0].device if self.flat else "cpu", weights_only=True)
        with torch.no_grad():
            for p, saved in zip(self.flat, state["parameters"]):
                p.copy_(saved)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"])
        if order is not generator:
            order.set_state(state["order"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resuming %s after epoch %d", self.path, state["epoch"])
        return list(state["losses"]), int(state["epoch"])

    def save(self, epoch: int, losses: list[float], optimizer, scheduler, scaler, generator: torch.Generator, order: torch.Generator) -> None:
        if self.path is None:
            return
        buffer = io.BytesIO()
        if is_main_process():
            torch.save({"epoch": epoch, "losses": losses, "parameters": [p.detach().cpu() for p in self.flat],
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict() if scaler is not None else {}, "generator": generator.get_state(),
                        "order": order.get_state(), "torch_rng": torch.get_rng_state()}, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())

    def finish(self) -> None:
        if self.path is not None:
            if is_main_process():
                self.path.unlink(missing_ok=True)
            wait_for_everyone()

