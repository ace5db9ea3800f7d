"""Each augmentation of the discriminant spectrum path, measured on real CWRU windows (issue 29): the path fitted on the
seed's labelled pool with one training augmentation at a time (rows), its prototypes on 5 shots per class at 1730 rpm
(the harness's tasks, seeds 0-2), scored on the same held-out test windows, each perturbed one way (columns):

  - clean; white noise at 0 and -4 dB (the harness's noise: the same windows for every row);
  - chain B: a first-order low-pass at 2 kHz (``bench_spectral_chains.py``); 48 kHz: the windows resampled x4;
  - speed +-2 %: every other test window time-scaled by 1.02, the rest by 0.98 (``training.spectral.time_scaled``:
    resampled, so every line moves by that share);
  - DE absent / FE absent: that channel read as the path's mean spectrum (as the sensor model's spectral head reads an
    absent channel); the log-spectrum 1-NN compares the present channel alone;
  - gain x 10.

Rows: no copies; noisy copies (the default); + chain copies (3); + speed jitter (3 copies, +-3 %); + sensor dropout
(2 copies); + resampling copies (2, read at 2-4 x the rate); all together; the default path whose prototypes, for a
window with a channel absent, are those of the support windows read without it too (by construction, no copies); and
the log-spectrum 1-NN for reference.
Every setting is fixed in advance; the number of components is chosen on the pool as always, never on a test window.
The 1-NN reads time-scaled windows cropped or zero-padded to 512 samples, and 48 kHz windows resampled back to 12 kHz.

    python benchmarks/bench_spectral_augmentations.py --data-root DATA [--seeds 0 1 2]

One JSON line per (seed, row) in benchmarks/results/augmentations_spectral_cwru_cpu.jsonl (resumable), a table beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from bench_spectral_chains import chain_b, through  # noqa: E402
from machine import mean_interval, provenance, write_table  # noqa: E402

from syndiag.config.run import RunConfig  # noqa: E402
from syndiag.config.spectral import SpectralPathConfig  # noqa: E402
from syndiag.data.fewshot import few_shot_task, pretraining_pool  # noqa: E402
from syndiag.data.noise import add_white_noise  # noqa: E402
from syndiag.data.prepare import prepare  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.models.baselines import LogSpectrumNearestNeighbour  # noqa: E402
from syndiag.training.spectral import (WindowArray, fit_prototypes, fit_spectral_path, fit_support, halves, read_with_absent,  # noqa: E402
                                       time_scaled, with_absent)

RESULTS = ROOT / "results" / "augmentations_spectral_cwru_cpu.jsonl"
CONDITION, SHOTS, FS, UP, SPEED = "1730rpm", 5, 12000.0, 4, 0.02
MATCHED = "noisy copies, prototypes read without the absent channel"
ROWS = {"log-spectrum-1NN": None,
        "no copies": SpectralPathConfig(noise_copies=0),
        "noisy copies (default)": SpectralPathConfig(),
        "+ chain copies": SpectralPathConfig(chain_copies=3),
        "+ speed jitter": SpectralPathConfig(jitter_copies=3),
        "+ sensor dropout": SpectralPathConfig(dropout_copies=2),
        "+ resampling copies": SpectralPathConfig(resample_copies=2),
        "all together": SpectralPathConfig(chain_copies=3, jitter_copies=3, dropout_copies=2, resample_copies=2),
        MATCHED: SpectralPathConfig()}
COLUMNS = ("clean", "0 dB", "-4 dB", "chain B", "48 kHz", "speed ±2 %", "DE absent", "FE absent", "gain x10")


def perturbed(windows: np.ndarray, seed: int) -> dict[str, list[tuple[np.ndarray, np.ndarray, float]]]:
    """Each column's test windows as batches (rows of the test set, windows, rate); every row of the table reads the same."""
    rows = np.arange(len(windows))
    out = {"clean": [(rows, windows, FS)], "gain x10": [(rows, windows * 10.0, FS)],
           "chain B": [(rows, through(windows, FS, chain_b), FS)],
           "48 kHz": [(rows, resample_poly(windows, UP, 1, axis=-1).astype(np.float32), FS * UP)]}
    for snr in (0.0, -4.0):
        rng = np.random.default_rng([seed, int(round(snr * 100)) + 10_000, 4242])
        out[f"{snr:g} dB"] = [(rows, add_white_noise(windows, snr, rng), FS)]
    out["speed ±2 %"] = [(part, time_scaled(windows[part], FS, int(round(windows.shape[-1] / factor))), FS)
                         for part, factor in ((rows[::2], 1 + SPEED), (rows[1::2], 1 - SPEED))]
    return out


def to_length(windows: np.ndarray, fs: float, length: int) -> np.ndarray:
    """What the 1-NN (fixed length, 12 kHz) reads: resampled back to 12 kHz, then cropped or zero-padded at the end."""
    if fs != FS:
        windows = resample_poly(windows, 1, int(fs // FS), axis=-1)
    if windows.shape[-1] >= length:
        return windows[..., :length]
    return np.pad(windows, [(0, 0)] * (windows.ndim - 1) + [(0, length - windows.shape[-1])])


def score(predict, batches, truth: np.ndarray) -> float:
    right = np.zeros(len(truth), dtype=bool)
    for rows, windows, fs in batches:
        right[rows] = predict(windows, fs) == truth[rows]
    return float(right.mean())


class AbsentChannel:
    """The support windows' spectrum features with one channel read as absent (for prototypes that read it so too)."""

    def __init__(self, source: WindowArray, channel: int, fill: np.ndarray) -> None:
        self.source, self.channel, self.fill = source, channel, fill
        self.grid, self.channels = source.grid, source.channels

    def features(self, indices: np.ndarray, snr_db: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        present = self.source.features(indices, snr_db, rng)
        return with_absent(present, np.full(len(present), self.channel), self.fill, self.channels)


def fitted(config: SpectralPathConfig | None, pool: tuple, support: np.ndarray, labels: np.ndarray, n_classes: int, seed: int,
           matched: bool = False):
    """(predict(windows, fs), predict_absent(windows, channel index), what to record) of one row: the path fitted on
    ``pool`` (windows, labels, groups) and its prototypes on ``support`` (``matched``: for a window with a channel absent,
    prototypes of the support windows read without it too); the 1-NN on ``support`` alone."""
    if config is None:
        nearest = LogSpectrumNearestNeighbour().fit(support, labels)
        alone = [LogSpectrumNearestNeighbour().fit(np.delete(support, c, axis=1), labels) for c in range(support.shape[1])]
        return (lambda w, fs: nearest.predict(to_length(w, fs, support.shape[-1])),
                lambda w, c: alone[c].predict(np.delete(w, c, axis=1)), {})
    path = fit_spectral_path(*pool, FS, config, seed)
    head = fit_prototypes(path, support, labels, n_classes, FS, config, seed)
    heads = [head] * support.shape[1]
    if matched:
        heads = [fit_support(path.discriminant, AbsentChannel(WindowArray(support, FS, path.grid), c, path.discriminant.mean),
                             np.arange(len(support)), labels, n_classes, config, seed) for c in range(support.shape[1])]
    return (lambda w, fs: head.predict(path.features(w, fs)), lambda w, c: heads[c].predict(read_with_absent(path, w, FS, c)),
            {"components": path.components, "validation": {str(k): round(v, 4) for k, v in path.validation.items()},
             "settings": config.material()})


def every_column(predict, predict_absent, windows: np.ndarray, truth: np.ndarray, seed: int, channels: list[str]) -> dict[str, float]:
    columns = perturbed(windows, seed)
    metrics = {c: score(predict, columns[c], truth) for c in columns}
    metrics |= {f"{name} absent": float(np.mean(predict_absent(windows, index) == truth)) for index, name in enumerate(channels)}
    return {c: metrics[c] for c in COLUMNS}


def run_row(dataset, seed: int, row: str) -> dict:
    """One row: its test columns, and the same columns on the pool alone (fitted on one half of the pool, prototypes of
    that half, scored on the other half: what a setting may be chosen by, no test window read)."""
    started, config = time.perf_counter(), ROWS[row]
    task = few_shot_task(dataset, SHOTS, seed, CONDITION)
    pool = pretraining_pool(dataset, seed, k=7)
    channels, n_classes = list(dataset.meta["channels"]), len(dataset.class_names)
    pool_x, pool_y, pool_g = np.asarray(dataset.windows[pool]), dataset.labels[pool], dataset.conditions[pool]
    support, labels = np.asarray(dataset.windows[task.train]), dataset.labels[task.train]
    predict, absent, extra = fitted(config, (pool_x, pool_y, pool_g), support, labels, n_classes, seed, row == MATCHED)
    metrics = every_column(predict, absent, np.asarray(dataset.windows[task.test]), dataset.labels[task.test], seed, channels)
    fit_part, held = halves(pool_y, pool_g)
    half = (pool_x[fit_part], pool_y[fit_part], pool_g[fit_part])
    predict, absent, _ = fitted(config, half, half[0], half[1], n_classes, seed, row == MATCHED)
    on_pool = every_column(predict, absent, pool_x[held], pool_y[held], seed + 1000, channels)
    return {"metrics": metrics, "pool_validation": on_pool, "seconds": round(time.perf_counter() - started, 1), **extra}


def table(records: list[dict], key: str, title: str, mean_column: bool) -> list[str]:
    lines = [f"| {title} | " + " | ".join(COLUMNS) + " |" + " mean of the columns |" * mean_column + " s per seed |",
             "|---|" + "---|" * (len(COLUMNS) + 1 + mean_column)]
    for row in ROWS:
        found = sorted((r for r in records if r["row"] == row), key=lambda r: r["seed"])
        if not found:
            continue
        cells = [f"{row} (seeds {', '.join(str(r['seed']) for r in found)})", *(mean_interval([r[key][c] for r in found]) for c in COLUMNS)]
        cells += [mean_interval([np.mean([r[key][c] for c in COLUMNS]) for r in found])] * mean_column
        cells.append(f"{np.mean([r['seconds'] for r in found]):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary(records: list[dict]) -> str:
    first = records[0]
    return "\n".join([
        "# Each augmentation of the spectrum path, measured on real CWRU windows (cpu)", "",
        (f"`{first['command']}`, commit `{first['commit'][:10]}`, {first['machine']['cpu']} ({first['machine']['cores']} cores). "
         "Rows: the augmentation the path was fitted with; columns: how the windows were perturbed (see the script's "
         "docstring). Window accuracy, mean ± 95 % t interval over seeds; s per seed: fitting both paths and scoring "
         "both tables."), "",
        "## Test windows (1730 rpm, 5 shots per class, the harness's tasks and test windows)", "",
        *table(records, "metrics", "training augmentation", False), "",
        "## The pool alone (what a setting may be chosen by)", "",
        ("The path fitted on one half of the seed's labelled pool (every load), its prototypes on the same half, scored on "
         "the other half perturbed the same ways; no test window read."), "",
        *table(records, "pool_validation", "training augmentation", True), ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), help="rows to run (default: every one)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-root", type=Path, required=True)
    args = parser.parse_args()
    dataset = prepare(RunConfig.from_yaml("syndiag/cpu").data.model_copy(update={"data_root": args.data_root}))
    done = {(r["seed"], r["row"]) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    for seed in args.seeds:
        for row in (row for row in args.rows if (seed, row) not in done):
            for_row = run_row(dataset, seed, row)
            append_result(RESULTS, {**provenance(), "seed": seed, "row": row, **for_row})
            print(seed, row, for_row["seconds"], {c: round(v, 4) for c, v in for_row["metrics"].items()},
                  round(float(np.mean(list(for_row["pool_validation"].values()))), 4), flush=True)
    return write_table(RESULTS, summary)


if __name__ == "__main__":
    sys.exit(main())
