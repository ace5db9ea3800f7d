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
from dataclasses import dataclass
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


@dataclass
class Gate:
    """The seen classes' novelty gate on one split and seed, with what the routes read: the (seen, new) classes and
    their parsed descriptions, the test windows' squared Mahalanobis distances to the seen classes, their novelty
    (smallest distance), the threshold, their labels and envelope evidence."""

    seen: list[int]
    new: list[int]
    seen_text: list[FaultDescription]
    new_text: list[FaultDescription]
    distances: np.ndarray
    novelty: np.ndarray
    threshold: float
    truth: np.ndarray
    evidence: dict[str, np.ndarray]
    pool: np.ndarray
    test: np.ndarray
    fit_windows: int
    calibration_windows: int

    def scores(self, new_scores: np.ndarray, classes: int) -> np.ndarray:
        """(windows, classes): the nearest seen class below the threshold, ``new_scores`` (windows x new classes) above it."""
        return gated_scores(self.novelty, self.threshold, -0.5 * self.distances, new_scores, self.seen, self.new, classes)


def fit_gate(config: OpenSetConfig, dataset: PreparedDataset, split: ZeroShotSplit, seed: int, rows: np.ndarray,
             features: np.ndarray, evidence: dict[str, np.ndarray]) -> Gate:
    """The gate of one split and seed; ``rows``: the zero-shot condition's windows (ascending), whose log spectra
    (``features``) and envelope evidence are given in that order. Its test windows are ``rows``' test windows, in order."""
    seen, new, seen_text, new_text = split_descriptions(dataset, split)
    labels, splits = np.asarray(dataset.labels)[rows], np.asarray(dataset.split)[rows]
    pool = np.flatnonzero((splits == POOL) & np.isin(labels, seen))
    test = np.flatnonzero(splits == TEST)
    lacking = [dataset.class_names[c] for c in seen if not (labels[pool] == c).any()]
    if lacking:
        raise ConfigError(f"zero-shot split {split.name!r}: no train-pool window of the seen class(es) {', '.join(lacking)} at "
                          f"{dataset.condition_names[dataset.conditions[rows[0]]]}: raise data.window.per_class")
    pool = np.random.default_rng([seed, 30]).permutation(pool)
    fit, calibrate = pool[: pool.size // 2], pool[pool.size // 2 :]
    for c in seen:  # every seen class fits the model: one window moves from the calibration half when its fit half has none
        if not (labels[fit] == c).any():
            moved = calibrate[labels[calibrate] == c][:1]
            fit, calibrate = np.concatenate([fit, moved]), np.setdiff1d(calibrate, moved)
    order = {c: i for i, c in enumerate(seen)}
    model = Mahalanobis().fit(features[fit], np.array([order[c] for c in labels[fit]]))
    threshold = calibrate_threshold(model.distances(features[calibrate]).min(1), config.false_alarm)
    distances = model.distances(features[test])
    return Gate(seen, new, seen_text, new_text, distances, distances.min(1), threshold, labels[test],
                {k: v[test] for k, v in evidence.items()}, pool, test, int(fit.size), int(calibrate.size))


def physics_record(config: OpenSetConfig, dataset: PreparedDataset, split: ZeroShotSplit, seed: int, rows: np.ndarray,
                   features: np.ndarray, evidence: dict[str, np.ndarray]) -> dict[str, Any]:
    """One results line: every route and its ablations on one split and seed (``rows``, ``features``, ``evidence``:
    as :func:`fit_gate`)."""
    gate = fit_gate(config, dataset, split, seed, rows, features, evidence)
    seen, new, truth, classes = gate.seen, gate.new, gate.truth, len(dataset.class_names)
    rng = np.random.default_rng([seed, 4711])
    random_text = [random_descriptions(len(new), rng) for _ in range(RANDOM_DRAWS)]

    def routes(described: list[FaultDescription]) -> dict[str, dict[str, float]]:
        lines, attributes = line_scores(gate.evidence, described), attribute_scores(gate.distances, gate.seen_text, described)
        found = {"lines": lines, "attributes": attributes, "combined": lines + attributes}
        return {r: metrics(gate.scores(found[r], classes), truth, new) for r in ROUTES}

    def mean_of(draws: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
        return {r: {k: float(np.mean([d[r][k] for d in draws])) for k in draws[0][r]} for r in ROUTES}

    labels = np.asarray(dataset.labels)[rows]
    is_new = np.isin(truth, new)
    return {"split": split.name, "seed": seed, "new_classes": [dataset.class_names[c] for c in new],
            "new_descriptions": [d.attributes() for d in gate.new_text], "random_draws": RANDOM_DRAWS,
            "energy_size": energy_size_check(evidence["rms@drive_end"] + evidence["rms@fan_end"], labels, gate.pool, gate.test, seen, new,
                                             gate.seen_text, gate.new_text, dataset.class_names),
            "metrics": {"described": routes(gate.new_text), "random_text": mean_of([routes(r) for r in random_text]),
                        "swapped": routes(gate.new_text[1:] + gate.new_text[:1])},
            "novelty": {"threshold": gate.threshold, "new_flagged": float((gate.novelty[is_new] > gate.threshold).mean()),
                        "seen_flagged": float((gate.novelty[~is_new] > gate.threshold).mean())},
            "chance": {"all": 1 / classes, "new_among_new": 1 / len(new)}, "test_windows": int(gate.test.size),
            "fit_windows": gate.fit_windows, "calibration_windows": gate.calibration_windows,
            "condition": config.zeroshot_condition}


def run_split_cells(suite: str, version: int, config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None,
                    record_of: Callable[..., dict[str, Any]], summary: Callable[[tuple, dict], str], say: Callable[[str], None],
                    allow_dirty: bool) -> tuple[int, int]:
    """Every (split, seed) cell of ``suite`` not yet in ``results`` (resumable): ``record_of(config, recipe, dataset,
    split, seed, rows, features, evidence)`` on the zero-shot condition's windows, whose log spectra and envelope
    evidence are computed once. A bad split or description is refused before anything is computed."""
    recipe = run_recipe(config, overrides)
    dataset = prepare(recipe.data)
    for split in config.splits:
        split_descriptions(dataset, split)
    rpm = condition_rpm(config.zeroshot_condition)
    identity = data_identity(dataset)
    cells = {(s.name, seed): config.cell_hash({"data": identity, "method": f"{suite}-{version}"}, suite, s.model_dump_json(), seed)
             for seed in config.seeds for s in config.splits}
    splits = {s.name: s for s in config.splits}
    rows = np.flatnonzero(np.asarray(dataset.conditions) == dataset.condition_names.index(config.zeroshot_condition))
    cache: dict[str, Any] = {}

    def record(cell: tuple[str, int]) -> dict[str, Any]:
        if not cache:  # once for every cell
            windows = np.asarray(dataset.windows[rows])
            cache.update(features=log_spectrum(windows), evidence=window_evidence(windows, dataset.fs, list(dataset.meta["channels"]), rpm))
        return record_of(config, recipe, dataset, splits[cell[0]], cell[1], rows, cache["features"], cache["evidence"])

    return run_cells(suite, results, cells, record, {"profile": config.profile, "data_identity": identity}, summary, say, allow_dirty)


def run_zeroshot_physics(config: OpenSetConfig, results: Path, overrides: dict[str, Any] | None = None, say: Callable[[str], None] = print,
                         allow_dirty: bool = False) -> tuple[int, int]:
    """Every (split, seed) cell not yet in ``results`` (resumable); returns (cells run, cells left)."""

    def summary(cell: tuple, found: dict) -> str:
        m = found["metrics"]
        return (f"zeroshot-physics {cell[0]} seed {cell[1]}: new classes among all " + ", ".join(
            f"{r} {m['described'][r]['new']:.3f} (random text {m['random_text'][r]['new']:.3f})" for r in ROUTES))

    return run_split_cells("zeroshot-physics", METHOD_VERSION, config, results, overrides,
                           lambda c, _recipe, *rest: physics_record(c, *rest), summary, say, allow_dirty)
