"""Other rates and other recording chains on real CWRU windows: the discriminant spectrum path against the log-spectrum
1-NN, trained at 12 kHz on 5 shots per class at 1730 rpm (the harness's tasks, seeds 0-2), tested on the same test windows

  - as recorded (12 kHz);
  - at 48 kHz: the windows resampled x4 (2048 samples, the same 43 ms), each method reading them as `diagnose` would
    (the 1-NN after resampling back to its 12 kHz; the path on its grid in Hz, at 48 kHz);
  - through another chain, A: resonances at 1.8 kHz (+9 dB, Q 3) and 4.2 kHz (-6 dB, Q 2) and a gain x 2 (the family
    that `chain_copies` draws from, at values it never drew);
  - through another chain, B: a first-order low-pass at 2 kHz (-6 dB per octave above it), outside that family;
  - chains A and B at 48 kHz;
and, apart, 97.mat's own drive-end and fan-end channels at 48 kHz (normal, as recorded, its last eighth): the share of
its windows diagnosed normal. A chain is applied to each window's spectrum (multiplied by its response).

    python benchmarks/bench_spectral_chains.py --data-root DATA [--seeds 0 1 2]

One JSON line per (seed, variant) in benchmarks/results/chains_spectral_cwru_cpu.jsonl (resumable), a table beside it (.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.io
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, provenance, write_table  # noqa: E402

from syndiag.config.run import RunConfig  # noqa: E402
from syndiag.config.spectral import SpectralPathConfig  # noqa: E402
from syndiag.data.fewshot import few_shot_task, pretraining_pool  # noqa: E402
from syndiag.data.prepare import prepare  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.models.baselines import LogSpectrumNearestNeighbour  # noqa: E402
from syndiag.training.spectral import fit_prototypes, fit_spectral_path  # noqa: E402

RESULTS = ROOT / "results" / "chains_spectral_cwru_cpu.jsonl"
CONDITION, SHOTS, FS, UP = "1730rpm", 5, 12000.0, 4
METHODS = {"log-spectrum-1NN": None, "Spectral-prototypes": SpectralPathConfig(),
           "Spectral-prototypes + chain copies": SpectralPathConfig(chain_copies=3)}
VARIANTS = ("as recorded, 12 kHz", "48 kHz", "chain A, 12 kHz", "chain A, 48 kHz", "chain B, 12 kHz", "chain B, 48 kHz",
            "97.mat at 48 kHz (normal): share diagnosed normal")


def chain_a(f: np.ndarray) -> np.ndarray:
    def peak(centre, gain_db, q):
        safe = np.maximum(f, 1e-3)
        return gain_db / (1 + q**2 * (safe / centre - centre / safe) ** 2)
    return 2.0 * 10 ** ((peak(1800.0, 9.0, 3.0) + peak(4200.0, -6.0, 2.0)) / 20)


def chain_b(f: np.ndarray) -> np.ndarray:
    return 1 / np.sqrt(1 + (f / 2000.0) ** 2)


def through(windows: np.ndarray, fs: float, response) -> np.ndarray:
    spectrum = np.fft.rfft(windows, axis=-1)
    return np.fft.irfft(spectrum * response(np.fft.rfftfreq(windows.shape[-1], 1 / fs)), n=windows.shape[-1], axis=-1).astype(np.float32)


def test_windows(windows: np.ndarray, variant: str) -> tuple[np.ndarray, float]:
    fs = FS
    if "48 kHz" in variant:
        windows, fs = resample_poly(windows, UP, 1, axis=-1).astype(np.float32), FS * UP
    if variant.startswith("chain A"):
        windows = through(windows, fs, chain_a)
    if variant.startswith("chain B"):
        windows = through(windows, fs, chain_b)
    return windows, fs


def normal_at_48k(data_root: Path) -> np.ndarray:
    """97.mat's DE and FE at 48 kHz, its last eighth cut into 2048-sample windows (step 1024): (n, 2, 2048)."""
    mat = scipy.io.loadmat(data_root / "cwru" / "97.mat")
    channels = [np.ravel(mat[next(k for k in mat if k.endswith(f"_{name}_time"))]) for name in ("DE", "FE")]
    length = min(len(c) for c in channels)
    signal = np.stack([c[:length] for c in channels])[:, length - length // 8:]
    starts = range(0, signal.shape[1] - 2048 + 1, 1024)
    return np.stack([signal[:, s:s + 2048] for s in starts]).astype(np.float32)


def run_seed(dataset, seed: int, data_root: Path) -> dict[str, dict[str, float]]:
    task = few_shot_task(dataset, SHOTS, seed, CONDITION)
    pool = pretraining_pool(dataset, seed, k=7)
    support, labels = np.asarray(dataset.windows[task.train]), dataset.labels[task.train]
    truth = dataset.labels[task.test]
    normal = dataset.class_names.index("normal")
    classifiers = {}
    for method, config in METHODS.items():
        if config is None:
            nearest = LogSpectrumNearestNeighbour().fit(support, labels)
            classifiers[method] = lambda w, fs, m=nearest: m.predict(w if fs == FS else resample_poly(w, 1, int(fs // FS), axis=-1))
        else:
            path = fit_spectral_path(np.asarray(dataset.windows[pool]), dataset.labels[pool], dataset.conditions[pool], FS, config, seed)
            head = fit_prototypes(path, support, labels, len(dataset.class_names), FS, config, seed)
            classifiers[method] = lambda w, fs, p=path, h=head: h.predict(p.features(w, fs))
    results = {}
    for variant in VARIANTS[:-1]:
        windows, fs = test_windows(np.asarray(dataset.windows[task.test]), variant)
        results[variant] = {m: float(np.mean(c(windows, fs) == truth)) for m, c in classifiers.items()}
    normal_windows = normal_at_48k(data_root)
    results[VARIANTS[-1]] = {m: float(np.mean(c(normal_windows, FS * UP) == normal)) for m, c in classifiers.items()}
    return results


def summary(records: list[dict]) -> str:
    methods = list(METHODS)
    lines = ["| test windows (1730 rpm, 5-shot) | seeds | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for variant in VARIANTS:
        rows = [r for r in records if r["variant"] == variant]
        if rows:
            lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in rows)} | "
                         + " | ".join(mean_interval([r["metrics"][m] for r in rows]) for m in methods) + " |")
    first = records[0]
    return "\n".join([
        "# Other rates and recording chains on real CWRU windows (cpu)", "",
        (f"`{first['command']}`, commit `{first['commit'][:10]}`, {first['machine']['cpu']} ({first['machine']['cores']} cores). "
         "Trained at 12 kHz, 5 shots per class at 1730 rpm (the harness's tasks); the same test windows at 48 kHz and through "
         "two other chains (see the script's docstring). Window accuracy, mean ± 95 % t interval over seeds."), "",
        *lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    recipe = RunConfig.from_yaml("syndiag/cpu")
    recipe = recipe.model_copy(update={"data": recipe.data.model_copy(update={"data_root": args.data_root})})
    dataset = prepare(recipe.data)
    done = {(r["seed"], r["variant"]) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    for seed in args.seeds:
        if all((seed, v) in done for v in VARIANTS):
            continue
        for variant, metrics in run_seed(dataset, seed, args.data_root).items():
            if (seed, variant) not in done:
                append_result(RESULTS, {**provenance(), "seed": seed, "variant": variant, "metrics": metrics})
                print(seed, variant, {m: round(v, 4) for m, v in metrics.items()}, flush=True)
    return write_table(RESULTS, summary)


if __name__ == "__main__":
    sys.exit(main())
