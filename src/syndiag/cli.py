"""The ``syndiag`` command line: every command takes a YAML config plus a few overrides."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from syndiag.config.data import DataConfig
from syndiag.errors import ConfigError, SyndiagError

app = typer.Typer(help="Few-shot industrial fault diagnosis with language models.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets: list, prepare windows and CWT spectrograms, show them, simulate.", no_args_is_help=True)
app.add_typer(data_app, name="data")

err = Console(stderr=True, soft_wrap=True)
out = Console()

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML data config (configs/data/*.yaml) or run recipe (its data section)")]
DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="folder of real recordings (else $SYNDIAG_DATA)")]
CacheOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="spectrogram cache folder (else $SYNDIAG_CACHE)")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="override a config key, e.g. --set window.per_class=100")]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
        force=True,
    )


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    import yaml

    overrides: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SyndiagError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def load_data_config(config: Path | None, data_root: Path | None, cache_dir: Path | None, sets: list[str] | None) -> DataConfig:
    overrides = parse_overrides(sets)
    if data_root is not None:
        overrides["data_root"] = str(data_root)
    if cache_dir is not None:
        overrides["cache_dir"] = str(cache_dir)
    from syndiag.config import read_yaml, set_dotted

    raw: dict[str, Any] = {}
    if config is not None:
        raw = read_yaml(config)
        if isinstance(raw.get("data"), dict) and "model" in raw:
            raw = raw["data"]
    for key, value in overrides.items():
        set_dotted(raw, key, value)
    return DataConfig.from_dict(raw, source=str(config) if config else "command line")


def fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@data_app.command("list")
def data_list(config: ConfigOpt = None, data_root: DataRootOpt = None, sets: SetOpt = None) -> None:
    """List the classes, their text prompts, the conditions and the recordings found (and missing)."""
    setup_logging()
    try:
        from syndiag.data.sources import resolve_source

        cfg = load_data_config(config, data_root, None, sets)
        source = resolve_source(cfg)
        recordings = source.load()
    except SyndiagError as exc:
        fail(exc)
    out.print(f"[bold]{recordings.name}[/]: {source.description}")
    classes = Table("class", "text prompt", title="classes")
    for c in recordings.classes:
        classes.add_row(c.name, c.prompt)
    out.print(classes)
    table = Table("condition", "class", "seconds", "fs (Hz)", "source", title="recordings")
    for r in recordings.recordings:
        table.add_row(r.condition, r.label, f"{r.seconds:.2f}", f"{r.fs:g}", r.source)
    out.print(table)
    for note in recordings.notes:
        out.print(f"[yellow]note:[/] {note}")
    for item in recordings.missing:
        out.print(f"[red]missing:[/] {item}")


@data_app.command("prepare")
def data_prepare(
    config: ConfigOpt = None,
    data_root: DataRootOpt = None,
    cache_dir: CacheOpt = None,
    sets: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a machine-readable summary")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Cut leak-free windows and compute their CWT spectrograms (cached: a second run recomputes nothing)."""
    setup_logging(verbose)
    from syndiag.data.prepare import prepare

    try:
        cfg = load_data_config(config, data_root, cache_dir, sets)
        with Progress(
            TextColumn("[bold]spectrograms"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=err, transient=True, disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("cwt", total=None)
            dataset = prepare(cfg, progress=lambda done, total: bar.update(task, completed=done, total=total))
    except SyndiagError as exc:
        fail(exc)
    counts = dataset.counts()
    summary = {
        "dataset": dataset.meta["dataset"],
        "source": dataset.meta["source"],
        "classes": dataset.class_names,
        "conditions": dataset.condition_names,
        "counts": counts,
        "windows": len(dataset),
        "pool_windows": int((dataset.split == 0).sum()),
        "test_windows": int((dataset.split == 1).sum()),
        "seconds": round(dataset.seconds, 3),
        "from_cache": dataset.from_cache,
        "cache_path": str(dataset.path.resolve()),
        "cache_bytes": sum(p.stat().st_size for p in dataset.path.iterdir()),
        "notes": dataset.meta["notes"],
        "missing": dataset.meta["missing"],
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    table = Table("class", *dataset.condition_names, title=f"windows per class (train pool / test) - {summary['dataset']}")
    for name in dataset.class_names:
        table.add_row(name, *(f"{counts[c][name]['pool']} / {counts[c][name]['test']}" for c in dataset.condition_names))
    out.print(table)
    for note in summary["notes"]:
        out.print(f"[yellow]note:[/] {note}")
    state = "loaded from cache" if dataset.from_cache else "computed"
    out.print(
        f"{summary['windows']} windows ({summary['pool_windows']} train pool, {summary['test_windows']} test), "
        f"{state} in {summary['seconds']:.2f} s; cache {summary['cache_path']} ({summary['cache_bytes'] / 1e6:.0f} MB)"
    )


@data_app.command("show")
def data_show(
    config: ConfigOpt = None,
    data_root: DataRootOpt = None,
    cache_dir: CacheOpt = None,
    sets: SetOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write")] = Path("spectrograms.png"),
    condition: Annotated[Optional[str], typer.Option(help="condition to show (default: the first)")] = None,
) -> None:
    """Write a PNG gallery with one test-window spectrogram per class."""
    setup_logging()
    from syndiag.data.gallery import write_gallery
    from syndiag.data.prepare import prepare

    try:
        cfg = load_data_config(config, data_root, cache_dir, sets)
        path = write_gallery(prepare(cfg), output, condition)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {path}")


@data_app.command("simulate")
def data_simulate(
    output: Annotated[Path, typer.Option("--out", "-o", help="folder to write recordings and dataset.yaml into")],
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write simulated CWRU-like recordings (.npz) and a dataset spec usable as ``dataset: custom``."""
    setup_logging()
    from syndiag.data.simulator import simulate_cwru_like, write_recordings

    try:
        cfg = load_data_config(config, None, None, sets)
        recordings = simulate_cwru_like(cfg.simulator, list(cfg.cwru.channels), list(cfg.cwru.loads))
        spec = write_recordings(recordings, output)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {len(recordings.recordings)} recordings and {spec}")


RunConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML run recipe (configs/syndiag/cpu.yaml or paper.yaml)")]


def load_run_config(config: Path, data_root: Path | None, sets: list[str] | None):
    from syndiag.config.run import RunConfig

    overrides = parse_overrides(sets)
    if data_root is not None:
        overrides["data.data_root"] = str(data_root)
    return RunConfig.from_yaml(config, overrides)


def data_meta(cfg, dataset) -> dict[str, Any]:
    """What a checkpoint must carry to turn a raw recording into the inputs it was trained on."""
    return {"data": cfg.data.model_dump(mode="json"), "channels": dataset.meta["channels"], "fs": dataset.fs}


def step_bar(label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal,
    )


def tracked(bar: Progress, label: str):
    task = bar.add_task(label, total=None, loss=float("nan"))
    return lambda step, total, loss: bar.update(task, completed=step, total=total, loss=loss)


@app.command()
def pretrain(
    config: RunConfigOpt,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Stage 1: align the visual extractor with the class texts on the multi-condition K-shot pool (writes a t-SNE PNG)."""
    setup_logging(verbose)
    import numpy as np

    from syndiag.data.fewshot import test_set
    from syndiag.evaluation.embedding_plot import separability, write_tsne_png
    from syndiag.training.pipeline import setup
    from syndiag.training.pretrain import global_visual_features
    from syndiag.training.pretrain import pretrain as run_pretrain

    try:
        cfg = load_run_config(config, data_root, sets)
        session = setup(cfg)
        dataset, model = session.dataset, session.model
        target = cfg.finetune.target or cfg.finetune.source or dataset.condition_names[-1]
        rng = np.random.default_rng(cfg.seed)
        tests = np.concatenate([rng.permutation(test_set(dataset, target, [c]))[: cfg.pretrain.tsne_test_per_class] for c in dataset.class_names])
        from syndiag.data.fewshot import pretraining_pool

        pool = pretraining_pool(dataset, cfg.seed, k=cfg.pretrain.shots)
        shown = np.concatenate([pool, tests])
        before = global_visual_features(model, dataset, shown)
        with step_bar("pretrain") as bar:
            result = run_pretrain(model, dataset, cfg, progress=tracked(bar, "pretrain"))
        after = global_visual_features(model, dataset, shown)
        run_dir = Path(cfg.output_dir)
        folder = model.save_pretrained(
            run_dir / "pretrained",
            extra={"stage": "pretrained", "seed": cfg.seed, "pool_size": len(pool), "seconds": round(result.seconds, 1), "losses": result.losses, **data_meta(cfg, dataset)},
        )
        is_test = np.r_[np.zeros(len(pool), bool), np.ones(len(tests), bool)]
        png = write_tsne_png(before, after, dataset.labels[shown], is_test, dataset.class_names, run_dir / "alignment_tsne.png", f"visual features v_g, {dataset.meta['dataset']}: pool (all conditions) + test ({target})", seed=cfg.seed)
        score_before = separability(before[is_test], dataset.labels[shown][is_test])
        score_after = separability(after[is_test], dataset.labels[shown][is_test])
    except SyndiagError as exc:
        fail(exc)
    out.print(
        f"pretrained on {len(pool)} windows ({cfg.pretrain.shots} per class and condition) in {result.seconds:.0f} s; "
        f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}\n"
        f"test-feature silhouette (cosine) {score_before:.3f} -> {score_after:.3f}\n"
        f"checkpoint {folder}\nt-SNE {png}"
    )


@app.command()
def finetune(
    config: RunConfigOpt,
    checkpoint: Annotated[Optional[Path], typer.Option(help="pretrained checkpoint (default: OUTPUT_DIR/pretrained; 'none' for no pretraining)")] = None,
    shots: Annotated[Optional[int], typer.Option("--shots", "-k", help="K (default: finetune.shots)")] = None,
    seed: Annotated[Optional[int], typer.Option(help="seed of the K-shot draw (default: the recipe's)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Stage 2: few-shot fine-tuning with prompt fusion, deep prompts, LoRA and the fusion-token head."""
    setup_logging(verbose)
    from syndiag.training.finetune import finetune as run_finetune
    from syndiag.training.pipeline import finetune_task, setup

    try:
        cfg = load_run_config(config, data_root, sets)
        source = None if checkpoint is not None and str(checkpoint) == "none" else (checkpoint or Path(cfg.output_dir) / "pretrained")
        session = setup(cfg, source)
        task = finetune_task(cfg, session.dataset, shots, seed)
        with step_bar("finetune") as bar:
            result = run_finetune(session.model, session.dataset, task, cfg.finetune, task.seed, progress=tracked(bar, "finetune"))
        folder = session.model.save_pretrained(
            Path(cfg.output_dir) / "finetuned",
            extra={"stage": "finetuned", "task": {"k": task.k, "seed": task.seed, "source": task.source[0], "target": task.target},
                   "pretrained_from": str(source) if source else None, "train_seconds": round(result.seconds, 2),
                   "seconds_per_step": round(result.seconds_per_step, 4), "losses": result.losses, "config_hash": cfg.config_hash(),
                   **data_meta(cfg, session.dataset)},
        )
    except SyndiagError as exc:
        fail(exc)
    out.print(f"fine-tuned on {task.name} ({result.windows} windows) in {result.seconds:.0f} s "
              f"({result.seconds_per_step * 1e3:.0f} ms/step); loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}\ncheckpoint {folder}")


@app.command()
def evaluate(
    config: RunConfigOpt,
    checkpoint: Annotated[Optional[Path], typer.Option(help="fine-tuned checkpoint (default: OUTPUT_DIR/finetuned)")] = None,
    target: Annotated[Optional[str], typer.Option(help="test condition (default: the one it was fine-tuned for)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the run record as JSON")] = False,
) -> None:
    """Accuracy, macro precision and F1, confusion matrix PNG, per-class report; appends one JSON line to results_file."""
    setup_logging()
    from syndiag.data.fewshot import few_shot_task
    from syndiag.evaluation.evaluate import evaluate_task
    from syndiag.evaluation.metrics import format_report
    from syndiag.evaluation.paper_results import paper_result
    from syndiag.training.pipeline import setup

    try:
        cfg = load_run_config(config, data_root, sets)
        folder = checkpoint or Path(cfg.output_dir) / "finetuned"
        session = setup(cfg, folder)
        meta = session.model.checkpoint_meta
        if "task" not in meta:
            raise SyndiagError(f"{folder}: not a fine-tuned checkpoint (run syndiag finetune first)")
        spec = meta["task"]
        task = few_shot_task(session.dataset, spec["k"], spec["seed"], spec["source"], target or spec["target"])
        result = evaluate_task(
            session.model, session.dataset, task, Path(cfg.output_dir), Path(cfg.results_file),
            method="Syn-Diag-Cloud", backbone=cfg.model.backbone, profile=cfg.profile, config_hash=cfg.config_hash(),
            train_seconds=meta.get("train_seconds", 0.0), batch_size=cfg.finetune.eval_batch_size,
            extra={"seconds_per_train_step": meta.get("seconds_per_step"), "checkpoint": str(folder)},
        )
    except SyndiagError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(result.record))
        return
    out.print(format_report(result.report))
    table = Table("", "accuracy", "macro precision", "macro F1", title=f"{task.name} ({len(task.test)} test windows)")
    r = result.report
    table.add_row("syndiag (this run)", f"{r.accuracy:.4f}", f"{r.macro_precision:.4f}", f"{r.macro_f1:.4f}")
    paper = result.paper or paper_result("Syn-Diag-Cloud", task.target, task.k)
    if paper is not None:
        table.add_row(f"paper {paper.table} (LLaMA-3.1-8B, real CWRU)", f"{paper.accuracy:.4f}", f"{paper.precision:.4f}", f"{paper.f1:.4f}")
    out.print(table)
    if result.paper is None and paper is not None:
        out.print(f"[yellow]note:[/] this run's data: {session.dataset.meta['source']}; the paper's row is on real CWRU")
    out.print(f"confusion matrix {result.confusion_png}\nreport {result.report_txt}\nrecord appended to {cfg.results_file}")


@app.command()
def diagnose(
    file: Annotated[Path, typer.Argument(help="a recording (.mat, .csv, .npy, .npz) or windows (.npy, shape (n, channels, length))")],
    checkpoint: Annotated[Path, typer.Option(help="fine-tuned cloud or edge checkpoint, or an ONNX export folder")] = Path("runs/cloud-cpu/finetuned"),
    fs: Annotated[Optional[float], typer.Option(help="sampling rate of FILE in Hz, if the file does not say")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Diagnose a recording: predicted fault, its description and the top-k class probabilities."""
    setup_logging()
    from syndiag.config.data import DataConfig
    from syndiag.serving.diagnosis import diagnose as run_diagnosis
    from syndiag.serving.diagnosis import load_classifier, read_signal, window_array

    try:
        classify, meta = load_classifier(checkpoint)
        data = DataConfig.from_dict(meta["data"], source=str(checkpoint))
        signal, _ = read_signal(file, meta["channels"], fs, meta["fs"])
        windows = window_array(signal, data.window, str(file))
        result = run_diagnosis(classify, windows, data.spectrogram, meta["class_names"], meta["prompts"], str(file), top_k)
    except (SyndiagError, KeyError) as exc:
        fail(exc if isinstance(exc, SyndiagError) else SyndiagError(f"{checkpoint}: checkpoint lacks {exc}"))
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    out.print(f"[bold]{result.label}[/]: {result.description} (p = {result.probability:.3f}, {result.windows} windows)")
    table = Table("class", "description", "probability")
    for name, description, probability in result.top:
        table.add_row(name, description, f"{probability:.4f}")
    out.print(table)


@app.command("export")
def export_command(
    checkpoint: Annotated[Path, typer.Option(help="fine-tuned cloud or distilled edge checkpoint folder")] = Path("runs/cloud-cpu/edge"),
    output: Annotated[Optional[Path], typer.Option("--out", help="ONNX folder to write (default: CHECKPOINT-onnx)")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 18,
) -> None:
    """Export a checkpoint to ONNX: `diagnose --checkpoint` then runs it with ONNX Runtime, without PyTorch."""
    setup_logging()
    from syndiag.config.data import DataConfig
    from syndiag.serving.diagnosis import load_model
    from syndiag.serving.onnx_export import export_onnx

    target = output or checkpoint.with_name(checkpoint.name + "-onnx")
    try:
        model = load_model(checkpoint)
        size = DataConfig.from_dict(model.checkpoint_meta["data"], source=str(checkpoint)).spectrogram.image_size
        with out.status(f"exporting {checkpoint} to ONNX"):
            folder = export_onnx(model, target, image_size=size, opset=opset)
    except (SyndiagError, KeyError) as exc:
        fail(exc if isinstance(exc, SyndiagError) else SyndiagError(f"{checkpoint}: checkpoint lacks {exc}"))
    meta = json.loads((folder / "config.json").read_text())
    out.print(f"wrote {folder} (max |Δp| vs PyTorch {meta['max_abs_difference_vs_torch']:.1e}); "
              f"run it with: syndiag diagnose FILE --checkpoint {folder}")


BENCHMARK_SUITES = {"table1": ["table1"], "table2": ["table2"], "table3": ["table3"], "updates": ["updates"], "resources": ["resources"],
                    "all": ["table1", "table2", "table3", "updates", "resources"], "report": []}


@app.command()
def benchmark(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML benchmark config (default: configs/benchmark/PROFILE.yaml)")] = None,
    profile: Annotated[str, typer.Option(help="cpu | paper: picks configs/benchmark/PROFILE.yaml when --config is not given")] = "cpu",
    suite: Annotated[str, typer.Option(help="table1 | table2 | table3 | updates | resources | all | report (only regenerate BENCHMARKS.md)")] = "table1",
    budget_minutes: Annotated[Optional[float], typer.Option(help="stop cleanly between cells after this many minutes")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    report: Annotated[Path, typer.Option(help="report to regenerate")] = Path("BENCHMARKS.md"),
) -> None:
    """Methods on identical splits, several seeds: one JSON line per finished cell (re-runs skip them), then BENCHMARKS.md."""
    setup_logging()
    import time

    from syndiag.evaluation.benchmark import Benchmark, BenchmarkConfig
    from syndiag.evaluation.benchmark_report import write_report

    try:
        if suite not in BENCHMARK_SUITES:
            raise ConfigError(f"--suite: unknown {suite!r}; choose from {', '.join(BENCHMARK_SUITES)}")
        if config is None:
            config = Path("configs/benchmark") / f"{profile}.yaml"
            if profile not in ("cpu", "paper"):
                raise ConfigError(f"--profile: unknown {profile!r}; choose cpu or paper (or give --config)")
        overrides = parse_overrides(sets)
        settings = BenchmarkConfig.from_yaml(config, {k: v for k, v in overrides.items() if not k.startswith("recipe.")})
        recipe_overrides = {k[len("recipe."):]: v for k, v in overrides.items() if k.startswith("recipe.")}
        if data_root is not None:
            recipe_overrides["data.data_root"] = str(data_root)
        recipe_sets = [item[len("recipe."):] for item in sets or [] if item.startswith("recipe.")]
        deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
        left, benches = 0, {}
        for name in BENCHMARK_SUITES[suite]:
            remaining = None if deadline is None else max((deadline - time.monotonic()) / 60, 1e-9)
            dataset_key = "table2" if name == "table2" else "recipe"
            try:
                if dataset_key not in benches:
                    benches[dataset_key] = Benchmark.for_suite(settings, name, recipe_overrides)
            except SyndiagError as exc:
                if suite == "all" and name == "table2":
                    out.print(f"table2 skipped: {exc}")
                    continue
                raise
            bench = benches[dataset_key]
            if name == "updates":
                ran, left = updates_suite(bench, settings.recipe, data_root, recipe_sets, remaining)
            elif name == "resources":
                ran, left = resources_suite(bench), 0
            else:
                ran, left = bench.run(name, remaining, progress=out.print)
            target = bench.resources_file() if name == "resources" else bench.results_file(name)
            out.print(f"{name}: {ran} {'measurement' if name == 'resources' else 'cell'}(s) run, {left} left -> {target}")
            if left:
                break
        path = write_report(settings.out_dir, report)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {path}" + (f"; budget spent with {left} cell(s) left: run the same command again to go on" if left else ""))


def updates_suite(bench, recipe: Path, data_root: Path | None, recipe_sets: list[str], budget_minutes: float | None) -> tuple[int, int]:
    """Fig. 4 per seed: fine-tune the cloud from the seed's pretrained model, distil the edge, run the online updates.

    A seed is done once its update record is in the results file; within a seed, finished stages are kept.
    """
    import time

    from syndiag.evaluation.metrics import read_results

    results = bench.results_file("updates")
    done = {r["seed"] for r in read_results(results) if r["method"] == "Syn-Diag-online-update"} if results.is_file() else set()
    pending = [seed for seed in bench.settings.seeds if seed not in done]
    deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
    ran = 0
    for seed in pending:
        if deadline is not None and time.monotonic() >= deadline:
            break
        folder = bench.collaboration_dir(seed)
        stage_sets = [*recipe_sets, f"seed={seed}", f"output_dir={folder}", f"results_file={results}"]
        if not (folder / "finetuned" / "model.safetensors").is_file():
            finetune(config=recipe, checkpoint=bench.pretrained_checkpoint(seed), data_root=data_root, sets=stage_sets)
            evaluate(config=recipe, data_root=data_root, sets=stage_sets)
        if not (folder / "edge" / "model.safetensors").is_file():
            distill(config=recipe, data_root=data_root, sets=stage_sets)
        update(config=recipe, data_root=data_root, sets=stage_sets)
        ran += 1
    return ran, len(pending) - ran


def resources_suite(bench) -> int:
    """Fig. 5 on the first seed's cloud and edge models of the updates suite, in PyTorch and as ONNX exports."""
    from syndiag.evaluation.provenance import provenance
    from syndiag.evaluation.resources import compare, plot

    folder = bench.collaboration_dir(bench.settings.seeds[0])
    checkpoints = {"cloud": folder / "finetuned", "edge": folder / "edge"}
    missing = [str(p) for p in checkpoints.values() if not (p / "model.safetensors").is_file()]
    if missing:
        raise SyndiagError(f"resources: no cloud/edge models at {', '.join(missing)}; run --suite updates first")
    for kind in ("cloud", "edge"):
        onnx = folder / f"{checkpoints[kind].name}-onnx"
        if not (onnx / "model.onnx").is_file():
            export_command(checkpoint=checkpoints[kind], output=onnx)
        checkpoints[f"{kind}-onnx"] = onnx
    with out.status(f"measuring cloud and edge, {bench.settings.resources_rounds} alternating round(s), one subprocess per model"):
        report = {**provenance(), **compare(checkpoints, bench.settings.resources_repeats, bench.settings.resources_rounds)}
    path = bench.resources_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(report, indent=2) + "\n")
    staging.replace(path)
    plot(report, path.with_suffix(".png"))
    return len(checkpoints)


head_app = typer.Typer(help="Edge -> cloud head packages: export, import (validated), history, rollback.", no_args_is_help=True)
app.add_typer(head_app, name="head")


def cloud_task(cfg, dataset, model):
    from syndiag.data.fewshot import few_shot_task

    meta = getattr(model, "checkpoint_meta", {})
    if "task" not in meta:
        raise SyndiagError("the cloud checkpoint is not fine-tuned (run syndiag finetune first)")
    spec = meta["task"]
    return few_shot_task(dataset, spec["k"], spec["seed"], spec["source"], spec["target"])


@app.command()
def distill(
    config: RunConfigOpt,
    teacher: Annotated[Optional[Path], typer.Option(help="fine-tuned cloud checkpoint (default: OUTPUT_DIR/finetuned)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Stage 3: distil the edge student from the cloud teacher (MSE on the fused feature), then test both."""
    setup_logging()
    from syndiag.evaluation.evaluate import evaluate_task
    from syndiag.models.backbones import load_backbone
    from syndiag.models.edge import SynDiagEdge
    from syndiag.training.distill import distill as run_distill
    from syndiag.training.distill import distillation_windows, teacher_targets
    from syndiag.training.pipeline import setup

    try:
        cfg = load_run_config(config, data_root, sets)
        teacher_dir = teacher or Path(cfg.output_dir) / "finetuned"
        session = setup(cfg, teacher_dir)
        dataset, cloud = session.dataset, session.model
        task = cloud_task(cfg, dataset, cloud)
        windows = distillation_windows(dataset, task, cfg.distill.unlabelled_per_class, task.seed)
        import time

        started = time.perf_counter()
        targets = teacher_targets(cloud, dataset, windows)
        teacher_seconds = time.perf_counter() - started
        student = SynDiagEdge(cfg.edge, cloud, load_backbone(cfg.edge.backbone, cfg.edge.allow_download, cfg.edge.num_layers))
        with step_bar("distill") as bar:
            result = run_distill(student, targets, cfg.distill, task.seed, progress=tracked(bar, "distill"))
        folder = student.save_pretrained(Path(cfg.output_dir) / "edge", teacher_dir, extra={
            "stage": "distilled", "task": cloud.checkpoint_meta["task"], "windows": len(windows), "train_seconds": round(result.seconds, 2),
            "teacher_feature_seconds": round(teacher_seconds, 2), "losses": result.losses, **data_meta(cfg, dataset)})
        common = dict(profile=cfg.profile, config_hash=cfg.config_hash(), batch_size=cfg.finetune.eval_batch_size)
        edge_eval = evaluate_task(student, dataset, task, Path(cfg.output_dir) / "edge-eval", Path(cfg.results_file), method="Syn-Diag-Edge",
                                  backbone=cfg.edge.backbone, train_seconds=result.seconds, extra={"teacher": str(teacher_dir)}, **common)
        cloud_eval = evaluate_task(cloud, dataset, task, Path(cfg.output_dir), None, method="Syn-Diag-Cloud", backbone=cfg.model.backbone,
                                   train_seconds=0.0, **common)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"distilled on {len(windows)} train-pool windows ({task.k}-shot set + unlabelled) in {result.seconds:.0f} s; "
              f"MSE {result.losses[0]:.4f} -> {result.losses[-1]:.4f}\ncheckpoint {folder}")
    table = Table("", "accuracy", "macro F1", "seconds / test sample", title=task.name)
    for name, ev in (("cloud (teacher)", cloud_eval), ("edge (student)", edge_eval)):
        table.add_row(name, f"{ev.report.accuracy:.4f}", f"{ev.report.macro_f1:.4f}", f"{ev.record['seconds_per_test_sample'] * 1e3:.1f} ms")
    out.print(table)


def collaboration(cfg, with_edge: bool = True):
    """The cloud model (its own process state), the edge model, the task, and the cloud's head registry."""
    from syndiag.models.edge import SynDiagEdge
    from syndiag.models.head_exchange import HeadRegistry
    from syndiag.training.pipeline import setup

    session = setup(cfg, Path(cfg.output_dir) / "finetuned")
    cloud = session.model
    task = cloud_task(cfg, session.dataset, cloud)
    edge = SynDiagEdge.from_pretrained(Path(cfg.output_dir) / "edge") if with_edge else None
    registry = HeadRegistry(Path(cfg.output_dir) / "heads", cloud.class_names, cloud.prompts, cfg.update.tolerance)
    return session.dataset, cloud, edge, task, registry


def save_cloud_head(cfg, cloud, registry) -> None:
    meta = {k: v for k, v in cloud.checkpoint_meta.items() if k not in ("model", "config", "class_names", "prompts")}
    cloud.save_pretrained(Path(cfg.output_dir) / "finetuned", extra={**meta, "head_version": registry.active})


@app.command()
def update(
    config: RunConfigOpt,
    cycles: Annotated[Optional[int], typer.Option(help="update cycles (default: update.cycles)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Online updates: the edge fine-tunes the head on new samples, the cloud validates and swaps it in (curves PNG)."""
    setup_logging()
    from dataclasses import asdict

    from syndiag.evaluation.metrics import append_result, run_record
    from syndiag.evaluation.update_curves import write_update_curves
    from syndiag.training.online_update import feature_bank, run_updates, update_windows

    try:
        cfg = load_run_config(config, data_root, sets)
        if cycles is not None:
            cfg = cfg.model_copy(update={"update": cfg.update.model_copy(update={"cycles": cycles})})
        dataset, cloud, edge, task, registry = collaboration(cfg)
        stream, validation = update_windows(dataset, task, cfg.update, task.seed)
        banks = [feature_bank(cloud, edge, dataset, idx) for idx in (stream, validation, task.test)]
        backbones = {"cloud": cfg.model.backbone, "edge": cfg.edge.backbone}
        run = run_updates(cloud.head, registry, *banks, cfg.update, task.seed, backbones,
                          progress=lambda c: err.print(f"cycle {c.cycle}: {'accepted' if c.accepted else 'refused'} {c.version}, "
                                                       f"teacher {c.teacher_accuracy:.4f}, student {c.student_accuracy:.4f}, grad diff {c.gradient_consistency:.4f}, cos {c.gradient_cosine:.3f}"))
        save_cloud_head(cfg, cloud, registry)
        cycles_dicts = [asdict(c) for c in run.cycles]
        initial = {"teacher_accuracy": run.initial_teacher_accuracy, "student_accuracy": run.initial_student_accuracy}
        png = write_update_curves(cycles_dicts, initial, Path(cfg.output_dir) / "update_curves.png", f"online updates, {task.name}")
        last = run.cycles[-1]
        append_result(Path(cfg.results_file), run_record(
            method="Syn-Diag-online-update", backbone=f"{cfg.model.backbone}+{cfg.edge.backbone}", dataset=dataset.meta["dataset"],
            conditions={"source": list(task.source), "target": task.target}, k=task.k, seed=task.seed, profile=cfg.profile,
            config_hash=cfg.config_hash(), metrics={"teacher_accuracy": last.teacher_accuracy, "student_accuracy": last.student_accuracy},
            train_seconds=0.0, eval_seconds=0.0, initial=initial, cycles=cycles_dicts))
    except SyndiagError as exc:
        fail(exc)
    accepted = sum(c.accepted for c in run.cycles)
    out.print(f"{len(run.cycles)} cycles, {accepted} heads accepted; teacher {run.initial_teacher_accuracy:.4f} -> {last.teacher_accuracy:.4f}, "
              f"student {run.initial_student_accuracy:.4f} -> {last.student_accuracy:.4f}; active head {registry.active}\ncurves {png}")


@head_app.command("export")
def head_export(
    config: RunConfigOpt,
    output: Annotated[Path, typer.Option("--out", "-o", help="folder to write the head package into")],
    parent: Annotated[Optional[str], typer.Option(help="version the edge head was built on (default: the cloud's active one)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write the edge model's head as a package (safetensors + JSON with version, parent, class-list hash, metrics).

    Runs on the edge side: it loads the edge checkpoint and the data, never the cloud model.
    """
    setup_logging()
    import torch

    from syndiag.data.fewshot import few_shot_task
    from syndiag.data.prepare import prepare
    from syndiag.models.edge import SynDiagEdge
    from syndiag.models.head_exchange import REGISTRY, HeadPackage, head_accuracy
    from syndiag.training.common import batches, image_batch
    from syndiag.training.online_update import update_windows

    try:
        cfg = load_run_config(config, data_root, sets)
        dataset = prepare(cfg.data)
        edge = SynDiagEdge.from_pretrained(Path(cfg.output_dir) / "edge")
        spec = edge.checkpoint_meta["task"]
        task = few_shot_task(dataset, spec["k"], spec["seed"], spec["source"], spec["target"])
        stream, _ = update_windows(dataset, task, cfg.update, task.seed)
        with torch.inference_mode():
            edge.eval()
            features = torch.cat([edge.features(image_batch(dataset, chunk)) for chunk in batches(stream, 64)])
        registry_file = Path(cfg.output_dir) / "heads" / REGISTRY
        known = json.loads(registry_file.read_text(encoding="utf-8")) if registry_file.is_file() else {"active": "v0000", "history": []}
        numbers = [int(e["version"][1:]) for e in known["history"] if e["version"][1:].isdigit()]
        metrics = {"edge_accuracy_on_own_windows": head_accuracy(edge.head.weight, edge.head.bias, features, dataset.labels[stream])}
        package = HeadPackage.from_head(edge.head, version=f"v{max(numbers, default=0) + 1:04d}", parent=parent or known["active"],
                                        class_names=edge.class_names, prompts=edge.prompts,
                                        backbones={"cloud": cfg.model.backbone, "edge": cfg.edge.backbone}, metrics=metrics)
        folder = package.save(output)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"head {package.meta['version']} (parent {package.meta['parent_version']}) written to {folder}")


@head_app.command("import")
def head_import(
    package_dir: Annotated[Path, typer.Argument(help="a head package folder")],
    config: RunConfigOpt,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Validate a head package on the cloud's held-out buffer and swap it in; a refused head changes nothing."""
    setup_logging()
    from syndiag.models.head_exchange import HeadPackage
    from syndiag.training.online_update import update_windows

    try:
        cfg = load_run_config(config, data_root, sets)
        package = HeadPackage.load(package_dir)
        dataset, cloud, _, task, registry = collaboration(cfg, with_edge=False)
        registry.register_initial(cloud.head, {"cloud": cfg.model.backbone}, {})
        _, validation = update_windows(dataset, task, cfg.update, task.seed)
        import torch

        from syndiag.training.common import batches, image_batch

        with torch.inference_mode():
            cloud.eval()
            features = torch.cat([cloud.features(image_batch(dataset, chunk)) for chunk in batches(validation, 64)])
        decision = registry.submit(package, cloud.head, features, dataset.labels[validation])
        if decision.accepted:
            save_cloud_head(cfg, cloud, registry)
    except SyndiagError as exc:
        fail(exc)
    if not decision.accepted:
        err.print(f"[bold red]refused[/] head {decision.version}: " + "; ".join(decision.reasons))
        raise typer.Exit(code=3)
    out.print(f"accepted head {decision.version}: validation accuracy {decision.accuracy_before:.4f} -> {decision.accuracy_after:.4f}")


@head_app.command("history")
def head_history(config: RunConfigOpt, sets: SetOpt = None) -> None:
    """Every head version the cloud has held, and which is active."""
    setup_logging()
    from syndiag.models.head_exchange import REGISTRY

    try:
        cfg = load_run_config(config, None, sets)
        path = Path(cfg.output_dir) / "heads" / REGISTRY
        if not path.is_file():
            raise SyndiagError(f"no head registry at {path}: run syndiag update or head import first")
        state = json.loads(path.read_text(encoding="utf-8"))
    except SyndiagError as exc:
        fail(exc)
    table = Table("version", "parent", "status", "validation before -> after", "utc", title=f"active: {state['active']}")
    for entry in state["history"]:
        before, after = entry.get("validation_before"), entry.get("validation_after")
        scores = f"{before:.4f} -> {after:.4f}" if before is not None else ""
        table.add_row(entry["version"], str(entry.get("parent_version")), entry["status"], scores, entry.get("utc", ""))
    out.print(table)


@head_app.command("rollback")
def head_rollback(version: Annotated[str, typer.Argument(help="an accepted version, e.g. v0000")], config: RunConfigOpt, data_root: DataRootOpt = None, sets: SetOpt = None) -> None:
    """Make an earlier head version the cloud's active head again."""
    setup_logging()
    try:
        cfg = load_run_config(config, data_root, sets)
        _, cloud, _, _, registry = collaboration(cfg, with_edge=False)
        registry.rollback(version, cloud.head)
        save_cloud_head(cfg, cloud, registry)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"active head is now {version}")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
