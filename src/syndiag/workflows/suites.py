"""``syndiag benchmark`` as one library function: the table suites, Fig. 4 (online updates) and Fig. 5 (resources), then the report."""

from __future__ import annotations

import json
import shutil
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
from syndiag.evaluation.metrics import append_result, read_results
from syndiag.evaluation.provenance import check_committed_code, current_commit, provenance
from syndiag.evaluation.resources import compare, onnx_accuracy, plot
from syndiag.workflows.benchmark import Benchmark
from syndiag.workflows.cells import Cell, cell_hash, finished_cells, mismatch_error
from syndiag.workflows.cloud import run_distill, run_evaluate, run_finetune
from syndiag.workflows.collaboration import heads_dir, run_online_updates
from syndiag.workflows.inference import export_checkpoint, quantize_export
from syndiag.workflows.openset import run_openset_suite
from syndiag.workflows.report_suite import run_report_suite
from syndiag.workflows.rul import run_rul_suite
from syndiag.workflows.session import finetune_task, task_of_checkpoint
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
            ran, left = updates_suite(bench, remaining, allow_dirty, rerun_mismatched)
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


UPDATE_LINES = ("Syn-Diag-Cloud", "Syn-Diag-Edge", "Syn-Diag-online-update")
"""A seed's lines in the updates suite, in the order they reach the results file: cloud, distilled edge, online updates."""


def updates_cell(bench: Benchmark, seed: int) -> Cell:
    """The updates suite's cell of ``seed``: the recipe's fine-tuning task (its K, source and target) with that seed."""
    task = finetune_task(bench.recipe, bench.dataset, seed=seed)
    return Cell("updates", UPDATE_LINES[-1], seed, task.k, task.source[0], task.target)


def updates_suite(bench: Benchmark, budget_minutes: float | None, allow_dirty: bool = False, rerun_mismatched: bool = False) -> tuple[int, int]:
    """Fig. 4 per seed: fine-tune the cloud from the seed's pretrained model, distil the edge, run the online updates.

    Keyed like the table cells: a seed is done once its online-update line holds the seed's cell hash (the recipe with
    its edge, distillation and update settings, the data's identity); a line made otherwise, or from uncommitted code
    for a run from committed code, is refused, or run again with ``rerun_mismatched``.
    """
    results = bench.results_file("updates")
    cells = {seed: updates_cell(bench, seed) for seed in bench.settings.seeds}
    hashes = {cell.key: cell_hash(cell, bench.identity, bench.recipe, bench.settings, []) for cell in cells.values()}
    finished, mismatched = finished_cells(results, hashes)
    if mismatched and not rerun_mismatched:
        raise mismatch_error(results, mismatched)
    pending = [seed for seed, cell in cells.items() if cell.key not in finished]
    if pending:
        check_committed_code(results, allow_dirty)
    deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
    ran = 0
    for seed in pending:
        if deadline is not None and time.monotonic() >= deadline:
            break
        run_updates_seed(bench, seed, hashes[cells[seed].key], results)
        ran += 1
    return ran, len(pending) - ran


def run_updates_seed(bench: Benchmark, seed: int, key: str, results: Path) -> None:
    """One seed's stages into its folder; their lines go to the results file together, with the cell hash, once all
    three are made. A stage whose line is in the folder is kept while the folder's cell hash and commit are this run's."""
    folder = bench.collaboration_dir(seed)
    staged, marker = folder / "updates_lines.jsonl", folder / "updates_cell.json"
    made_by = {"cell_hash": key, "commit": current_commit()}
    if not marker.is_file() or json.loads(marker.read_text()) != made_by:  # other settings or code: every stage again
        staged.unlink(missing_ok=True)
        atomic_write_text(marker, json.dumps(made_by))
    config = bench.recipe.model_copy(update={"seed": seed, "output_dir": folder, "results_file": staged})
    done = {r["method"] for r in read_results(staged)} if staged.is_file() else set()
    if UPDATE_LINES[0] not in done:
        run_finetune(config, bench.pretrained_checkpoint(seed), overwrite=True)
        run_evaluate(config)
    if UPDATE_LINES[1] not in done:
        run_distill(config)
    if UPDATE_LINES[2] not in done:
        shutil.rmtree(heads_dir(config), ignore_errors=True)  # the online updates start from the fine-tuned head, not an earlier run's
        run_online_updates(config)
    lines = {r["method"]: r for r in read_results(staged)}
    for method in UPDATE_LINES:
        append_result(results, {**lines[method], "suite": "updates", "cell_hash": key, "data_identity": bench.identity,
                                "data": bench.dataset.meta["source"], "commit": lines[method]["git_commit"]})
    staged.unlink()


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
