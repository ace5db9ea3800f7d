"""One ``setup()`` for every workflow: threads, seed, prepared data, and a cloud model placed on the configured device."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syndiag.config.run import RunConfig
from syndiag.data.fewshot import FewShotTask, few_shot_task
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.errors import ConfigError, SyndiagError
from syndiag.models.backbones import load_backbone
from syndiag.models.checkpoint import CONFIG, WEIGHTS, read_checkpoint_meta
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.device import place
from syndiag.training.common import seed_everything, set_threads
from syndiag.training.engine import configure_training

log = logging.getLogger(__name__)


@dataclass
class Session:
    config: RunConfig
    dataset: PreparedDataset
    model: SynDiagCloud


def setup(config: RunConfig, checkpoint: Path | None = None, progress=None) -> Session:
    """Threads and seed, the prepared dataset, and a cloud model (fresh, or from ``checkpoint``) on ``config.device``."""
    if checkpoint is not None:
        require_checkpoint(checkpoint, "syndiag-cloud")
    set_threads(config.threads)
    configure_training(config)  # ranks meet here, before any cache is looked for
    seed_everything(config.seed)
    dataset = prepare(config.data, progress=progress)
    if checkpoint is not None:
        model = SynDiagCloud.from_pretrained(checkpoint)
        if model.class_names != dataset.class_names:
            raise ConfigError(f"{checkpoint}: trained on classes {model.class_names}, the data has {dataset.class_names}")
    else:
        backbone = load_backbone(config.model.backbone, config.model.allow_download, config.model.num_layers)
        model = SynDiagCloud(config.model, backbone, dataset.class_names, dataset.prompts)
    place(model, config)
    configure_training(config, model)
    return Session(config=config, dataset=dataset, model=model)


def require_checkpoint(folder: Path | str, kind: str) -> dict[str, Any]:
    """The config of the ``kind`` checkpoint in ``folder``, read before any data is: a ConfigError naming the path when the
    folder is missing, lacks its config or weights, or cannot be read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a syndiag checkpoint (no such folder)")
    try:
        with open(folder / WEIGHTS, "rb"):
            pass
        return read_checkpoint_meta(folder, kind)
    except FileNotFoundError:
        raise ConfigError(f"{folder}: not a syndiag checkpoint (needs {CONFIG} and {WEIGHTS})") from None
    except OSError as exc:
        raise ConfigError(f"{folder}: unreadable checkpoint ({exc.filename}: {(exc.strerror or str(exc)).lower()})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{folder}: unreadable checkpoint ({folder / CONFIG}: not UTF-8 text, {exc.reason})") from None


def require_finetuned(folder: Path | str, kind: str, stage: str) -> dict[str, Any]:
    """:func:`require_checkpoint`, and the checkpoint must record its few-shot task (``stage``: the command that writes one)."""
    meta = require_checkpoint(folder, kind)
    if "task" not in meta:
        raise SyndiagError(f"{folder}: not a fine-tuned checkpoint (run syndiag {stage} first)")
    return meta


def check_draw(k: int | None, seed: int | None) -> None:
    """Refuse a K-shot draw's ``shots`` below 1 or ``seed`` below 0, before any data is read."""
    if k is not None and k < 1:
        raise ConfigError(f"shots must be at least 1, got {k}")
    if seed is not None and seed < 0:
        raise ConfigError(f"seed must be 0 or more, got {seed}")


def finetune_task(config: RunConfig, dataset: PreparedDataset, k: int | None = None, seed: int | None = None) -> FewShotTask:
    """The K-shot task of the recipe: source (default the last condition) -> target (default the source)."""
    check_draw(k, seed)
    stage = config.finetune
    source = stage.source or dataset.condition_names[-1]
    return few_shot_task(dataset, stage.shots if k is None else k, config.seed if seed is None else seed, source, stage.target)


def task_of_checkpoint(dataset: PreparedDataset, meta: dict[str, Any], folder: Path | str, target: str | None = None) -> FewShotTask:
    """The few-shot task a fine-tuned (or distilled) checkpoint was trained on, optionally tested on another ``target``."""
    if "task" not in meta:
        raise SyndiagError(f"{folder}: not a fine-tuned checkpoint (run syndiag finetune first)")
    spec = meta["task"]
    return few_shot_task(dataset, spec["k"], spec["seed"], spec["source"], target or spec["target"])


def data_meta(config: RunConfig, dataset: PreparedDataset) -> dict[str, Any]:
    """What a checkpoint must carry to turn a raw recording into the inputs it was trained on."""
    return {"data": config.data.model_dump(mode="json"), "channels": dataset.meta["channels"], "fs": dataset.fs}
