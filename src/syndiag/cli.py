"""The ``syndiag`` command line: every command takes a YAML config plus a few overrides."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from syndiag.data.config import DataConfig
from syndiag.errors import SyndiagError

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
    from syndiag.training.config import RunConfig

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
    out.print(f"fine-tuned on {task.name} ({len(task.train)} windows) in {result.seconds:.0f} s "
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
    checkpoint: Annotated[Path, typer.Option(help="fine-tuned checkpoint folder")] = Path("runs/cloud-cpu/finetuned"),
    fs: Annotated[Optional[float], typer.Option(help="sampling rate of FILE in Hz, if the file does not say")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 3,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Diagnose a recording: predicted fault, its description and the top-k class probabilities."""
    setup_logging()
    from syndiag.data.config import DataConfig
    from syndiag.models.cloud import SynDiagCloud
    from syndiag.serving.diagnosis import diagnose as run_diagnosis
    from syndiag.serving.diagnosis import read_signal, window_array

    try:
        model = SynDiagCloud.from_pretrained(checkpoint)
        data = DataConfig.from_dict(model.checkpoint_meta["data"], source=str(checkpoint))
        channels = model.checkpoint_meta["channels"]
        signal, _ = read_signal(file, channels, fs, model.checkpoint_meta["fs"])
        windows = window_array(signal, data.window, str(file))
        result = run_diagnosis(model, windows, data.spectrogram, model.class_names, model.prompts, str(file), top_k)
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


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
