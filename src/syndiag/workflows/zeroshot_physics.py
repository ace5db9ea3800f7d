"""Zero-shot classes from their description by physics (issue 30, item 3), on the zeroshot suite's compositional splits.

Per split and seed, nothing of a new class is seen. The seen classes' train-pool windows of the zero-shot condition
(what the language-model route aligns on) fit the log-spectrum Mahalanobis model (class means, one Ledoit-Wolf
covariance) on one random half; the threshold is the conformal 99 % quantile of the other half's novelty scores
(``models/openset``: smallest distance to a seen class). A test window below it goes to its nearest seen class; a
window above it ("a fault not seen") goes to the new class whose description it matches best:

- ``lines``: the described defect line on the described location's channel, and that channel's vibration, against the
  other location's (``models/zeroshot_physics.line_scores``; the envelope evidence of one 43 ms window);
- ``attributes``: the described type, location and size against those of the seen classes the window resembles
  (``attribute_scores``: the descriptions of the seen classes parsed the same way);
- ``combined``: their sum.

Beside each, the random-text ablation: the new classes' descriptions replaced by random (type, location, size), the
mean of :data:`RANDOM_DRAWS` draws; and the new classes' descriptions swapped (rotated by one).
The size term is the attribute route's only size evidence (the seen classes of the described size). Whether the
windows' energy orders the sizes, so that it could give the size instead, is checked beside (``energy_size_check``)
and not used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.openset import OpenSetConfig, ZeroShotSplit
from syndiag.data.openset_splits import zeroshot_classes
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import ConfigError
from syndiag.models.baselines import log_spectrum
from syndiag.models.openset import Mahalanobis, calibrate_threshold
from syndiag.models.zeroshot_physics import FaultDescription, attribute_scores, line_scores, parse_description, random_descriptions, window_evidence
from syndiag.workflows.cells import data_identity
from syndiag.workflows.unknown_models import run_cells, run_recipe
from syndiag.workflows.zeroshot import accuracy

ROUTES = ("lines", "attributes", "combined")
RANDOM_DRAWS = 20
"""Random descriptions drawn per cell for the ablation (its accuracy is their mean: one draw often names the right
location by chance, there being two)."""
METHOD_VERSION = 3
"""Part of each cell's hash: raise it when the route's computation changes."""


def condition_rpm(condition: str) -> float:
    """The shaft speed a condition's name states ("1730rpm" -> 1730.0); ConfigError when it states none."""
    text = condition.lower().removesuffix("rpm")
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"zeroshot_condition {condition!r} states no shaft speed (e.g. '1730rpm'): the defect lines need one") from None


def split_descriptions(dataset: PreparedDataset, split: ZeroShotSplit) -> tuple[list[int], list[int], list[FaultDescription], list[FaultDescription]]:
    """(seen, new) class indices and their parsed descriptions (a new class's from the split, else its prompt); a
    description naming no fault type or location is refused with the split and class named."""
    seen, new, texts = zeroshot_classes(dataset.class_names, split.new, split.descriptions, dataset.prompts)
    names = dataset.class_names
    parsed = {c: parse_description(texts[c], f"zero-shot split {split.name!r}, class {names[c]}") for c in seen + new}
    for c in new:
        if parsed[c].fault is None:
            raise ConfigError(f"zero-shot split {split.name!r}, class {names[c]}: the description {texts[c]!r} names a healthy "
                              "machine; a new class from its description must name a fault type and a location")
    return seen, new, [parsed[c] for c in seen], [parsed[c] for c in new]


def gated_scores(novelty: np.ndarray, threshold: float, seen_scores: np.ndarray, new_scores: np.ndarray, seen: list[int],
                 new: list[int], classes: int) -> np.ndarray:
    """(windows, classes): a window below the threshold scores only the seen classes, one above it only the new ones."""
    out = np.full((len(novelty), classes), -np.inf)
    known = novelty <= threshold
    out[np.ix_(known, seen)] = seen_scores[known]
    out[np.ix_(~known, new)] = new_scores[~known]
    return out


def metrics(scores: np.ndarray, truth: np.ndarray, new: list[int]) -> dict[str, float]:
    """Accuracy among all classes (all windows, seen, new) and of the new windows among the new classes only."""
    def mean_of(draws: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
        return {r: {k: float(np.mean([d[r][k] for d in draws])) for k in draws[0][r]} for r in ROUTES}

    is_new = np.isin(truth, new)
    return {"all": accuracy(scores, truth, np.ones_like(is_new)), "seen": accuracy(scores, truth, ~is_new),
            "new": accuracy(scores, truth, is_new), "new_among_new": accuracy(scores, truth, is_new, np.asarray(new))}


def energy_size_check(energy: np.ndarray, labels: np.ndarray, pool: np.ndarray, test: np.ndarray, seen: list[int], new: list[int],
                      seen_text: list[FaultDescription], new_text: list[FaultDescription], names: list[str]) -> dict[str, dict[str, float]]:
    """Whether window energy (sum of the channels' log RMS) orders the defect sizes, so that it could give the size:
    per new class, the energy the seen classes of its type predict for its size (those of the same size, else a
    straight line over size), its test windows' mean, and the share of them nearer its own prediction than the other
    new classes'. A check reported beside the routes, never used by them."""
    predicted = {}
    for c, d in zip(new, new_text):
        same = [(s.size_in, energy[pool][labels[pool] == k].mean()) for k, s in zip(seen, seen_text) if s.fault == d.fault and s.size_in is not None]
        sizes, levels = np.array([a for a, _ in same]), np.array([b for _, b in same])
        exact = np.isclose(sizes, d.size_in) if d.size_in is not None and sizes.size else np.zeros(0, dtype=bool)
        predicted[c] = float(levels[exact].mean()) if exact.any() else float(np.polyval(np.polyfit(sizes, levels, 1), d.size_in)) \
            if d.size_in is not None and np.unique(sizes).size > 1 else float("nan")
    out = {}
    for c in new:
        mine = energy[test][labels[test] == c]
        gap = np.abs(mine - predicted[c])
        others = [np.abs(mine - predicted[o]) for o in new if o != c]
        out[names[c]] = {"predicted": predicted[c], "test_mean": float(mine.mean()),
                         "nearer_own": float(np.mean([(gap < o).all() for o in np.stack(others, 1)])) if others else float("nan")}
    return out


def physics_record(config: OpenSetConfig, dataset: PreparedDataset, split: ZeroShotSplit, seed: int, rows: np.ndarray,
                   features: np.ndarray, evidence: dict[str, np.ndarray]) -> dict[str, Any]:
    """One results line: every route and its random-text ablation on one split and seed; ``rows``: the zero-shot
    condition's windows, whose log spectra (``features``) and envelope evidence are given (same order)."""
    seen, new, seen_text, new_text = split_descriptions(dataset, split)
    labels, splits = np.asarray(dataset.labels)[rows], np.asarray(dataset.split)[rows]
    pool = np.flatnonzero((splits == POOL) & np.isin(labels, seen))
    test = np.flatnonzero(splits == TEST)
    pool = np.random.default_rng([seed, 30]).permutation(pool)
    fit, calibrate = pool[: pool.size // 2], pool[pool.size // 2 :]
    order = {c: i for i, c in enumerate(seen)}
    model = Mahalanobis().fit(features[fit], np.array([order[c] for c in labels[fit]]))
    threshold = calibrate_threshold(model.distances(features[calibrate]).min(1), config.false_alarm)
    distances = model.distances(features[test])
    novelty, truth = distances.min(1), labels[test]
    window = {k: v[test] for k, v in evidence.items()}
    rng = np.random.default_rng([seed, 4711])
    random_text = [random_descriptions(len(new), rng) for _ in range(RANDOM_DRAWS)]

    def routes(described: list[FaultDescription]) -> dict[str, dict[str, float]]:
        lines, attributes = line_scores(window, described), attribute_scores(distances, seen_text, described)
        found = {"lines": lines, "attributes": attributes, "combined": lines + attributes}
        return {r: metrics(gated_scores(novelty, threshold, -0.5 * distances, found[r], seen, new, len(dataset.class_names)), truth, new)
                for r in ROUTES}

    def mean_of(draws: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
        return {r: {k: float(np.mean([d[r][k] for d in draws])) for k in draws[0][r]} for r in ROUTES}

    is_new = np.isin(truth, new)
    return {"split": split.name, "seed": seed, "new_classes": [dataset.class_names[c] for c in new],
            "new_descriptions": [d.attributes() for d in new_text], "random_draws": RANDOM_DRAWS,
            "energy_size": energy_size_check(evidence["rms@drive_end"] + evidence["rms@fan_end"], labels, pool, test, seen, new, seen_text,
                                             new_text, dataset.class_names),
            "metrics": {"described": routes(new_text), "random_text": mean_of([routes(r) for r in random_text]),
                        "swapped": routes(new_text[1:] + new_text[:1])},
            "novelty": {"threshold": threshold, "new_flagged": float((novelty[is_new] > threshold).mean()),
                        "seen_flagged": float((novelty[~is_new] > threshold).mean())},
            "chance": {"all": 1 / len(dataset.class_names), "new_among_new": 1 / len(new)}, "test_windows": int(test.size),
            "fit_windows": int(fit.size), "calibration_windows": int(calibrate.size), "condition": config.zeroshot_condition}


def run_zeroshot_physics(config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None = None, say: Callable[[str], None] = print,
                         allow_dirty: bool = False) -> tuple[int, int]:
    """Every (split, seed) cell not yet in ``results`` (resumable); returns (cells run, cells left)."""
    recipe = run_recipe(config, overrides)
    dataset = prepare(recipe.data)
    for split in config.splits:  # a bad split or description is refused before anything is computed
        split_descriptions(dataset, split)
    rpm = condition_rpm(config.zeroshot_condition)
    identity = data_identity(dataset)
    cells = {(s.name, seed): config.cell_hash({"data": identity, "method": f"zeroshot-physics-{METHOD_VERSION}"}, "zeroshot-physics",
                                              s.model_dump_json(), seed) for seed in config.seeds for s in config.splits}
    splits = {s.name: s for s in config.splits}
    cache: dict[str, Any] = {}

    def record(cell: tuple[str, int]) -> dict[str, Any]:
        if not cache:  # the condition's windows only, once for every cell
            rows = np.flatnonzero(np.asarray(dataset.conditions) == dataset.condition_names.index(config.zeroshot_condition))
            windows = np.asarray(dataset.windows[rows])
            cache.update(rows=rows, features=log_spectrum(windows),
                         evidence=window_evidence(windows, dataset.fs, list(dataset.meta["channels"]), rpm))
        return physics_record(config, dataset, splits[cell[0]], cell[1], cache["rows"], cache["features"], cache["evidence"])

    def summary(cell: tuple, found: dict) -> str:
        m = found["metrics"]
        return (f"zeroshot-physics {cell[0]} seed {cell[1]}: new classes among all " + ", ".join(
            f"{r} {m['described'][r]['new']:.3f} (random text {m['random_text'][r]['new']:.3f})" for r in ROUTES))

    return run_cells("zeroshot-physics", results, cells, record, {"profile": config.profile, "data_identity": identity}, summary, say, allow_dirty)
