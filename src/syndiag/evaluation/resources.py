"""Fig. 5 (§5.5): cloud vs edge resources in one run on this machine: parameters, peak memory, latency, throughput, training step.

Each model is measured in its own subprocess (``python -m syndiag.evaluation.resources --measure KIND --checkpoint DIR``),
which imports only what that model needs, so peak RSS is that model's alone; every model is measured ``rounds`` times
in alternating order and the median is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from syndiag.errors import SyndiagError

KINDS = ("cloud", "edge", "cloud-onnx", "edge-onnx", "edge-onnx-int8")


def peak_rss_mb() -> float:
    """This process's peak resident memory since its ``exec`` (VmHWM). Not ``getrusage``'s ru_maxrss: on Linux that
    also counts the forked parent's image before the exec, so a child of a large process reports the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def inference_timings(classify, images, repeats: int) -> dict:
    """Median latency at batch 1 (after one warm-up call) and the best throughput at batch 32 of two runs."""
    classify(images[:1])
    single = []
    for i in range(repeats):
        t = time.perf_counter()
        classify(images[i % 32 : i % 32 + 1])
        single.append(time.perf_counter() - t)
    batched = []
    for _ in range(2):
        t = time.perf_counter()
        classify(images)
        batched.append(time.perf_counter() - t)
    return {"latency_ms_batch1_median": round(statistics.median(single) * 1e3, 1), "throughput_samples_per_s_batch32": round(32 / min(batched), 1)}


def measure(kind: str, checkpoint: Path, repeats: int) -> dict:
    # defers torch: this module runs each measurement in its own process, so its top imports nothing a measurement does not need
    import torch
    import torch.nn.functional as F

    from syndiag.models.cloud import SynDiagCloud  # defers torch, as above
    from syndiag.models.edge import SynDiagEdge

    started = time.perf_counter()
    model = SynDiagCloud.from_pretrained(checkpoint) if kind == "cloud" else SynDiagEdge.from_pretrained(checkpoint)
    load_seconds = time.perf_counter() - started
    total = sum(p.numel() for p in model.parameters())
    trainable_names = [n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("teacher_parts.")]
    trainable = sum(p.numel() for n, p in model.named_parameters() if n in set(trainable_names))
    generator = torch.Generator().manual_seed(0)
    size = model.checkpoint_meta.get("data", {}).get("spectrogram", {}).get("image_size", 224)
    images = torch.randint(0, 256, (32, size, size, 3), dtype=torch.uint8, generator=generator)
    model.eval()
    with torch.inference_mode():
        timings = inference_timings(model, images, repeats)
    model.train()
    parameters = [p for n, p in model.named_parameters() if n in set(trainable_names)]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    labels = torch.arange(4) % len(model.class_names)
    steps = []
    for i in range(6):
        t = time.perf_counter()
        loss = F.cross_entropy(model(images[4 * i : 4 * i + 4]), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps.append(time.perf_counter() - t)
    return {
        "model": kind,
        "checkpoint": str(checkpoint),
        "parameters_total": total,
        "parameters_trainable": trainable,
        "load_seconds": round(load_seconds, 2),
        **timings,
        "train_step_ms_batch4_median": round(statistics.median(steps[1:]) * 1e3, 1),
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_onnx(kind: str, folder: Path, repeats: int) -> dict:
    """The same inference measurements for an ONNX export run by ONNX Runtime, in a process that never imports torch."""
    # defers numpy and onnxruntime: the measuring process loads only the runtime it measures
    import numpy as np

    from syndiag.serving.onnx_runtime import OnnxClassifier  # defers onnxruntime, as above

    started = time.perf_counter()
    classify = OnnxClassifier(folder)
    load_seconds = time.perf_counter() - started
    size = classify.image_size
    images = np.random.default_rng(0).integers(0, 256, (32, size, size, 3), dtype=np.uint8)
    timings = inference_timings(classify, images, repeats)
    if "torch" in sys.modules:
        raise RuntimeError("the ONNX measurement imported torch")
    return {
        "model": kind,
        "checkpoint": str(folder),
        "onnx_file_mb": round((folder / "model.onnx").stat().st_size / 2**20, 1),
        "load_seconds": round(load_seconds, 2),
        **timings,
        "peak_rss_mb": peak_rss_mb(),
    }


def median_of_rounds(measured: list[dict]) -> dict:
    """Per metric, the median over rounds (timings drift on a shared 2-core machine; one round is not enough)."""
    merged = dict(measured[0])
    for key, value in measured[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = statistics.median(m[key] for m in measured)
    return merged


def plot(results: dict, path: Path) -> Path:
    # defers matplotlib: this module runs each measurement in its own process, so its top imports nothing a measurement does not need
    from matplotlib.figure import Figure

    from syndiag.evaluation.metrics import save_figure_png  # defers matplotlib, as above

    metrics = [("parameters_total", "parameters (M)", 1e-6), ("peak_rss_mb", "peak RSS (MB)", 1.0),
               ("latency_ms_batch1_median", "latency, batch 1 (ms)", 1.0), ("throughput_samples_per_s_batch32", "throughput (samples/s)", 1.0),
               ("train_step_ms_batch4_median", "train step, batch 4 (ms)", 1.0)]
    figure = Figure(figsize=(15, 3.4))
    for ax, (key, label, scale) in zip(figure.subplots(1, len(metrics)), metrics):
        models = [m for m in KINDS if key in results.get(m, {})]
        values = [results[m][key] * scale for m in models]
        colours = {"cloud": "tab:blue", "edge": "tab:orange", "cloud-onnx": "lightsteelblue", "edge-onnx": "navajowhite", "edge-onnx-int8": "tab:green"}
        ax.bar([m.replace("-", "\n") for m in models], values, color=[colours[m] for m in models])
        ax.set_title(label, fontsize=9)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    figure.tight_layout()
    return save_figure_png(figure, path, dpi=110)


def compare(checkpoints: dict[str, Path], repeats: int = 30, rounds: int = 3) -> dict:
    """Measure every model of ``checkpoints`` (kind -> folder; cloud and edge required) and the edge/cloud ratios."""
    unknown = [kind for kind in checkpoints if kind not in KINDS]
    if unknown or not {"cloud", "edge"} <= set(checkpoints):
        raise SyndiagError(f"checkpoints: need cloud and edge, optionally cloud-onnx, edge-onnx and edge-onnx-int8; got {list(checkpoints)}")
    runs = [(kind, checkpoints[kind]) for kind in KINDS if kind in checkpoints]
    measured: dict[str, list[dict]] = {kind: [] for kind, _ in runs}
    for round_number in range(rounds):
        for kind, checkpoint in runs if round_number % 2 == 0 else runs[::-1]:
            done = subprocess.run([sys.executable, "-m", "syndiag.evaluation.resources", "--measure", kind, "--checkpoint", str(checkpoint),
                                   "--repeats", str(repeats)], capture_output=True, text=True)
            if done.returncode:
                raise SyndiagError(f"measuring {kind} ({checkpoint}) failed: {done.stderr.strip()[-2000:]}")
            measured[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
    results = {kind: median_of_rounds(values) for kind, values in measured.items()}
    cloud, edge = results["cloud"], results["edge"]
    report = {
        **results,
        "edge_over_cloud": {
            "parameters_total": round(edge["parameters_total"] / cloud["parameters_total"], 3),
            "peak_rss": round(edge["peak_rss_mb"] / cloud["peak_rss_mb"], 3),
            "latency_batch1": round(edge["latency_ms_batch1_median"] / cloud["latency_ms_batch1_median"], 3),
            "throughput_batch32": round(edge["throughput_samples_per_s_batch32"] / cloud["throughput_samples_per_s_batch32"], 3),
            "train_step": round(edge["train_step_ms_batch4_median"] / cloud["train_step_ms_batch4_median"], 3),
        },
        "targets": {"latency_batch1": "<= 0.5", "peak_rss": "<= 0.3"},
        "rounds": rounds,
        "edge_over_cloud_latency_batch1_per_round": [
            round(e["latency_ms_batch1_median"] / c["latency_ms_batch1_median"], 3) for c, e in zip(measured["cloud"], measured["edge"])
        ],
    }
    inference = ("peak_rss_mb", "latency_ms_batch1_median", "throughput_samples_per_s_batch32")
    ratios = {
        "edge_onnx_over_cloud_torch": ("edge-onnx", "cloud"),
        "edge_onnx_over_cloud_onnx": ("edge-onnx", "cloud-onnx"),
        "cloud_onnx_over_cloud_torch": ("cloud-onnx", "cloud"),
        "edge_onnx_int8_over_cloud_onnx": ("edge-onnx-int8", "cloud-onnx"),
        "edge_onnx_int8_over_edge_onnx": ("edge-onnx-int8", "edge-onnx"),
    }
    for name, (a, b) in ratios.items():
        if a in results and b in results:
            report[name] = {key: round(results[a][key] / results[b][key], 3) for key in inference}
    return report


def resources_section(report: dict, png: Path, report_dir: Path) -> list[str]:
    """Fig. 5: the models measured side by side in one run, and the edge/cloud ratios."""
    columns = [("parameters_total", "parameters", "{:,.0f}"), ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
               ("latency_ms_batch1_median", "latency, batch 1 (ms)", "{:.1f}"),
               ("throughput_samples_per_s_batch32", "throughput, batch 32 (samples/s)", "{:.1f}"),
               ("train_step_ms_batch4_median", "train step, batch 4 (ms)", "{:.0f}")]
    lines = ["| model | " + " | ".join(label for _, label, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    for kind in KINDS:
        if kind in report:
            lines.append(f"| {kind} | " + " | ".join(fmt.format(report[kind][key]) if key in report[kind] else "–" for key, _, fmt in columns) + " |")
    ratios = report.get("edge_over_cloud", {})
    lines += ["", f"Edge / cloud (PyTorch, median of {report.get('rounds', 1)} rounds): " + ", ".join(f"{k} {v}" for k, v in ratios.items())
              + f"; targets {report.get('targets', {})}."]
    for name in ("edge_onnx_over_cloud_onnx", "edge_onnx_over_cloud_torch", "edge_onnx_int8_over_cloud_onnx", "edge_onnx_int8_over_edge_onnx"):
        if name in report:
            lines.append(f"{name.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in report[name].items()) + ".")
    if "accuracy" in report:
        lines.append("Accuracy on the test windows of the models' task (ONNX Runtime): "
                     + ", ".join(f"{k} {v:.4f}" for k, v in report["accuracy"].items() if isinstance(v, float)) + f" ({report['accuracy'].get('task', '')}).")
    lines.append("")
    if png.is_file():
        lines.append(f"![resources]({os.path.relpath(png, report_dir)})")
    return lines


def onnx_accuracy(folders: dict[str, Path], images_of, labels, batch_size: int = 64) -> dict[str, float]:
    """Accuracy of each ONNX export over the windows whose uint8 spectrograms ``images_of(chunk)`` gives, ``labels`` (n,)."""
    # defers numpy and onnxruntime: this module runs each measurement in its own process, so its top imports nothing a measurement does not need
    import numpy as np

    from syndiag.serving.onnx_runtime import OnnxClassifier  # defers onnxruntime, as above

    accuracy = {}
    for kind, folder in folders.items():
        classify = OnnxClassifier(folder)
        predicted = np.concatenate([classify(images_of(np.arange(start, min(start + batch_size, len(labels))))).argmax(1)
                                    for start in range(0, len(labels), batch_size)])
        accuracy[kind] = float((predicted == np.asarray(labels)).mean())
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description="measure one model in this process and print its JSON line")
    parser.add_argument("--measure", choices=KINDS, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=30, help="batch-1 calls (median)")
    args = parser.parse_args()
    how = measure_onnx if "-onnx" in args.measure else measure
    print(json.dumps(how(args.measure, args.checkpoint, args.repeats)))


if __name__ == "__main__":
    main()
