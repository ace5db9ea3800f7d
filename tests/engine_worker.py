"""Run by tests/test_engine.py under ``torchrun --nproc_per_node N``: trains a tiny Syn-Diag cloud model on the engine.

argv: OUT STRATEGY ACCUMULATION [STOP_AFTER_STEP]. Writes OUT/params.safetensors (rank 0 only), a results line, and
OUT/split-RANK.txt (every rank: the few-shot split it drew), then exits 0; with STOP_AFTER_STEP it stops there (exit 3).
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save
from tiny import tiny_backbone

from syndiag.atomic import atomic_write_bytes
from syndiag.config.models import CloudConfig
from syndiag.config.runtime import RuntimeConfig, ScalingConfig
from syndiag.data.fewshot import few_shot_task
from syndiag.evaluation.metrics import append_result
from syndiag.models.cloud import SynDiagCloud
from syndiag.ranks import rank
from syndiag.training.common import seed_everything
from syndiag.training.engine import configure_training, train_epochs


class Index:
    labels = np.repeat(np.arange(3), 20)
    conditions = np.zeros(60, dtype=int)
    split = np.tile(np.array([0] * 14 + [1] * 6), 3)
    class_names = ["normal", "DE_IR007", "FE_B021"]
    condition_names = ["1730rpm"]


class Stop(Exception):
    pass


def main() -> int:
    out, strategy, accumulation = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    stop = int(sys.argv[4]) if len(sys.argv) > 4 else None
    (out / f"split-{rank()}.txt").parent.mkdir(parents=True, exist_ok=True)
    task = few_shot_task(Index(), 5, seed=7, source="1730rpm")
    (out / f"split-{rank()}.txt").write_text(" ".join(map(str, task.train)))
    generator = seed_everything(0)
    config = CloudConfig(backbone="tiny", extractor_widths=[8, 16], extractor_stem=8, visual_grid=2, input_prompts=2,
                         deep_prompts=2, deep_prompt_every=1, lora_r=4, lora_dropout=0.0)
    model = SynDiagCloud(config, tiny_backbone("decoder", layers=2), Index.class_names,
                         ["normal operation", "inner race fault at motor end", "ball fault at fan end"])
    scaling = ScalingConfig(strategy=strategy, grad_accumulation=accumulation, resumable=True)
    configure_training(RuntimeConfig(scaling=scaling, output_dir=out), model)
    from torch.distributed.fsdp import FSDPModule

    sharded = sum(isinstance(layer, FSDPModule) for layer in model.lm.get_base_model().layers)
    (out / f"sharded-{rank()}.txt").write_text(str(sharded))
    images = torch.randint(0, 256, (40, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(40) % 3

    def loss_of(batch, step, total):
        if stop is not None and step == stop:
            raise Stop
        return F.cross_entropy(model(images[torch.from_numpy(batch)]), labels[torch.from_numpy(batch)])

    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        losses, steps = train_epochs(trainable, np.arange(40), loss_of, epochs=4, batch_size=8, lr=3e-3, weight_decay=0.01,
                                     generator=generator)
    except Stop:
        return 3
    tensors = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    atomic_write_bytes(out / "params.safetensors", save(tensors))
    append_result(out / "results.jsonl", {"steps": steps, "loss": losses[-1]})
    return 0


if __name__ == "__main__":
    code = None
    try:
        code = main()
    finally:
        if code == 3:  # the interrupted run stands for a killed one: it leaves at once, as a kill would, with no teardown
            os._exit(3)  # (tearing a gloo group down mid-run aborted the process now and then: SIGABRT, not exit code 3)
        if torch.distributed.is_initialized():  # leave the process group before exiting: a live gloo group can abort the exit
            torch.distributed.destroy_process_group()
    sys.exit(code)
