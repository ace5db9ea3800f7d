"""Syn-Diag as a model family of the openset and zeroshot suites (issue 17), on its extractor pretrained without the
held-out classes:

  - open set, read out by the fine-tuned cloud (``fine-tuned``): fine-tuned on the K-shot support of the known classes;
    logits from its head, features its fusion-token feature h_fusion_out;
  - open set, read out by ``prototypes``: the pretrained extractor's v_g, nearest class mean by cosine (logits scaled by
    the learned temperature), features v_g;
  - zero-shot: v_g of each window against each class's text feature t_g (the alignment's own similarity), the texts
    from the language model's word embeddings or from random token embeddings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from syndiag.config.openset import OpenSetConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.openset_splits import OpenSetTask
from syndiag.data.prepare import PreparedDataset
from syndiag.models.backbones import load_backbone
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.device import place
from syndiag.models.prompt_fusion import ClassTextBank
from syndiag.models.text_ablation import random_token_embeddings
from syndiag.training.common import image_batch
from syndiag.training.finetune import finetune
from syndiag.training.pretrain import global_visual_features
from syndiag.workflows.unknown_models import Setting, Trained, ZeroShotFeatures


@dataclass(frozen=True)
class SynDiag:
    """The Syn-Diag family, read out on an open-set task by its fine-tuned cloud model or by prototypes."""

    readout: Literal["fine-tuned", "prototypes"] = "fine-tuned"
    text_sources: tuple[str, ...] = ("language-model", "random-tokens")

    def material(self, config: OpenSetConfig) -> dict:
        return {}

    def train(self, setting: Setting, task: OpenSetTask) -> Trained:
        return (fine_tuned_cloud if self.readout == "fine-tuned" else prototypes)(setting, task)

    def zeroshot(self, setting: Setting, dataset: PreparedDataset, texts: list[str], text_source: str,
                 windows: dict[str, np.ndarray]) -> ZeroShotFeatures:
        cloud = setting.recipe
        lm = load_backbone(cloud.model.backbone, cloud.model.allow_download, cloud.model.num_layers)
        model = place(SynDiagCloud.from_pretrained(setting.pretrained, lm), cloud).eval()
        table = torch.nn.Embedding.from_pretrained(lm.word_embeddings().weight.detach().float().cpu())  # the model may sit on a GPU
        embeddings = table if text_source == "language-model" else random_token_embeddings(table, setting.seed)
        with torch.no_grad():
            text = ClassTextBank(lm.tokenizer, embeddings, texts).global_features().float().numpy()
        visual = {name: global_visual_features(model, dataset, indices, cloud.finetune.eval_batch_size) for name, indices in windows.items()}
        return ZeroShotFeatures(visual, text, cloud.model.backbone)


def fine_tuned_cloud(setting: Setting, task: OpenSetTask) -> Trained:
    """The pretrained cloud fine-tuned on the known support; its logits and fusion-token features."""
    recipe, view = setting.recipe, setting.view
    model = place(SynDiagCloud.from_pretrained(setting.pretrained), recipe)
    fewshot = FewShotTask(task.k, task.seed, (task.source,), task.target, task.support, task.test, tuple(view.class_names))
    started = time.perf_counter()
    finetune(model, view, fewshot, recipe.finetune, task.seed)
    seconds = time.perf_counter() - started
    model.eval()
    batch = recipe.finetune.eval_batch_size

    def encode(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = _batched(model.features, view, idx, batch)
        return _batched_head(model, features), features

    return Trained(encode, seconds)


def prototypes(setting: Setting, task: OpenSetTask) -> Trained:
    """The pretrained extractor's class means of v_g over the known support; cosine logits scaled by the learned temperature."""
    view = setting.view
    model = place(SynDiagCloud.from_pretrained(setting.pretrained), setting.recipe).eval()
    batch = setting.recipe.finetune.eval_batch_size
    started = time.perf_counter()
    features_of = lambda idx: _batched(lambda x: model.visual_tokens(x).mean(1), view, idx, batch)  # noqa: E731
    support_features, support_labels = features_of(task.support), view.labels[task.support]
    means = np.stack([support_features[support_labels == c].mean(0) for c in range(len(view.class_names))])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    scale = float(model.logit_scale.detach().exp().clamp(max=100.0))

    def encode(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = support_features if idx is task.support else features_of(idx)
        return scale * (f / np.linalg.norm(f, axis=1, keepdims=True)) @ means.T, f

    return Trained(encode, time.perf_counter() - started)


def _batched(fn: Callable, dataset: PreparedDataset, indices: np.ndarray, batch: int) -> np.ndarray:
    with torch.inference_mode():
        parts = [fn(image_batch(dataset, indices[s : s + batch])).float().cpu().numpy() for s in range(0, len(indices), batch)]
    return np.concatenate(parts)


def _batched_head(model, features: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.head(torch.from_numpy(features).to(next(model.head.parameters()).device)).float().cpu().numpy()
