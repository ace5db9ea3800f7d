"""``syndiag pretrain | finetune | evaluate | distill | update``: the cloud and edge stages; each calls one workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import (
    DeviceOpt,
    SeedOpt,
    ShotsOpt,
    DataRootOpt,
    RunConfigOpt,
    SetOpt,
    VerboseOpt,
    err,
    fail,
    load_run_config,
    out,
    setup_logging,
    step_bar,
    tracked,
)
from syndiag.errors import SyndiagError
from syndiag.evaluation.paper_results import paper_result


def pretrain(config: RunConfigOpt, data_root: DataRootOpt = None, sets: SetOpt = None, device: DeviceOpt = None, verbose: VerboseOpt = False) -> None:
    """Stage 1: align the visual extractor with the class texts on the multi-condition K-shot pool (writes a t-SNE PNG)."""
    setup_logging(verbose)
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.cloud import run_pretrain

    try:
        cfg = load_run_config(config, data_root, sets, device=device)
        with step_bar("pretrain") as bar:
            result = run_pretrain(cfg, progress=tracked(bar, "pretrain"))
    except SyndiagError as exc:
        fail(exc)
    out.print(
        f"pretrained on {result.pool_size} windows ({cfg.pretrain.shots} per class and condition) in {result.seconds:.0f} s; "
        f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}\n"
        f"test-feature silhouette (cosine) {result.silhouette_before:.3f} -> {result.silhouette_after:.3f}\n"
        f"checkpoint {escape(str(result.checkpoint))}\nt-SNE {escape(str(result.tsne_png))}"
    )


def finetune(
    config: RunConfigOpt,
    checkpoint: Annotated[Optional[Path], typer.Option(help="pretrained checkpoint (default: OUTPUT_DIR/pretrained; 'none' for no pretraining)")] = None,
    shots: ShotsOpt = None,
    seed: SeedOpt = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace OUTPUT_DIR/finetuned even when it was fine-tuned for another task")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Stage 2: few-shot fine-tuning with prompt fusion, deep prompts, LoRA and the fusion-token head."""
    setup_logging(verbose)
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.cloud import run_finetune

    try:
        cfg = load_run_config(config, data_root, sets, device=device)
        pretrained = not (checkpoint is not None and str(checkpoint) == "none")
        with step_bar("finetune") as bar:
            result = run_finetune(cfg, checkpoint if pretrained else None, pretrained=pretrained, shots=shots, seed=seed, overwrite=overwrite,
                                  progress=tracked(bar, "finetune"))
    except SyndiagError as exc:
        fail(exc)
    out.print(f"fine-tuned on {escape(result.task.name)} ({result.windows} windows) in {result.seconds:.0f} s "
              f"({result.seconds_per_step * 1e3:.0f} ms/step); loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}\n"
              f"checkpoint {escape(str(result.checkpoint))}")


def evaluate(
    config: RunConfigOpt,
    checkpoint: Annotated[Optional[Path], typer.Option(help="fine-tuned checkpoint (default: OUTPUT_DIR/finetuned)")] = None,
    target: Annotated[Optional[str], typer.Option(help="test condition (default: the one it was fine-tuned for)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the run record as JSON")] = False,
) -> None:
    """Accuracy, macro precision and F1, confusion matrix PNG, per-class report; appends one JSON line to results_file."""
    setup_logging()
    # defers matplotlib and sklearn: imported when the command runs
    from syndiag.evaluation.metrics import format_report
    from syndiag.workflows.cloud import run_evaluate

    try:
        cfg = load_run_config(config, data_root, sets, device=device)
        result = run_evaluate(cfg, checkpoint, target)
    except SyndiagError as exc:
        fail(exc)
    evaluation, task = result.evaluation, result.task
    if as_json:
        out.print_json(json.dumps(evaluation.record))
        return
    out.print(escape(format_report(evaluation.report)))
    table = Table("", "accuracy", "macro precision", "macro F1", title=escape(f"{task.name} ({len(task.test)} test windows)"))
    r = evaluation.report
    table.add_row("syndiag (this run)", f"{r.accuracy:.4f}", f"{r.macro_precision:.4f}", f"{r.macro_f1:.4f}")
    paper = evaluation.paper or paper_result("Syn-Diag-Cloud", task.target, task.k)
    if paper is not None:
        table.add_row(f"paper {paper.table} (LLaMA-3.1-8B, real CWRU)", f"{paper.accuracy:.4f}", f"{paper.precision:.4f}", f"{paper.f1:.4f}")
    out.print(table)
    if evaluation.paper is None and paper is not None:
        out.print(f"[yellow]note:[/] this run's data: {escape(result.data_source)}; the paper's row is on real CWRU")
    out.print(f"confusion matrix {escape(str(evaluation.confusion_png))}\nreport {escape(str(evaluation.report_txt))}\n"
              f"record appended to {escape(str(cfg.results_file))}")


def distill(
    config: RunConfigOpt,
    teacher: Annotated[Optional[Path], typer.Option(help="fine-tuned cloud checkpoint (default: OUTPUT_DIR/finetuned)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Stage 3: distil the edge student from the cloud teacher (MSE on the fused feature), then test both."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.cloud import run_distill

    try:
        cfg = load_run_config(config, data_root, sets, device=device)
        with step_bar("distill") as bar:
            result = run_distill(cfg, teacher, progress=tracked(bar, "distill"))
    except SyndiagError as exc:
        fail(exc)
    out.print(f"distilled on {result.windows} train-pool windows ({result.task.k}-shot set + unlabelled) in {result.seconds:.0f} s; "
              f"MSE {result.losses[0]:.4f} -> {result.losses[-1]:.4f}\ncheckpoint {escape(str(result.checkpoint))}")
    table = Table("", "accuracy", "macro F1", "seconds / test sample", title=escape(result.task.name))
    for name, ev in (("cloud (teacher)", result.cloud), ("edge (student)", result.edge)):
        table.add_row(name, f"{ev.report.accuracy:.4f}", f"{ev.report.macro_f1:.4f}", f"{ev.record['seconds_per_test_sample'] * 1e3:.1f} ms")
    out.print(table)


def update(
    config: RunConfigOpt,
    cycles: Annotated[Optional[int], typer.Option(help="update cycles (default: update.cycles)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Online updates: the edge fine-tunes the head on new samples, the cloud validates and swaps it in (curves PNG)."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import run_online_updates

    def say(c) -> None:
        err.print(f"cycle {c.cycle}: {'accepted' if c.accepted else 'refused'} {c.version}, teacher {c.teacher_accuracy:.4f}, "
                  f"student {c.student_accuracy:.4f}, grad diff {c.gradient_consistency:.4f}, cos {c.gradient_cosine:.3f}")

    try:
        cfg = load_run_config(config, data_root, sets, device=device)
        result = run_online_updates(cfg, cycles, on_cycle=say)
    except SyndiagError as exc:
        fail(exc)
    run, last = result.run, result.run.cycles[-1]
    accepted = sum(c.accepted for c in run.cycles)
    out.print(f"{len(run.cycles)} cycles, {accepted} heads accepted; teacher {run.initial_teacher_accuracy:.4f} -> {last.teacher_accuracy:.4f}, "
              f"student {run.initial_student_accuracy:.4f} -> {last.student_accuracy:.4f}; active head {result.active}\n"
              f"curves {escape(str(result.curves_png))}")
