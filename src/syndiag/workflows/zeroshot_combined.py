"""Zero-shot from a description, the language-model and physics routes combined (issue 30, item 3), per split and seed
on the same test windows:

- ``language-model``: the zeroshot suite's route (cosine of each window's v_g to every class's t_g, argmax among all
  classes), from the extractor aligned on the seen classes (the suite's own cache folder);
- ``language-model, gated``: the physics route's gate (``workflows/zeroshot_physics.fit_gate``: the seen classes'
  log-spectrum Mahalanobis score) decides seen or new; a flagged window goes to the new class of most similar t_g;
- ``language-model + attributes``: the same gate; a flagged window scored by the sum of the new classes' log
  probabilities under the text (softmax of the cosines at CLIP's temperature 0.07, the alignment's starting one) and
  the attribute route's score;
- ``attributes``: the physics route alone, as in ``zeroshot-physics_cwru_cpu.jsonl``;

each beside the new classes' t_g replaced by random unit vectors (the suite's ablation) for the two language-model routes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_softmax

from syndiag.config.openset import OpenSetConfig, ZeroShotSplit
from syndiag.config.run import RunConfig
from syndiag.data.openset_splits import class_view, zeroshot_classes
from syndiag.data.prepare import PreparedDataset
from syndiag.models.zeroshot_physics import attribute_scores
from syndiag.workflows.unknown_models import Setting
from syndiag.workflows.zeroshot import BACKBONES, aligned
from syndiag.workflows.zeroshot_physics import fit_gate, metrics, run_split_cells

TEXT_TEMPERATURE = 0.07
COMBINED_ROUTES = ("language-model", "language-model, gated", "language-model + attributes", "attributes")
METHOD_VERSION = 1


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def combined_record(config: OpenSetConfig, recipe: RunConfig, dataset: PreparedDataset, split: ZeroShotSplit, seed: int,
                    rows: np.ndarray, features: np.ndarray, evidence: dict[str, np.ndarray]) -> dict[str, Any]:
    """One results line: the four routes, and the two language-model routes with random new-class text features."""
    gate = fit_gate(config, dataset, split, seed, rows, features, evidence)
    seen, new, texts = zeroshot_classes(dataset.class_names, split.new, split.descriptions, dataset.prompts)
    view = class_view(dataset, seen)
    test = rows[gate.test]
    cloud, folder = aligned(config, recipe, dataset, view, seen, "cloud", "language-model", seed)
    found = BACKBONES["cloud"].zeroshot(Setting(config, cloud, view, folder, seed), dataset, texts, "language-model", {"test": test})
    text = _unit(found.text)
    random_text = text.copy()
    random_text[new] = _unit(np.random.default_rng([seed, 4711]).standard_normal((len(new), text.shape[1])))
    attributes = attribute_scores(gate.distances, gate.seen_text, gate.new_text)
    classes = len(dataset.class_names)

    def routes(t: np.ndarray) -> dict[str, dict[str, float]]:
        cosine = _unit(found.visual["test"]) @ t.T
        among_new = log_softmax(cosine[:, new] / TEXT_TEMPERATURE, axis=1)
        return {"language-model": metrics(cosine, gate.truth, new), "language-model, gated": metrics(gate.scores(cosine[:, new], classes), gate.truth, new),
                "language-model + attributes": metrics(gate.scores(among_new + attributes, classes), gate.truth, new),
                "attributes": metrics(gate.scores(attributes, classes), gate.truth, new)}

    return {"split": split.name, "seed": seed, "backbone": "cloud", "backbone_name": found.name, "new_classes": [dataset.class_names[c] for c in new],
            "new_texts": [texts[c] for c in new], "metrics": {"text": routes(text), "random_vectors": routes(random_text)},
            "chance": {"all": 1 / classes, "new_among_new": 1 / len(new)}, "test_windows": int(test.size), "condition": config.zeroshot_condition,
            "text_temperature": TEXT_TEMPERATURE}


def run_zeroshot_combined(config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None = None, say: Callable[[str], None] = print,
                          allow_dirty: bool = False) -> tuple[int, int]:
    """Every (split, seed) cell not yet in ``results`` (resumable); returns (cells run, cells left)."""

    def summary(cell: tuple, found: dict) -> str:
        m = found["metrics"]["text"]
        return f"zeroshot-combined {cell[0]} seed {cell[1]}: new classes among all " + ", ".join(f"{r} {m[r]['new']:.3f}" for r in COMBINED_ROUTES)

    return run_split_cells("zeroshot-combined", METHOD_VERSION, config, results, overrides, combined_record, summary, say, allow_dirty)
