"""``syndiag benchmark`` as one library function: the table suites, Fig. 4 (online updates) and Fig. 5 (resources), then the report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syndiag.atomic import atomic_write_text
from syndiag.config.benchmark import BenchmarkConfig
from syndiag.config.openset import OpenSetConfig
from syndiag.config.profiles import profile_path
from syndiag.config.report import ReportSuiteConfig
from syndiag.config.rul import RulConfig
from syndiag.errors import ConfigError, SyndiagError
from syndiag.evaluation.benchmark_report import write_report
from syndiag.evaluation.metrics import read_results
from syndiag.evaluation.provenance import check_committed_code, provenance
from syndiag.evaluation.resources import compare, onnx_accuracy, plot
from syndiag.workflows.benchmark import Benchmark
from syndiag.workflows.cloud import run_distill, run_evaluate, run_finetune
from syndiag.workflows.collaboration import run_online_updates
from syndiag.workflows.inference import export_checkpoint, quantize_export
from syndiag.workflows.openset import run_openset_suite
from syndiag.workflows.report_suite import run_report_suite
from syndiag.workflows.rul import run_rul_suite
from syndiag.workflows.session import task_of_checkpoint
from syndiag.workflows.zeroshot import run_zeroshot_suite

SUITES = {"table1": ["table1"], "table2": ["table2"], "table3": ["table3"], "sensor": ["sensor"], "rul": ["rul"], "openset": ["openset"], "zeroshot": ["zeroshot"], "reports": ["reports"], "updates": ["updates"], "resources": ["resources"],
          "all": ["table1", "table2", "table3", "updates", "resources"], "report": []}


@dataclass
class BenchmarkOutcome:
    report: Path
    left: int


def run_benchmark(settings: BenchmarkConfig, suite: str, recipe_overrides: dict[str, Any] | None = None, budget_minutes: float | None = None,
                  report: Path = Path("BENCHMARKS.md"), say: Callable[[str], None] = print, allow_dirty: bool = False,
                  rerun_mismatched: bool = False) -> BenchmarkOutcome:
    """Run every unfinished cell of ``suite`` (resumable, within the budget), then regenerate the report.

    Committed results files take lines only from committed code unless ``allow_dirty`` (the report marks such lines);
    cells made by other data or settings are refused unless ``rerun_mismatched``.
    """
    if suite not in SUITES:
        raise ConfigError(f"--suite: unknown {suite!r}; choose from {', '.join(SUITES)}")
    deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
    left, benches = 0, {}
    for name in SUITES[suite]:
        remaining = None if deadline is None else max((deadline - time.monotonic()) / 60, 1e-9)
        if name == "rul":
            ran, left = rul_suite(settings, recipe_overrides, say, allow_dirty)
            continue
        if name == "reports":
            ran, left = report_suite(settings, recipe_overrides, say, allow_dirty)
            continue
        if name in ("openset", "zeroshot"):
            ran, left = unknown_fault_suite(name, settings, recipe_overrides, say, allow_dirty)
            continue
        dataset_key = "table2" if name == "table2" else "recipe"
        try:
            if dataset_key not in benches:
                benches[dataset_key] = Benchmark.for_suite(settings, name, recipe_overrides)
        except SyndiagError as exc:
            if suite == "all" and name == "table2":
                say(f"table2 skipped: {exc}")
                continue
            raise
        bench = benches[dataset_key]
        if name == "updates":
            ran, left = updates_suite(bench, remaining, allow_dirty)
        elif name == "resources":
            ran, left = resources_suite(bench, allow_dirty), 0
        else:
            ran, left = bench.run(name, remaining, progress=say, allow_dirty=allow_dirty, rerun_mismatched=rerun_mismatched)
        target = bench.resources_file() if name == "resources" else bench.results_file(name)
        say(f"{name}: {ran} {'measurement' if name == 'resources' else 'cell'}(s) run, {left} left -> {target}")
        if left:
            break
    return BenchmarkOutcome(write_report(settings.out_dir, report), left)


def rul_suite(settings: BenchmarkConfig, recipe_overrides: dict[str, Any] | None, say: Callable[[str], None],
              allow_dirty: bool = False) -> tuple[int, int]:
    """The rul suite: every model family of the RUL recipe, LOBO-selected, the test units scored once (resumable)."""
    overrides = {("data_root" if k == "data.data_root" else k): v for k, v in (recipe_overrides or {}).items()}
    config = RulConfig.from_yaml(profile_path(settings.rul_recipe), overrides)
    results = settings.out_dir / f"rul_femto_{settings.profile or 'cpu'}.jsonl"
    ran, left = run_rul_suite(config, results, settings.out_dir, say, allow_dirty)
    say(f"rul: {ran} model famil{'y' if ran == 1 else 'ies'} run, {left} left -> {results}")
    return ran, left


def unknown_fault_suite(name: str, settings: BenchmarkConfig, recipe_overrides: dict[str, Any] | None, say: Callable[[str], None],
                        allow_dirty: bool = False) -> tuple[int, int]:
    """The openset suite (trained models, leave-one-family-out) or the zeroshot suite (classes from text), resumable."""
    config = OpenSetConfig.from_yaml(profile_path(settings.openset_recipe))
    config = config.model_copy(update={"profile": settings.profile or config.profile, "recipe": settings.recipe, "sensor_recipe": settings.sensor_recipe,
                                       "work_dir": settings.work_dir / "openset" if settings.work_dir else config.work_dir})
    stem = "openset_trained" if name == "openset" else "zeroshot"
    results = settings.out_dir / f"{stem}_cwru_{config.profile}.jsonl"
    run = run_openset_suite if name == "openset" else run_zeroshot_suite
    ran, left = run(config, results, recipe_overrides, say, allow_dirty)
    say(f"{name}: {ran} cell(s) run, {left} left -> {results}")
    return ran, left


def report_suite(settings: BenchmarkConfig, recipe_overrides: dict[str, Any] | None, say: Callable[[str], None],
                 allow_dirty: bool = False) -> tuple[int, int]:
    """The report suite: CWRU test-half segments and FEMTO test bearings reported on; example reports kept (resumable)."""
    config = ReportSuiteConfig.from_yaml(profile_path(settings.report_recipe))
    config = config.model_copy(update={"profile": settings.profile or config.profile, "recipe": settings.recipe,
                                       "work_dir": settings.work_dir / "report" if settings.work_dir else config.work_dir})
    results = settings.out_dir / f"report_cwru_femto_{config.profile}.jsonl"
    ran, left = run_report_suite(config, results, settings.out_dir / "reports", recipe_overrides, say, allow_dirty)
    say(f"reports: {ran} report(s) made, {left} left -> {results}")
    return ran, left


def updates_suite(bench: Benchmark, budget_minutes: float | None, allow_dirty: bool = False) -> tuple[int, int]:
    """Fig. 4 per seed: fine-tune the cloud from the seed's pretrained model, distil the edge, run the online updates.

    A seed is done once its update record is in the results file; within a seed, finished stages are kept.
    """
    results = bench.results_file("updates")
    done = {r["seed"] for r in read_results(results) if r["method"] == "Syn-Diag-online-update"} if results.is_file() else set()
    pending = [seed for seed in bench.settings.seeds if seed not in done]
    if pending:
        check_committed_code(results, allow_dirty)
    deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
    ran = 0
    for seed in pending:
        if deadline is not None and time.monotonic() >= deadline:
            break
        folder = bench.collaboration_dir(seed)
        config = bench.recipe.model_copy(update={"seed": seed, "output_dir": folder, "results_file": results})
        if not (folder / "finetuned" / "model.safetensors").is_file():
            run_finetune(config, bench.pretrained_checkpoint(seed))
            run_evaluate(config)
        if not (folder / "edge" / "model.safetensors").is_file():
            run_distill(config)
        run_online_updates(config)
        ran += 1
    return ran, len(pending) - ran


def resources_suite(bench: Benchmark, allow_dirty: bool = False) -> int:
    """Fig. 5 on the first seed's cloud and edge models of the updates suite, in PyTorch, as ONNX exports and the edge's
    int8 twin (issue 19), with the ONNX models' accuracy on the test windows of their task."""
    check_committed_code(bench.resources_file(), allow_dirty)
    folder = bench.collaboration_dir(bench.settings.seeds[0])
    checkpoints = {"cloud": folder / "finetuned", "edge": folder / "edge"}
    missing = [str(p) for p in checkpoints.values() if not (p / "model.safetensors").is_file()]
    if missing:
        raise SyndiagError(f"resources: no cloud/edge models at {', '.join(missing)}; run --suite updates first")
    for kind in ("cloud", "edge"):
        onnx = folder / f"{checkpoints[kind].name}-onnx"
        if not (onnx / "model.onnx").is_file():
            export_checkpoint(checkpoints[kind], onnx)
        checkpoints[f"{kind}-onnx"] = onnx
    int8 = folder / "edge-onnx-int8"
    if not (int8 / "model.onnx").is_file():
        quantize_export(checkpoints["edge-onnx"], int8)
    checkpoints["edge-onnx-int8"] = int8
    report = {**provenance(), **compare(checkpoints, bench.settings.resources_repeats, bench.settings.resources_rounds)}
    meta = json.loads((checkpoints["edge"] / "config.json").read_text())
    task = task_of_checkpoint(bench.dataset, meta, checkpoints["edge"])
    onnx = {kind: checkpoints[kind] for kind in ("cloud-onnx", "edge-onnx", "edge-onnx-int8")}
    report["accuracy"] = {**onnx_accuracy(onnx, lambda chunk: bench.dataset.rgb(task.test[chunk]), bench.dataset.labels[task.test]),
                          "task": task.name}
    path = bench.resources_file()
    atomic_write_text(path, json.dumps(report, indent=2) + "\n")
    plot(report, path.with_suffix(".png"))
    return len(checkpoints)
