"""Other rates, other recording chains (issue 15, item 9): a sensor model trained at 12 kHz diagnosing recordings made
at 48 kHz, on another day, through another mounting. SIMULATED rig: no 48 kHz faulty recordings are shared.

    python benchmarks/bench_sensor_rates.py [--seeds 0 1 2] [--model "Sensor-model + spectral path"]

Per seed, the `sensor/simulated-images` recipe without images (drive-end + fan-end + speed; aligned, then fine-tuned
on 5 shots per class at 1730 rpm (40 windows per class and load) from the simulator's day 0, 12 kHz) diagnoses, through `syndiag diagnose`'s own
path (`diagnose_file`: the file read, each channel resampled to the layout's rate, windows cut), one 2 s recording
per class at 1730 rpm from another day (simulator seed 100 + seed), written as .npz:
  - the same chain at 12 kHz, and at 48 kHz (declared `DE@48000,FE@48000,speed@1`: polyphase-resampled to 12 kHz);
  - another chain (housing modes x 1.3, sensor gain x 2) at 12 and 48 kHz.
Beside it, the log-spectrum 1-NN fitted on the same support windows and fed the same resampled windows.
``--model`` picks the sensor model: as first built, or with the discriminant spectrum path (`model.spectral_path`, the
default of `diagnose` when trained; its path is fitted on the alignment pool of the same day-0 data).
Accuracy is over windows. One JSON line per (seed, variant, model) in benchmarks/results/rates_sensor_simulated_cpu.jsonl
(resumable; a line without ``model`` is the first model's), a table beside it (.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from machine import mean_interval, provenance, write_table  # noqa: E402

from syndiag.config.sensor_run import SensorRunConfig  # noqa: E402
from syndiag.data.cwru_classes import CWRU_LOADS, cwru_classes  # noqa: E402
from syndiag.data.simulator import RecordingChain, simulate_recording  # noqa: E402
from syndiag.evaluation.metrics import append_result, read_results  # noqa: E402
from syndiag.data.model_input import read_input  # noqa: E402
from syndiag.models.baselines import LogSpectrumNearestNeighbour  # noqa: E402
from syndiag.serving.sensor_plan import read_sensor_checkpoint  # noqa: E402
from syndiag.serving.stream import cut_block, window_ends  # noqa: E402
from syndiag.workflows.inference import diagnose_file  # noqa: E402
from syndiag.workflows.sensor import (  # noqa: E402
    finetuned_dir,
    run_sensor_align,
    run_sensor_evaluate,
    run_sensor_finetune,
    sensor_session,
    sensor_task,
)

RESULTS = ROOT / "results" / "rates_sensor_simulated_cpu.jsonl"
CHAINS = {"same chain": RecordingChain(), "other chain (modes x 1.3, gain x 2)": RecordingChain(resonance_scale=1.3, gain=2.0)}
RATES = (12000.0, 48000.0)
LOAD, SECONDS, SNR_DB = 3, 2.0, 10.0
SAME_DAY = "training day's test windows, 12 kHz"
VARIANTS = (SAME_DAY, *(f"{chain}, {rate / 1000:g} kHz" for chain in CHAINS for rate in RATES))
RECIPE = {"model.use_images": False, "data.window.per_class": 40, "align.shots": 5, "finetune.shots": 5}
MODELS = {"Sensor-model": {}, "Sensor-model + spectral path": {"model.spectral_path": True}}
METHODS = (*MODELS, "log-spectrum-1NN")


def model_of(record: dict) -> str:
    return record.get("model", "Sensor-model")


def train(seed: int, work: Path, model: str) -> tuple[SensorRunConfig, Path, LogSpectrumNearestNeighbour, dict]:
    folder = work / f"seed{seed}" if model == "Sensor-model" else work / "spectral-path" / f"seed{seed}"
    config = SensorRunConfig.from_yaml("sensor/simulated-images", {"seed": seed, "output_dir": str(folder), **RECIPE, **MODELS[model]})
    run_sensor_align(config)
    run_sensor_finetune(config)
    session = sensor_session(config)
    task = sensor_task(config, session.dataset)
    windows = session.dataset.windows[task.train]
    names = session.dataset.class_names
    labels = np.array([names[i] for i in session.dataset.labels[task.train]])
    nearest = LogSpectrumNearestNeighbour().fit(windows, labels)
    own = run_sensor_evaluate(config, results=False).record["metrics"]["accuracy"]
    test_labels = np.array([names[i] for i in session.dataset.labels[task.test]])
    own_nearest = float((nearest.predict(session.dataset.windows[task.test]) == test_labels).mean())
    same_day = {model: own, "log-spectrum-1NN": own_nearest, "test_windows": len(task.test)}
    return config, finetuned_dir(config), nearest, same_day


def day_recording(folder: Path, index: int, label: str, day: int, fs: float, chain: RecordingChain) -> Path:
    signal = simulate_recording(label, LOAD, ["DE", "FE"], fs, SECONDS, np.random.default_rng([day, index, LOAD]), SNR_DB, chain)
    path = folder / f"{label}.npz"
    np.savez(path, DE=signal[0].astype(np.float32), FE=signal[1].astype(np.float32),
             speed=np.full(int(SECONDS), float(CWRU_LOADS[LOAD]), dtype=np.float32))
    return path


def measure(checkpoint: Path, model: str, nearest: LogSpectrumNearestNeighbour, day: int, fs: float, chain: RecordingChain) -> dict:
    plan = read_sensor_checkpoint(checkpoint)

    declared = f"DE@{fs:g},FE@{fs:g},speed@1"
    hits = {model: 0, "log-spectrum-1NN": 0}
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index, fault in enumerate(cwru_classes()):
            path = day_recording(Path(tmp), index, fault.name, day, fs, chain)
            diagnosis = diagnose_file(path, checkpoint, channels=declared)
            truth = plan.class_names.index(fault.name)
            hits[model] += int((diagnosis.window_classes == truth).sum())
            found = read_input(path, plan.layout, None, declared, layout=True)
            signals, _, _ = cut_block(found, plan, window_ends(found, plan))
            predicted = nearest.predict(np.stack([signals["DE"], signals["FE"]], axis=1))
            hits["log-spectrum-1NN"] += int((predicted == fault.name).sum())
            total += diagnosis.windows
    return {method: count / total for method, count in hits.items()} | {"test_windows": total}


def made_by(records: list[dict]) -> str:
    """Per model, the command and commit(s) its lines were made by."""
    found = {}
    for r in records:
        found.setdefault(model_of(r), {}).setdefault(r["command"], set()).add(r["commit"][:10])
    return "; ".join(f"{model}: " + ", ".join(f"`{command}` at {', '.join(f'`{c}`' for c in sorted(commits))}" for command, commits in made.items())
                     for model, made in found.items())


def summary(records: list[dict]) -> str:
    lines = ["| test recordings (another day, 1730 rpm) | seeds | " + " | ".join(METHODS) + " |", "|---|---|" + "---|" * len(METHODS)]
    for variant in VARIANTS:
        rows = [r for r in records if r["variant"] == variant]
        if rows:
            first_model = [r for r in rows if model_of(r) == "Sensor-model"] or rows
            values = [[r["metrics"][m] for r in (first_model if m == "log-spectrum-1NN" else rows) if m in r["metrics"]] for m in METHODS]
            cells = [mean_interval(v) if v else "–" for v in values]
            seeds = sorted({r["seed"] for r in rows})
            lines.append(f"| {variant} | {', '.join(map(str, seeds))} | " + " | ".join(cells) + " |")
    first = records[0]
    return "\n".join([
        "# Other rates, other recording chains: SIMULATED rig (cpu)", "",
        (f"{made_by(records)}; {first['machine']['cpu']} ({first['machine']['cores']} cores). "
         "Trained on the simulator's day 0 at 12 kHz (sensor/simulated-images without images, 5 shots per class at 1730 rpm; "
         "the spectral path's model with `model.spectral_path: true`); "
         f"tested on the training day's test split, then on {records[-1]['metrics']['test_windows']} windows of another day per "
         "variant, read by `syndiag diagnose`'s path. "
         "Window accuracy, mean ± 95 % t interval over seeds. Simulated data: the ratios say how the input path treats rate "
         "and chain changes, not how a real machine would score."), "",
        *lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", type=Path, default=Path("runs/bench-sensor-rates"))
    parser.add_argument("--model", choices=list(MODELS), default="Sensor-model")
    args = parser.parse_args()
    done = {(r["seed"], r["variant"], model_of(r)) for r in read_results(RESULTS)} if RESULTS.is_file() else set()
    for seed in args.seeds:
        pending = [v for v in VARIANTS if (seed, v, args.model) not in done]
        if not pending:
            continue
        config, checkpoint, nearest, same_day = train(seed, args.work, args.model)
        for variant, chain, rate in [(SAME_DAY, RecordingChain(), RATES[0]),
                                     *((f"{name}, {rate / 1000:g} kHz", chain, rate) for name, chain in CHAINS.items() for rate in RATES)]:
            if variant not in pending:
                continue
            metrics = same_day if variant == SAME_DAY else measure(checkpoint, args.model, nearest, 100 + seed, rate, chain)
            record = {**provenance(), "seed": seed, "variant": variant, "model": args.model, "metrics": metrics, "checkpoint": str(checkpoint),
                      "config_hash": config.config_hash(), "chain": vars(chain), "rate_hz": rate}
            append_result(RESULTS, record)
            print(f"seed {seed} {variant}: " + ", ".join(f"{m} {v:.3f}" for m, v in metrics.items() if m != "test_windows"), flush=True)
    return write_table(RESULTS, summary)


if __name__ == "__main__":
    sys.exit(main())
