"""Zero-shot fault classes from their description (issue 17) as library functions, and the zeroshot suite.

Per split, backbone, text source and seed the extractor is aligned (pretraining, eq. 2-5) on the seen classes only;
no window of a new class reaches any training step. A window is then classified among ALL classes by the cosine of its
global visual feature v_g to each class's text feature t_g (the alignment's own similarity), the new classes' t_g
made from their descriptions alone. Beside it, on the same model:
  - ``random vectors``: the new classes' t_g replaced by random unit vectors (what a class without a usable text gets);
  - ``one real example``: the new classes represented by the v_g of one real window each (what a prototype method gets);
and, as its own cells, the text source ``random-tokens``: the whole alignment redone on class texts made of random token
embeddings (the words' identity kept, the language model's knowledge of them removed). A model family (the interface
``workflows/unknown_models.UnknownFaultModel``) gives the windows' visual and the classes' text features; the splits,
metrics and results lines are here, once for every family.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.openset import OpenSetConfig, ZeroShotSplit
from syndiag.config.run import RunConfig
from syndiag.data.fewshot import support, test_set
from syndiag.data.openset_splits import class_view, zeroshot_classes
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.models.zeroshot_physics import parse_description
from syndiag.workflows.cells import data_identity, digest, recipe_material
from syndiag.workflows.unknown_models import Setting, UnknownFaultModel, pretrained_cloud, run_cells, run_recipe
from syndiag.workflows.unknown_sensor import SensorFamily
from syndiag.workflows.unknown_syndiag import SynDiag

BACKBONES: dict[str, UnknownFaultModel] = {"cloud": SynDiag(), "edge": SynDiag(), "sensor": SensorFamily()}
"""Each zero-shot backbone's model family (``cloud`` and ``edge``: Syn-Diag on that model's language model)."""


def backbone_recipe(recipe: RunConfig, backbone: str) -> RunConfig:
    """The recipe with the cloud's language model (``cloud``, and ``sensor``: its spectrogram extractor) or the edge model's (``edge``)."""
    if backbone in ("cloud", "sensor"):
        return recipe
    model = recipe.model.model_copy(update={"backbone": recipe.edge.backbone, "num_layers": recipe.edge.num_layers})
    return recipe.model_copy(update={"model": model})


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def accuracy(similarity: np.ndarray, truth: np.ndarray, rows: np.ndarray, among: np.ndarray | None = None) -> float:
    """Share of ``rows`` whose most similar class (among ``among``, default all) is their true class."""
    if not rows.any():
        return float("nan")
    columns = np.arange(similarity.shape[1]) if among is None else np.asarray(among)
    return float((columns[similarity[rows][:, columns].argmax(1)] == truth[rows]).mean())


def zeroshot_metrics(visual: np.ndarray, texts: np.ndarray, truth: np.ndarray, new: list[int]) -> dict[str, float]:
    """Accuracy among all classes (all windows, seen, new) and of the new windows among the new classes only."""
    similarity = _unit(visual) @ _unit(texts).T
    is_new = np.isin(truth, new)
    return {"all": accuracy(similarity, truth, np.ones_like(is_new)), "seen": accuracy(similarity, truth, ~is_new),
            "new": accuracy(similarity, truth, is_new), "new_among_new": accuracy(similarity, truth, is_new, np.asarray(new))}


def aligned(config: OpenSetConfig, recipe: RunConfig, dataset: PreparedDataset, view: PreparedDataset, seen: list[int], backbone: str,
            text_source: str, seed: int) -> tuple[RunConfig, Path]:
    """The backbone's recipe and the extractor aligned on the seen classes (``view``), trained once and kept by what decides it."""
    cloud = backbone_recipe(recipe, backbone)
    key = digest({"data": data_identity(dataset), "recipe": recipe_material(cloud), "seen": seen, "text": text_source,
                  "conditions": config.pretrain_conditions, "seed": seed}, 12)
    return cloud, pretrained_cloud(cloud, view, config.work_dir / f"zeroshot-{key}", config.pretrain_conditions, seed, text_source)


def zeroshot_record(config: OpenSetConfig, recipe: RunConfig, dataset: PreparedDataset, split: ZeroShotSplit, backbone: str,
                    text_source: str, seed: int) -> dict[str, Any]:
    """One results line: the split's zero-shot accuracies, beside random vectors and one real example per new class."""
    seen, new, texts = zeroshot_classes(dataset.class_names, split.new, split.descriptions, dataset.prompts)
    view = class_view(dataset, seen)
    test = test_set(dataset, config.zeroshot_condition)
    one = np.concatenate([support(dataset, config.zeroshot_condition, 1, seed, [dataset.class_names[c]]) for c in new])
    cloud, folder = aligned(config, recipe, dataset, view, seen, backbone, text_source, seed)
    found = BACKBONES[backbone].zeroshot(Setting(config, cloud, view, folder, seed), dataset, texts, text_source, {"test": test, "one": one})
    visual, one_visual, text = found.visual["test"], found.visual["one"], found.text
    truth = np.asarray(dataset.labels)[test]
    rng = np.random.default_rng([seed, 4711])
    random_text = text.copy()
    random_text[new] = _unit(rng.standard_normal((len(new), text.shape[1])))
    one_real = text.copy()
    one_real[new] = _unit(one_visual)
    chance = {"all": 1 / len(texts), "new_among_new": 1 / len(new)}
    return {"split": split.name, "backbone": backbone, "backbone_name": found.name, "text_source": text_source, "seed": seed,
            "new_classes": [dataset.class_names[c] for c in new], "new_texts": [texts[c] for c in new],
            "metrics": {"text": zeroshot_metrics(visual, text, truth, new), "random_vectors": zeroshot_metrics(visual, random_text, truth, new),
                        "one_real_example": zeroshot_metrics(visual, one_real, truth, new)},
            "chance": chance, "test_windows": int(test.size), "one_real_windows": [int(i) for i in one],
            "condition": config.zeroshot_condition}


def run_zeroshot_suite(config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None = None, say: Callable[[str], None] = print,
                       allow_dirty: bool = False) -> tuple[int, int]:
    """Every (split, backbone, text source, seed) cell not yet in ``results`` (resumable); returns (cells run, cells left)."""
    recipe = run_recipe(config, overrides)
    dataset = prepare(recipe.data)
    identity = data_identity(dataset)
    for split in config.splits:  # a bad split, or a description naming no fault type or location, is refused before anything trains
        _, new, texts = zeroshot_classes(dataset.class_names, split.new, split.descriptions, dataset.prompts)
        for c in new:
            parse_description(texts[c], f"zero-shot split {split.name!r}, class {dataset.class_names[c]}")
    splits = {split.name: split for split in config.splits}
    cells = [(s.name, b, t, seed) for seed in config.seeds for s in config.splits for b in config.zeroshot_backbones for t in config.text_sources
             if t in BACKBONES[b].text_sources]
    material = {b: {"data": identity, **recipe_material(backbone_recipe(recipe, b)), **BACKBONES[b].material(config)} for b in config.zeroshot_backbones}
    hashes = {(s, b, t, seed): config.cell_hash(material[b], "zeroshot", splits[s].model_dump_json(), t, seed) for s, b, t, seed in cells}

    def summary(cell: tuple, record: dict) -> str:
        m = record["metrics"]
        return (f"zeroshot {cell[0]} {cell[1]} {cell[2]} seed {cell[3]}: new classes {m['text']['new']:.3f} among all "
                f"(random vectors {m['random_vectors']['new']:.3f}, one real example {m['one_real_example']['new']:.3f}), "
                f"{m['text']['new_among_new']:.3f} among the new")

    return run_cells("zeroshot", results, hashes, lambda cell: zeroshot_record(config, recipe, dataset, splits[cell[0]], *cell[1:]),
                     {"profile": config.profile, "data_identity": identity}, summary, say, allow_dirty)
