"""Which process of a distributed run this is (torchrun / accelerate launch set RANK and WORLD_SIZE), and the barrier after a write.

Only the main process writes files: every writer of the project goes through :mod:`syndiag.atomic` or
``append_result``, which write on rank 0 and then wait for every rank, so no rank reads a file before it is
complete and no line or checkpoint is written twice. Bottom layer: imports nothing from syndiag, nor torch.
"""

from __future__ import annotations

import os
import sys


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    return rank() == 0


def wait_for_everyone() -> None:
    """A barrier across the ranks of an initialised process group; a no-op in one process."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is not None and distributed.is_available() and distributed.is_initialized() and distributed.get_world_size() > 1:
        distributed.barrier()
