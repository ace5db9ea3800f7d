"""The paper profiles on an accelerator, in one prepared run: Syn-Diag (pretrain -> finetune -> evaluate -> distill) and the
sensor model (align -> finetune -> evaluate), each stage timed, results written after every stage; the distillation, the
longest stage, runs last so that a time limit cuts only it.

Meant for a lent GPU machine that cannot reach a model hub: the backbone is a local folder (the paper's LLaMA and
Qwen2-VL are not reachable there), given by ``--backbone`` to both the cloud, edge and sensor models. Everything else
is the shipped ``syndiag/paper`` and ``sensor/paper`` recipes, with ``--set`` overrides recorded in the output.

    python benchmarks/gpu_profiles.py --backbone .gpu/minilm-l4 --data-root .gpu/data --out $OUT \
        --set data.cwru.loads=[3] --source-commit $(git rev-parse HEAD)

``--tiny`` shrinks every size (a dry run of the same code path on a CPU before a device is spent on it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "data.window.per_class": 12, "data.spectrogram.image_size": 64, "data.spectrogram.n_scales": 32, "model.num_layers": 2,
    "edge.num_layers": 2, "pretrain.epochs": 1, "pretrain.shots": 2, "finetune.epochs": 1, "finetune.shots": 1, "distill.epochs": 1,
    "distill.unlabelled_per_class": 2, "model.visual_grid": 2,
}
TINY_SENSOR = {"align.epochs": 1, "align.shots": 2, "finetune.epochs": 1, "finetune.shots": 1, "finetune.min_steps": 2,
               "data.window.per_class": 12, "data.spectrogram.image_size": 64, "data.spectrogram.n_scales": 32, "model.num_layers": 2}


def source_digest() -> str:
    """sha256 over the package's source files, to tie a run on a machine without git to a commit."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "syndiag").rglob("*")):
        if path.is_file() and path.suffix in {".py", ".yaml", ".csv"}:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def imported_sources() -> dict[str, str]:
    """sha256 of every syndiag source file this run imported (compare with the same files at the claimed commit)."""
    files = {}
    for module in list(sys.modules.values()):
        path = Path(getattr(module, "__file__", None) or "")
        if path.suffix == ".py" and (ROOT / "src") in path.resolve().parents:
            files[path.resolve().relative_to(ROOT).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return dict(sorted(files.items()))


def machine() -> dict:
    import torch

    from syndiag.evaluation.provenance import machine as cpu_machine

    info = {**cpu_machine(), "torch": torch.__version__}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return info


def parse_sets(items: list[str]) -> dict[str, object]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = yaml.safe_load(value)
    return out


class Report:
    """The run's JSON, rewritten atomically after every stage so a stopped run keeps what it finished."""

    def __init__(self, path: Path, header: dict) -> None:
        self.path, self.data = path, {**header, "stages": []}
        self.write()

    def stage(self, name: str, fn):
        started = time.perf_counter()
        entry = {"stage": name}
        try:
            entry.update(fn() or {})
            entry["ok"] = True
        except Exception as exc:  # noqa: BLE001 - the report names the failure and the run goes on to the next stage
            entry.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-3000:])
        entry["wall_seconds"] = round(time.perf_counter() - started, 2)
        self.data["stages"].append(entry)
        self.write()
        print(json.dumps({k: v for k, v in entry.items() if k != "traceback"}), flush=True)
        return entry

    def write(self) -> None:
        from syndiag.atomic import atomic_write_text

        atomic_write_text(self.path, json.dumps(self.data, indent=2, default=str) + "\n")


def peak_memory() -> dict:
    import torch

    if not torch.cuda.is_available():
        from syndiag.evaluation.resources import peak_rss_mb

        return {"cpu_peak_rss_gib": round(peak_rss_mb() / 1024, 2)}
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return {"gpu_peak_gib": round(peak, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", required=True, help="local transformers folder (or a packaged name: smollm2-135m) for the cloud, edge and sensor models")
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--set", action="append", default=[], help="override of both recipes, KEY=YAML")
    parser.add_argument("--source-commit", default=None, help="the commit the working tree was copied from (the machine has no git)")
    parser.add_argument("--tiny", action="store_true", help="every size shrunk: a CPU dry run of the same code path")
    parser.add_argument("--skip-sensor", action="store_true")
    args = parser.parse_args()
    os.environ["SYNDIAG_DATA"] = str(args.data_root)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from syndiag.config import RunConfig
    from syndiag.config.sensor_run import SensorRunConfig
    from syndiag.commit import UNKNOWN_COMMIT
    from syndiag.evaluation.provenance import provenance
    from syndiag.workflows import cloud, sensor

    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "runs"
    common = {"device": args.device, "dtype": args.dtype, **parse_sets(args.set)}
    backbone = str(Path(args.backbone).resolve()) if Path(args.backbone).exists() else args.backbone
    cloud_overrides = {**common, "model.backbone": backbone, "model.allow_download": False, "edge.backbone": backbone,
                       "edge.allow_download": False, "output_dir": str(work / "cloud-paper"), "results_file": str(work / "results.jsonl"),
                       "data.cache_dir": str(work / "cache"), **(TINY if args.tiny else {})}
    info = provenance()
    header = {"script": "benchmarks/gpu_profiles.py", **info, "source_commit": args.source_commit, "source_digest": source_digest(),
              "git_commit_here": info["commit"] != UNKNOWN_COMMIT, "machine": machine(), "backbone": args.backbone,
              "cloud_overrides": cloud_overrides, "tiny": args.tiny}
    report = Report(args.out / "gpu_profiles.json", header)
    config = RunConfig.from_yaml("syndiag/paper", cloud_overrides)
    report.data["cloud_recipe"] = json.loads(config.model_dump_json())
    report.data["cloud_config_hash"] = config.config_hash()

    def pretrain():
        outcome = cloud.run_pretrain(config)
        return {"pool": outcome.pool_size, "train_seconds": round(outcome.seconds, 1), "final_loss": outcome.losses[-1] if outcome.losses else None,
                "silhouette_before": outcome.silhouette_before, "silhouette_after": outcome.silhouette_after, **peak_memory()}

    def finetune():
        outcome = cloud.run_finetune(config, overwrite=True)
        return {"task": outcome.task.name, "windows": outcome.windows, "train_seconds": round(outcome.seconds, 1),
                "seconds_per_step": round(outcome.seconds_per_step, 4), **peak_memory()}

    def evaluate():
        outcome = cloud.run_evaluate(config)
        record = outcome.evaluation.record
        return {"task": outcome.task.name, "metrics": record["metrics"], "eval_seconds": record.get("eval_seconds"),
                "test_samples": len(outcome.task.test), **peak_memory()}

    def distill():
        outcome = cloud.run_distill(config)
        return {"windows": outcome.windows, "train_seconds": round(outcome.seconds, 1), "edge_accuracy": outcome.edge.record["metrics"]["accuracy"],
                "cloud_accuracy": outcome.cloud.record["metrics"]["accuracy"], **peak_memory()}

    for name, fn in (("syndiag pretrain", pretrain), ("syndiag finetune", finetune), ("syndiag evaluate", evaluate)):
        report.stage(name, fn)

    if not args.skip_sensor:
        sensor_overrides = {**common, "model.backbone": backbone, "model.allow_download": False, "model.lora_targets": None,
                            "visual_extractor": str(cloud.pretrained_dir(config)), "output_dir": str(work / "sensor-paper"),
                            "results_file": str(work / "results.jsonl"), "data.cache_dir": str(work / "cache"),
                            **(TINY_SENSOR if args.tiny else {})}
        sensor_config = SensorRunConfig.from_yaml("sensor/paper", sensor_overrides)
        report.data["sensor_overrides"] = sensor_overrides
        report.data["sensor_config_hash"] = sensor_config.config_hash()

        def sensor_align():
            outcome = sensor.run_sensor_align(sensor_config)
            return {"pool": outcome.windows, "train_seconds": round(outcome.seconds, 1), "parameters": outcome.parameters, **peak_memory()}

        def sensor_finetune():
            outcome = sensor.run_sensor_finetune(sensor_config)
            return {"task": outcome.task.name, "train_seconds": round(outcome.seconds, 1), "seconds_per_step": round(outcome.seconds_per_step, 4),
                    **peak_memory()}

        def sensor_evaluate():
            record = sensor.run_sensor_evaluate(sensor_config).record
            return {"metrics": record["metrics"], "eval_seconds": record["eval_seconds"], "test_samples": record["test_samples"],
                    "parameters": record["parameters"], **peak_memory()}

        def sensor_without_fe():
            record = sensor.run_sensor_evaluate(sensor_config, drop=["FE"]).record
            return {"metrics": {"accuracy": record["metrics"]["accuracy"]}, "dropped": ["FE"]}

        for name, fn in (("sensor align", sensor_align), ("sensor finetune", sensor_finetune), ("sensor evaluate", sensor_evaluate),
                         ("sensor evaluate without FE", sensor_without_fe)):
            report.stage(name, fn)
    report.stage("syndiag distill", distill)  # last: the longest stage (40 epochs), so a time limit cuts only it
    report.data["python"] = platform.python_version()
    report.data["imported_sources"] = imported_sources()
    report.write()
    failed = [s["stage"] for s in report.data["stages"] if not s["ok"]]
    print(f"wrote {args.out / 'gpu_profiles.json'}; failed stages: {failed or 'none'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
