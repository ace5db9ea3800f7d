"""Long windows on real CWRU: the discriminant spectrum path (Spectral-prototypes) at window lengths of 512, 2048, 6000
(0.5 s) and 12000 (1 s) samples at 12 kHz, through the benchmark harness (its leak-free pool and test ranges, its 1- and
5-shot tasks at 1730 rpm, seeds 0-2, its white noise at 0 and -4 dB on the test windows).

At each length the spectrum's resolution is chosen by the path's own validation on the pretraining pool, from Welch
segments of 512, 1024, 2048 and 4096 samples (those no longer than the window); the test windows are never read to
choose. Reported per length: accuracy (clean, 0 dB, -4 dB), fault size (the CWRU diameter 7, 14 or 21 mils of the
predicted class against the true one, over the faulty test windows: ordinal accuracy and MAE in mils, a predicted
`normal` counting as 0 mils), cost (fitting the path on the pool including the choice of segment, fitting the
prototypes, spectrum features per test window), and how much distinct recording the test windows span (they overlap
more as they get longer: 100 per class and condition from about 5 s of each fault recording). Apart, the sensor
model's time-series encoder (the shipped default config, 2 vibration channels + speed) forward cost per window at the
same lengths: its attention is quadratic in the patch tokens.

    OMP_NUM_THREADS=1 python benchmarks/bench_window_length.py --data-root DATA [--seeds 0 1 2]

The normal class: without 98-100.mat the harness gives each load a disjoint quarter of 97.mat (1.27 s at 12 kHz, 0.64 s
per split), which holds no 1 s window; here every length reads all of 97.mat (5.1 s, 0 HP) as the normal recording of
every load (cwru.missing_normal: reuse_97), its first half in the pool and its second half in the test set as any
recording, so that every length sees the same recordings. The spectrogram images that `prepare` makes beside the
windows are not read by this method; they are made tiny here (2 scales, 8 px) so that preparing 1 s windows stays cheap. One JSON line per (length, seed, shots) and per encoder
length in benchmarks/results/window_length_cwru_cpu.jsonl (resumable), a table beside it (.md).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, provenance, write_table  # noqa: E402

from syndiag.config.benchmark import BenchmarkConfig  # noqa: E402
from syndiag.config.data import DataConfig  # noqa: E402
from syndiag.config.run import RunConfig  # noqa: E402
from syndiag.config.spectral import SpectralPathConfig  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.evaluation.severity import severity_report  # noqa: E402
from syndiag.workflows.benchmark import Benchmark  # noqa: E402

RESULTS = ROOT / "results" / "window_length_cwru_cpu.jsonl"
LENGTHS = (512, 2048, 6000, 12000)
SEGMENTS = [512, 1024, 2048, 4096]
CONDITION, SHOTS, METHOD = "1730rpm", [1, 5], "Spectral-prototypes"


def size_mils(name: str) -> float:
    """The defect diameter of a CWRU class in mils ("DE_IR014" -> 14); 0 for normal."""
    match = re.search(r"(\d{3})$", name)
    return float(match.group(1)) if match else 0.0


def fault_size(confusion: list[list[int]], class_names: list[str]) -> dict[str, float]:
    """Ordinal accuracy and MAE (mils) of the predicted class's diameter over the faulty test windows (severity_report)."""
    true, predicted = [], []
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            true += [size_mils(class_names[i]) or np.nan] * count
            predicted += [size_mils(class_names[j])] * count
    report = severity_report(np.asarray(true), np.asarray(predicted), np.zeros(len(true)), levels=np.array([0.0, 7.0, 14.0, 21.0]))
    return {"size_accuracy": report["ordinal_accuracy"], "size_mae_mils": report["mae"], "size_windows": report["windows"]}


def test_span(bench: Benchmark, length: int) -> dict:
    """Per class at the target condition: seconds of recording the test windows come from, and how many windows of
    ``length`` fit there without overlap (the number of independent test windows at most)."""
    meta, fs = bench.dataset.meta, bench.dataset.fs
    seconds, independent = {}, {}
    for rec in meta["recordings"]:
        if rec["condition"] == CONDITION:
            span = rec["samples"] - rec["boundary"]
            seconds[rec["label"]] = seconds.get(rec["label"], 0.0) + span / fs
            independent[rec["label"]] = independent.get(rec["label"], 0) + span // length
    lowered = sum("step lowered" in note and CONDITION in note and " test:" in note for note in meta["notes"])
    return {"test_seconds_min": round(min(seconds.values()), 2), "test_seconds_total": round(sum(seconds.values()), 1),
            "independent_windows_min": int(min(independent.values())), "independent_windows_total": int(sum(independent.values())),
            "test_windows_per_class": int(bench.recipe.data.window.n_test),
            "step_lowered_notes": int(lowered)}


def harness(length: int, data_root: Path, work_dir: Path, seeds: list[int]) -> Benchmark:
    """The cpu benchmark's harness on windows of ``length`` (its recipe's data otherwise), Spectral-prototypes only."""
    settings = BenchmarkConfig.from_yaml("benchmark/cpu.yaml")
    settings = settings.model_copy(update={
        "seeds": seeds, "shots": SHOTS, "conditions": [CONDITION], "methods": [METHOD], "method_shots": {}, "noise_shots": None,
        "spectral": SpectralPathConfig(segments=SEGMENTS), "work_dir": work_dir, "out_dir": work_dir / "results"})
    data = RunConfig.from_yaml(settings.recipe).data
    raw = data.model_dump(mode="json") | {"data_root": str(data_root), "cache_dir": str(work_dir / "cache")}
    raw["window"] = raw["window"] | {"length": length}
    raw["spectrogram"] = raw["spectrogram"] | {"n_scales": 2, "image_size": 8}
    raw["cwru"] = raw["cwru"] | {"missing_normal": "reuse_97"}
    return Benchmark(settings, data=DataConfig.model_validate(raw))


def feature_ms(bench: Benchmark, seed: int, windows: np.ndarray) -> float:
    """Median of three timings of the spectrum features (Welch, grid, discriminant) of ``windows``, ms per window."""
    path = next(p for key, p in bench.__dict__["_spectral_paths"].items() if key[0] == seed)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        path.features(windows, bench.dataset.fs)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times)) / len(windows)


def encoder_ms(length: int, repeats: int = 5, batch: int = 8) -> dict:
    """Forward time per window of the sensor model's time-series encoder (default config) on DE, FE at 12 kHz + speed."""
    import torch  # only this measurement needs torch

    from syndiag.config.sensor import ChannelSpec, TimeSeriesEncoderConfig
    from syndiag.models.timeseries_encoder import TimeSeriesEncoder

    torch.set_num_threads(1)
    layout = [ChannelSpec(name="DE", kind="vibration", fs=12000, length=length), ChannelSpec(name="FE", kind="vibration", fs=12000, length=length),
              ChannelSpec(name="speed", kind="speed", fs=1, length=1)]
    encoder = TimeSeriesEncoder(TimeSeriesEncoderConfig(), layout).eval()
    signals = {"DE": torch.randn(batch, length), "FE": torch.randn(batch, length), "speed": torch.ones(batch, 1)}
    present = torch.ones(batch, 3, dtype=torch.bool)
    times = []
    with torch.inference_mode():
        encoder(signals, present)
        for _ in range(repeats):
            started = time.perf_counter()
            encoder(signals, present)
            times.append(time.perf_counter() - started)
    return {"tokens": encoder.n_tokens, "forward_ms_per_window": round(1000 * float(np.median(times)) / batch, 3)}


def run_length(length: int, args, done: set) -> None:
    bench = harness(length, args.data_root, args.work_dir, args.seeds)
    span = test_span(bench, length)
    for cell in bench.cells("table1"):
        if (length, cell.seed, cell.k) in done:
            continue
        record = bench.run_cell(cell)
        test = bench.task(cell).test
        metrics = {"accuracy": record["metrics"]["accuracy"], **{f"accuracy_{k}dB": v for k, v in record["accuracy_under_noise"].items()},
                   **fault_size(record["confusion"], record["class_names"])}
        cost = {"path_fit_seconds": record["pretraining_in_cell_seconds"], "prototype_fit_seconds": record["train_seconds"],
                "eval_seconds": record["eval_seconds"],
                "feature_ms_per_window": round(feature_ms(bench, cell.seed, np.asarray(bench.dataset.windows[test[:400]])), 4)}
        line = {**provenance(), "kind": "spectral", "length": length, "seconds": length / bench.dataset.fs, "seed": cell.seed, "k": cell.k,
                "method": METHOD, "metrics": metrics, "cost": cost, "test_samples": record["test_samples"], "span": span,
                "segment": record.get("spectral_segment"), "segment_validation": record.get("spectral_segment_validation"),
                "components": record["spectral_components"], "cell_hash": record["cell_hash"], "data_identity": record["data_identity"]}
        append_result(RESULTS, line)
        print(length, cell.seed, cell.k, {k: round(v, 4) for k, v in metrics.items()}, cost, "segment", line["segment"], flush=True)


def summary(records: list[dict]) -> str:
    spectral = [r for r in records if r["kind"] == "spectral"]
    lines = ["| window | K | seeds | segment chosen (per seed) | accuracy | 0 dB | -4 dB | fault size acc. | size MAE (mils) | path fit (s) | features (ms / window) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for length in LENGTHS:
        for k in SHOTS:
            rows = sorted((r for r in spectral if r["length"] == length and r["k"] == k), key=lambda r: r["seed"])
            if not rows:
                continue
            fits = [r["cost"]["path_fit_seconds"] for r in spectral if r["length"] == length and r["cost"]["path_fit_seconds"] > 0]
            col = lambda name: mean_interval([r["metrics"][name] for r in rows])  # noqa: E731
            lines.append(f"| {length} ({length / 12000:.3g} s) | {k} | {', '.join(str(r['seed']) for r in rows)} | "
                         f"{', '.join(str(r['segment']) for r in rows)} | {col('accuracy')} | {col('accuracy_0dB')} | {col('accuracy_-4dB')} | "
                         f"{col('size_accuracy')} | {mean_interval([r['metrics']['size_mae_mils'] for r in rows], 2)} | "
                         f"{np.mean(fits):.1f} | {np.mean([r['cost']['feature_ms_per_window'] for r in rows]):.3f} |")
    spans = ["| window | test windows per class | test recording per class (s, least) | non-overlapping windows per class (least) | test ranges where the step was lowered |",
             "|---|---|---|---|---|"]
    for length in LENGTHS:
        row = next((r for r in spectral if r["length"] == length), None)
        if row:
            s = row["span"]
            spans.append(f"| {length} | {s['test_windows_per_class']} | {s['test_seconds_min']} | {s['independent_windows_min']} | {s['step_lowered_notes']} |")
    encoder = ["| window | encoder tokens | encoder forward (ms / window) |", "|---|---|---|"]
    for r in sorted((r for r in records if r["kind"] == "encoder"), key=lambda r: r["length"]):
        encoder.append(f"| {r['length']} ({r['length'] / 12000:.3g} s) | {r['tokens']} | {r['forward_ms_per_window']} |")
    first = records[0]
    return "\n".join([
        "# Long windows: the spectrum path against window length on real CWRU (cpu)", "",
        (f"`{first['command']}`, commit `{first['commit'][:10]}`, {first['machine']['cpu']} ({first['machine']['cores']} cores). "
         "Spectral-prototypes through the harness at 1730 rpm (its pool, tasks and test noise), the Welch segment (the "
         "spectrum's resolution) chosen by validation on the pool from 512-4096 samples. Mean ± 95 % t interval over seeds. "
         "Fault size: the predicted class's diameter against the true one over the faulty test windows. Path fit: fitting "
         "the discriminant on the pool, every candidate segment included (mean over seeds); features: Welch spectrum, grid "
         "and discriminant per test window (one thread)."), "",
        *lines, "", "What the test windows really hold (1730 rpm, per class):", "", *spans, "",
        "The sensor model's time-series encoder (default config: patches of 32 samples, 16 spectrum tokens per channel, "
        "d_model 64, 2 layers; DE and FE + speed), forward time per window (batch 8, one thread):", "", *encoder, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--work-dir", type=Path, default=Path("runs/bench-window"))
    args = parser.parse_args()
    records = list(read_results(RESULTS)) if RESULTS.is_file() else []
    done = {(r["length"], r["seed"], r["k"]) for r in records if r["kind"] == "spectral"}
    timed = {r["length"] for r in records if r["kind"] == "encoder"}
    for length in args.lengths:
        if length not in timed:
            append_result(RESULTS, {**provenance(), "kind": "encoder", "length": length, **encoder_ms(length)})
    for length in args.lengths:
        if any((length, s, k) not in done for s in args.seeds for k in SHOTS):
            run_length(length, args, done)
    return write_table(RESULTS, summary)


if __name__ == "__main__":
    sys.exit(main())
